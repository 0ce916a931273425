"""Batch enrichment under a provider quota: a naive ThreadPoolExecutor over the openai SDK against
``ResilientLLM.generate_many``, in the same run, on a local fault-injecting OpenAI-compatible server.

    .venv/bin/python benchmarks/llm_batch.py           # 2,000 items at 600 RPM: about 12 minutes
    .venv/bin/python benchmarks/llm_batch.py --quick   # 360 items, a 30-s window of 300: about 3 minutes

The server (``FakeOpenAI`` in this process) enforces 600 requests per sliding 60 s with 429 + Retry-After,
answers in 50-150 ms and injects faults: 2% HTTP 500, 0.5% dropped connections, 0.5% hangs of 12 s (past
the 10-s per-attempt timeout both clients use). The fault sequence is seeded and the same for each phase.

- naive: ``ThreadPoolExecutor(16)`` over ``openai.OpenAI(...).chat.completions.parse`` with the SDK's
  defaults (2 retries, Retry-After honoured), bounded to 3x the quota's minimum time.
- ours, killed and resumed: ``generate_many`` in a worker process (``--worker``), SIGKILLed once half the
  items have been answered, then a second worker with the same checkpoint finishes.
- ours, 4 processes: 4 workers on one store and one quota, a quarter of the items each.

Measures, all from what the server saw (nothing is taken on the client's word):
- quota_share: requests the server admitted (any answer but a 429) per second of sending, over the quota
  per second: sum over passes of (admitted - 1) / sum of (last - first request time); the kill gap and
  process start-up are not sending. A sliding window admits a whole window's worth at once, so a client
  that bursts (the naive one) can show more than 1.0 over a short run; a paced one cannot.
  peak_share: the most requests (429s included) in any sliding quota window, over the quota (<= 1.0).
- early retries: requests that arrived after a 429 and before its Retry-After had passed.
- resent_after_kill: requests of the second worker for an item the first one had served: resumed by the
  second worker, or answered by the server more than ``GRACE_S`` before the kill (time to record it).
- lost_items: items neither served nor a dead letter (deferred) at the end.
- cost: what the provider bills: the tokens of every completion the server generated (also one whose
  client had timed out or died), at gpt-4o-mini list prices. cost_ratio_vs_naive = ours (both workers)
  / naive scaled to all items served (naive cost x items / naive served).
Items are told apart by the ``[item-NNNNN]`` in their prompt. The last line is machine-readable: quota_share
naive_429s ours_429s (both phases of ours) resent_after_kill lost_items (both phases) cost_ratio_vs_naive,
then early_retries (ours) and the rest of the table's numbers. Targets: quota_share >= 0.9, early_retries 0,
resent_after_kill 0, lost_items 0, shared_peak_share <= 1.0.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pydantic import BaseModel  # noqa: E402

from reliability_assets.testing.fake_openai import FakeOpenAI, Fault  # noqa: E402

QUOTA_RPM, CONCURRENCY, NAIVE_THREADS, TIMEOUT_S, PROCESSES, GRACE_S = 600, 8, 16, 10.0, 4, 1.0
PRICE_IN_PER_1K, PRICE_OUT_PER_1K = 0.00015, 0.0006  # gpt-4o-mini list prices, USD
TOPICS = ("billing", "delivery", "product_quality", "support", "pricing")
TEXTS = (
    "The invoice charged me twice this month and nobody answered my email.",
    "Parcel arrived four days late and the box was crushed.",
    "The blender stopped working after a week, very disappointed.",
    "Support solved my login problem in five minutes, great service.",
    "Prices went up again, I am looking at other providers.",
)
ITEM = re.compile(r"\[item-(\d+)\]")


class TopicLabel(BaseModel):
    topic: Literal["billing", "delivery", "product_quality", "support", "pricing"]
    sentiment: Literal["negative", "neutral", "positive"]
    confidence: float


def messages(item: int) -> list[dict[str, str]]:
    text = TEXTS[item % len(TEXTS)]
    return [
        {
            "role": "system",
            "content": "Label the topic and sentiment of the customer feedback. Reply in JSON.",
        },
        {"role": "user", "content": f"Feedback [item-{item:05d}]: {text}"},
    ]


def item_of(body: dict[str, Any]) -> int | None:
    for message in body.get("messages") or []:
        if match := ITEM.search(str(message.get("content", ""))):
            return int(match.group(1))
    return None


def fault_script(count: int, seed: int = 16) -> list[Fault]:
    """What the admitted requests get, in order: latency, and the injected faults."""
    rng = random.Random(seed)
    script = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.02:
            script.append(Fault.status(500))
        elif roll < 0.025:
            script.append(Fault.drop_connection())
        elif roll < 0.03:
            script.append(Fault.hang(12.0))
        else:
            script.append(Fault.hang(rng.uniform(0.05, 0.15)))
    return script


@dataclass
class Provider:
    """The fault-injecting server and its bill: every completion generated, per model."""

    server: FakeOpenAI
    window_s: float
    billed: list[tuple[str, int | None, float, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def per_window(self) -> int:
        return round(QUOTA_RPM * self.window_s / 60)

    def answer(self, body: dict[str, Any]) -> str:
        item = item_of(body) or 0
        sentiment = ("negative", "negative", "negative", "positive", "negative")[item % 5]
        label = TopicLabel.model_validate(
            {"topic": TOPICS[item % 5], "sentiment": sentiment, "confidence": 0.9}
        )
        content = label.model_dump_json()
        prompt, completion = len(json.dumps(body.get("messages", []))) // 4, len(content) // 4
        cost = (prompt * PRICE_IN_PER_1K + completion * PRICE_OUT_PER_1K) / 1000
        with self.lock:
            self.billed.append((str(body.get("model")), item, time.monotonic(), cost))
        return content

    def phase(self, model: str, items: int) -> None:
        self.server.rate_limit_rpm(model, self.per_window, window_s=self.window_s)
        self.server.set_responder(model, self.answer)
        self.server.script(model, *fault_script(items * 2))
        self.server.set_default(model, Fault.hang(0.1))

    def bill(self, model: str) -> list[tuple[int | None, float, float]]:
        with self.lock:
            return [(item, at, cost) for m, item, at, cost in self.billed if m == model]


@dataclass
class Seen:
    """One phase as the server saw it."""

    arrivals: list[float]
    items: list[int | None]
    rejected: list[tuple[float, float]]  # (time, retry-after s) of each 429
    cost: float

    @classmethod
    def of(cls, provider: Provider, model: str, since: float = 0.0, until: float = float("inf")) -> Seen:
        recorded = [r for r in provider.server.requests_for(model) if since <= r.received_at < until]
        rejected = [
            (at, wait) for m, at, wait in provider.server.rate_limited if m == model and since <= at < until
        ]
        cost = sum(c for _, at, c in provider.bill(model) if since <= at < until)
        return cls([r.received_at for r in recorded], [item_of(r.body) for r in recorded], rejected, cost)

    @property
    def admitted(self) -> int:
        return len(self.arrivals) - len(self.rejected)

    @property
    def span_s(self) -> float:
        return max(self.arrivals) - min(self.arrivals) if len(self.arrivals) > 1 else 0.0

    def early(self) -> int:
        return sum(1 for t in self.arrivals if any(at < t < at + wait for at, wait in self.rejected))

    def peak(self, window_s: float) -> int:
        times, best, start = sorted(self.arrivals), 0, 0
        for end, t in enumerate(times):
            while times[start] <= t - window_s:
                start += 1
            best = max(best, end - start + 1)
        return best


def share(passes: list[Seen]) -> float:
    """Admitted requests per second of sending (intervals, not arrivals), over the quota per second."""
    span = sum(p.span_s for p in passes)
    return sum(p.admitted - 1 for p in passes) / span / (QUOTA_RPM / 60) if span else float("nan")


# --- naive ------------------------------------------------------------------------------------------


def naive(provider: Provider, items: int, model: str) -> dict[str, Any]:
    import openai

    client = openai.OpenAI(base_url=provider.server.base_url, api_key="sk-bench", timeout=TIMEOUT_S)
    stop = time.monotonic() + 3 * items / (QUOTA_RPM / 60)

    def one(item: int) -> str:
        if time.monotonic() > stop:
            return "not attempted (time bound)"
        try:
            client.chat.completions.parse(
                model=model,
                messages=messages(item),  # type: ignore[arg-type]
                response_format=TopicLabel,
                max_tokens=800,
            )
        except Exception as error:
            return type(error).__name__
        return "ok"

    started = time.monotonic()
    with ThreadPoolExecutor(NAIVE_THREADS) as pool:
        outcomes = list(pool.map(one, range(items)))
    seen = Seen.of(provider, model)
    served = outcomes.count("ok")
    errors = {o: outcomes.count(o) for o in set(outcomes) - {"ok"}}
    return {
        "wall_s": time.monotonic() - started,
        "served": served,
        "lost": items - served,
        "errors": errors,
        "seen": seen,
        "share": share([seen]),
        "deferred": {},
    }


# --- ours -------------------------------------------------------------------------------------------


def worker(args: argparse.Namespace) -> None:
    """One process of ours: generate_many over items [first, first + count), its summary to --out."""
    from reliability_assets.resources.llm import LLMEndpoint, ResilientLLM

    endpoint = LLMEndpoint(
        name="primary",
        model=args.model,
        base_url=args.base_url,
        api_key="sk-bench",
        timeout_s=TIMEOUT_S,
        requests_per_minute=QUOTA_RPM,
        input_price_per_1k=PRICE_IN_PER_1K,
        output_price_per_1k=PRICE_OUT_PER_1K,
    )
    llm = ResilientLLM(endpoints=[endpoint], store_url=args.store)
    items = {f"item-{i:05d}": messages(i) for i in range(args.first, args.first + args.count)}
    batch = llm.generate_many(
        items,
        schema=TopicLabel,
        source="llm_batch_bench",
        checkpoint=args.checkpoint,
        concurrency=CONCURRENCY,
    )
    summary = {
        "served": sorted(batch.outputs),
        "deferred": batch.deferred,
        "resumed_items": sorted(k for k, r in batch.results.items() if r.resumed),
        "resumed": batch.resumed,
        "sent": batch.sent,
        "cost_usd": batch.cost_usd,
        "per_tier": batch.per_tier,
    }
    Path(args.out).write_text(json.dumps(summary))


def spawn(
    tmp: Path, name: str, model: str, base_url: str, store: str, checkpoint: str, first: int, count: int
) -> tuple[subprocess.Popen[bytes], Path]:
    out = tmp / f"{name}.json"
    command = [
        sys.executable,
        __file__,
        "--worker",
        "--base-url",
        base_url,
        "--model",
        model,
        "--store",
        store,
        "--checkpoint",
        checkpoint,
        "--first",
        str(first),
        "--count",
        str(count),
        "--out",
        str(out),
    ]
    log = (tmp / f"{name}.log").open("wb")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO), out


def finished(process: subprocess.Popen[bytes], out: Path, tmp: Path, name: str) -> dict[str, Any]:
    if process.wait() != 0 or not out.exists():
        tail = (tmp / f"{name}.log").read_text(errors="replace")[-3000:]
        raise SystemExit(f"worker {name} failed (exit {process.returncode}):\n{tail}")
    return json.loads(out.read_text())


def dead_letters(store: str) -> int:
    from reliability_assets.resources.store import ReliabilityStore

    rows = ReliabilityStore(store).dead_letters(status="open", limit=100_000)
    return sum(1 for r in rows if r["source"] == "llm_batch_bench")


def outcome(
    summaries: list[dict[str, Any]], items: int, store: str, seen: Seen, started: float
) -> dict[str, Any]:
    """What a phase of ours ended with, in the naive phase's shape."""
    deferred = {k: v for s in summaries for k, v in s["deferred"].items()}
    served = {k for s in summaries for k in s["served"]}
    return {
        "served": len(served),
        "deferred": deferred,
        "lost": items - len(served | set(deferred)),
        "seen": seen,
        "dead_letters": dead_letters(store),
        "wall_s": time.monotonic() - started,
    }


def killed_and_resumed(provider: Provider, items: int, model: str, tmp: Path) -> dict[str, Any]:
    store, url = f"sqlite:///{tmp / 'ours.sqlite'}", provider.server.base_url
    started = time.monotonic()
    first, _ = spawn(tmp, "run1", model, url, store, "bench", 0, items)
    while first.poll() is None and len(provider.bill(model)) < items // 2:
        time.sleep(0.02)
    killed_at = time.monotonic()
    if first.poll() is not None:
        raise SystemExit("the first worker ended before half the items were answered: nothing was killed")
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    second, out = spawn(tmp, "run2", model, url, store, "bench", 0, items)
    summary = finished(second, out, tmp, "run2")
    run1, run2 = Seen.of(provider, model, until=killed_at), Seen.of(provider, model, since=killed_at)
    answered = {item for item, at, _ in provider.bill(model) if at <= killed_at - GRACE_S}
    served_before = answered | {int(k.split("-")[1]) for k in summary["resumed_items"]}
    result = outcome([summary], items, store, Seen.of(provider, model), started)
    return {
        **result,
        "share": share([run1, run2]),
        "run1": run1,
        "run2": run2,
        "summary": summary,
        "resent": sum(1 for item in run2.items if item in served_before),
        "answered": len(answered),
    }


def shared_quota(provider: Provider, items: int, model: str, tmp: Path) -> dict[str, Any]:
    store, url, each = f"sqlite:///{tmp / 'shared.sqlite'}", provider.server.base_url, items // PROCESSES
    started = time.monotonic()
    workers = [
        spawn(tmp, f"shared{k}", model, url, store, f"shared:{k}", k * each, each) for k in range(PROCESSES)
    ]
    summaries = [finished(p, out, tmp, f"shared{k}") for k, (p, out) in enumerate(workers)]
    seen = Seen.of(provider, model)
    return {**outcome(summaries, each * PROCESSES, store, seen, started), "share": share([seen])}


# --- report -----------------------------------------------------------------------------------------


def quiet(server: FakeOpenAI) -> None:
    """A client hanging up (its timeout, the SIGKILL) makes the stdlib server print a traceback: expected
    here, so only other errors are printed."""
    httpd = server._httpd
    assert httpd is not None
    default = httpd.handle_error

    def handle_error(request: Any, address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            default(request, address)

    httpd.handle_error = handle_error  # type: ignore[method-assign,assignment]


def why(deferred: dict[str, str]) -> str:
    """The reasons items were deferred, numbers blanked so alike reasons count together."""
    reasons = Counter(re.sub(r"\d+(\.\d+)?", "#", reason)[:90] for reason in deferred.values())
    return "; ".join(f"{n} x {reason}" for reason, n in reasons.most_common(3)) or "none"


def main(quick: bool) -> None:
    items, window_s = (360, 30.0) if quick else (2000, 60.0)
    models = {phase: f"gpt-4o-mini-{phase}" for phase in ("naive", "ours", "shared")}
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI() as server:
        quiet(server)
        provider = Provider(server, window_s)
        for model in models.values():
            provider.phase(model, items)
        phases = [
            naive(provider, items, models["naive"]),
            killed_and_resumed(provider, items, models["ours"], Path(tmp)),
            shared_quota(provider, items, models["shared"], Path(tmp)),
        ]
    n, o, s = phases
    per, seen = provider.per_window, [p["seen"] for p in phases]
    print(
        f"{items} items, quota {QUOTA_RPM} RPM ({per} per sliding {window_s:.0f} s); faults: 2% 500, 0.5% "
        "dropped connections, 0.5% 12-s hangs; latency 50-150 ms\n"
    )
    print(
        f"| measure | naive ({NAIVE_THREADS} threads, SDK retries) | ours (killed at half, resumed) "
        f"| ours ({PROCESSES} processes, one quota) |\n| --- | ---: | ---: | ---: |"
    )
    rows = {
        "items served": [p["served"] for p in phases],
        "dead letters (deferred)": [len(p["deferred"]) for p in phases],
        "items lost (neither served nor a dead letter)": [p["lost"] for p in phases],
        "requests sent": [len(x.arrivals) for x in seen],
        "429s": [len(x.rejected) for x in seen],
        "requests before a Retry-After passed": [x.early() for x in seen],
        "quota share (admitted / quota, while sending)": [f"{p['share']:.3f}" for p in phases],
        f"peak share (most requests in a {window_s:.0f}-s window / {per})": [
            f"{x.peak(window_s) / per:.3f}" for x in seen
        ],
        "wall time s": [f"{p['wall_s']:.0f}" for p in phases],
        "billed USD (every completion generated)": [f"{x.cost:.5f}" for x in seen],
    }
    for name, cells in rows.items():
        print(f"| {name} | " + " | ".join(map(str, cells)) + " |")
    r1, r2, summary = o["run1"], o["run2"], o["summary"]
    print(
        f"\nkill and resume: run 1 sent {len(r1.arrivals)} requests and the server had answered "
        f"{o['answered']} items more than {GRACE_S:.0f} s before the SIGKILL; run 2 resumed "
        f"{summary['resumed']} from the checkpoint and sent {summary['sent']} items "
        f"({len(r2.arrivals)} requests), {o['resent']} of them for an item run 1 had served."
    )
    print(f"open dead letters in the stores: {o['dead_letters']} and {s['dead_letters']}")
    print(f"naive failures: {n['errors'] or 'none'}")
    print(f"deferred (ours, killed + resumed): {why(o['deferred'])}")
    print(f"deferred (ours, {PROCESSES} processes): {why(s['deferred'])}")
    naive_cost = seen[0].cost * items / max(1, n["served"])  # as if it had served every item
    print(
        f"quota_share={o['share']:.3f} naive_429s={len(seen[0].rejected)} "
        f"ours_429s={len(seen[1].rejected) + len(seen[2].rejected)} resent_after_kill={o['resent']} "
        f"lost_items={o['lost'] + s['lost']} cost_ratio_vs_naive={seen[1].cost / naive_cost:.3f} "
        f"early_retries={seen[1].early() + seen[2].early()} naive_early_retries={seen[0].early()} "
        f"naive_lost={n['lost']} deferred={len(o['deferred']) + len(s['deferred'])} "
        f"ours_peak_share={seen[1].peak(window_s) / per:.3f} "
        f"shared_peak_share={seen[2].peak(window_s) / per:.3f} "
        f"shared_quota_share={s['share']:.3f} naive_quota_share={n['share']:.3f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="360 items, a 30-s quota window: a smoke run")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for option in ("--base-url", "--model", "--store", "--checkpoint", "--out"):
        parser.add_argument(option, help=argparse.SUPPRESS)
    for option in ("--first", "--count"):
        parser.add_argument(option, type=int, default=0, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        worker(arguments)
    else:
        main(arguments.quick)
