"""Failover cost: the naive chain against ResilientLLM, in the same run, on a local OpenAI-compatible server.

The naive chain is what users write today: the openai SDK with its defaults (2 retries with backoff),
wrapped in try/except that falls back to a second model (LangChain's ``with_fallbacks`` has this shape).

    .venv/bin/python benchmarks/llm_failover.py     # about 2 minutes; or: make bench

Scenarios: the primary answers 503 to everything; the primary hangs (per-attempt timeout 10 s for both);
a 60-RPM quota (scaled: 10 requests per 10 s window) shared by 4 concurrent callers. "After open" is the
steady state once the breaker has opened. The last line is machine-readable:
naive_503_s ours_503_s naive_hang_s ours_hang_s (ours: per call after the breaker opened),
primary_requests_per_call (ours, after open), quota_share (achieved / quota), early_retries.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import llm_scenarios as scenarios  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from reliability_assets.resources.llm import LLMEndpoint, ResilientLLM  # noqa: E402
from reliability_assets.testing.fake_openai import FakeOpenAI, Fault  # noqa: E402

PRIMARY, SECONDARY = "gpt-4o-mini", "gpt-4o"
MESSAGES = [{"role": "user", "content": "Summarize: revenue 10, churn 0.2"}]
CALLS_503, CALLS_HANG, NAIVE_HANG_CALLS = 30, 12, 1
TIMEOUT_S = 10.0
QUOTA_WINDOW_S, QUOTA_PER_WINDOW, QUOTA_RUN_S, CALLERS = 10.0, 10, 30.0, 4


class Answer(BaseModel):
    text: str


def naive_call(base_url: str) -> float:
    import openai

    started = time.monotonic()
    client = openai.OpenAI(base_url=base_url, api_key="sk-bench", timeout=TIMEOUT_S)  # SDK defaults otherwise
    try:
        client.chat.completions.create(model=PRIMARY, messages=MESSAGES)  # type: ignore[arg-type]
    except Exception:
        client.chat.completions.create(model=SECONDARY, messages=MESSAGES)  # type: ignore[arg-type]
    return time.monotonic() - started


def ours(base_url: str, store: Path, **options: object) -> ResilientLLM:
    endpoint = {"base_url": base_url, "api_key": "sk-bench", "timeout_s": TIMEOUT_S}
    return ResilientLLM(
        endpoints=[
            LLMEndpoint(name="primary", model=PRIMARY, **endpoint, **options),  # type: ignore[arg-type]
            LLMEndpoint(name="secondary", model=SECONDARY, **endpoint),  # type: ignore[arg-type]
        ],
        store_url=f"sqlite:///{store}",
        deadline_s=30,
        minimum_number_of_calls=3,
        wait_duration_in_open_state_s=600,
    )


def run_ours(server: FakeOpenAI, llm: ResilientLLM, calls: int) -> tuple[list[float], list[int], int]:
    """Per-call seconds and primary requests, and the index of the first call after the breaker opened."""
    seconds, primary, opened_at = [], [], calls
    for i in range(calls):
        before, started = len(server.requests_for(PRIMARY)), time.monotonic()
        result = llm.generate(MESSAGES, schema=Answer, source="bench")
        seconds.append(time.monotonic() - started)
        primary.append(len(server.requests_for(PRIMARY)) - before)
        assert result.tier == "secondary", result.reason
        if opened_at == calls and any(e.get("transition") == "closed->open" for e in result.events):
            opened_at = i + 1
    return seconds, primary, opened_at


def failover(server: FakeOpenAI, fault: Fault, calls: int, naive_calls: int, store: Path) -> dict[str, float]:
    server.reset()
    for model in (PRIMARY, SECONDARY):
        server.set_responder(model, lambda body: Answer(text="ok").model_dump_json())
    server.set_default(PRIMARY, fault)
    naive = [naive_call(server.base_url) for _ in range(naive_calls)]
    naive_primary = len(server.requests_for(PRIMARY)) / naive_calls
    server.reset()
    for model in (PRIMARY, SECONDARY):
        server.set_responder(model, lambda body: Answer(text="ok").model_dump_json())
    server.set_default(PRIMARY, fault)
    seconds, primary, opened = run_ours(server, ours(server.base_url, store), calls)
    after = seconds[opened:] or [float("nan")]
    return {
        "naive_s": statistics.mean(naive),
        "naive_primary": naive_primary,
        "ours_all_s": statistics.mean(seconds),
        "ours_after_s": statistics.mean(after),
        "ours_primary_all": sum(primary) / calls,
        "ours_primary_after": sum(primary[opened:]) / max(1, calls - opened),
        "opened_after_calls": opened,
    }


def quota(server: FakeOpenAI, store: Path, *, believed: float = 1.0) -> tuple[float, int, int, int]:
    """Concurrent callers under a scaled 60-RPM quota: achieved share, early retries, 429s, successes.
    ``believed`` scales the quota the client is configured with (2.0: it thinks it may send twice as much,
    so the server answers 429s and every Retry-After must be honoured by every caller)."""
    server.reset()
    server.set_responder(PRIMARY, lambda body: Answer(text="ok").model_dump_json())
    server.rate_limit_rpm(PRIMARY, QUOTA_PER_WINDOW, window_s=QUOTA_WINDOW_S)
    rpm = QUOTA_PER_WINDOW * 60 / QUOTA_WINDOW_S
    endpoint = LLMEndpoint(
        name="primary",
        model=PRIMARY,
        base_url=server.base_url,
        api_key="k",
        requests_per_minute=int(rpm * believed),
        max_attempts=5,
    )
    llm = ResilientLLM(endpoints=[endpoint], store_url=f"sqlite:///{store}", deadline_s=60)
    served = [0]
    lock = threading.Lock()
    stop = time.monotonic() + QUOTA_RUN_S

    def caller() -> None:
        while time.monotonic() < stop:
            result = llm.generate(MESSAGES, schema=Answer, source="bench", use_cache=False)
            if result.tier == "primary":
                with lock:
                    served[0] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    rejections = server.rate_limited
    arrivals = [r.received_at for r in server.requests_for(PRIMARY)]
    early = sum(1 for _, at, wait in rejections for t in arrivals if at < t < at + wait)
    achieved = served[0] / (rpm / 60 * elapsed)
    return achieved, early, len(rejections), served[0]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI() as server:
        down = failover(server, Fault.status(503), CALLS_503, CALLS_503 // 3, Path(tmp) / "a.sqlite")
        hang = failover(server, Fault.hang(120), CALLS_HANG, NAIVE_HANG_CALLS, Path(tmp) / "b.sqlite")
        share, early, rejected, served = quota(server, Path(tmp) / "c.sqlite")
        share_x2, early_x2, rejected_x2, served_x2 = quota(server, Path(tmp) / "d.sqlite", believed=2.0)
        chaos = {
            "hang60": scenarios.hang60(server, Path(tmp) / "e.sqlite", naive_call),
            "slow5": scenarios.slow5(server, Path(tmp) / "f.sqlite"),
            "ra503": scenarios.retry_after_503(server, Path(tmp) / "g.sqlite", naive_call),
            "flaky": scenarios.flaky(server, Path(tmp) / "h.sqlite"),
            "adaptive": scenarios.trace(server, Path(tmp) / "i.sqlite", learn=True),
            "fixed": scenarios.trace(server, Path(tmp) / "j.sqlite", learn=False),
        }

    print(
        "| scenario | naive s/call | ours s/call (all) | ours s/call (after open) | naive primary req/call "
        "| ours primary req/call (after open) | breaker opened after |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in (("primary 503", down), ("primary hangs", hang)):
        print(
            f"| {name} | {r['naive_s']:.2f} | {r['ours_all_s']:.3f} | {r['ours_after_s']:.4f} | "
            f"{r['naive_primary']:.1f} | {r['ours_primary_after']:.2f} | {r['opened_after_calls']} calls |"
        )
    print(
        f"\n60-RPM quota, {CALLERS} concurrent callers, {QUOTA_RUN_S:.0f} s: {served} served, "
        f"{share:.2f} of the quota, {rejected} x 429, {early} requests before a Retry-After had passed"
    )
    print(
        f"same, client configured for twice the quota: {served_x2} served, {share_x2:.2f} of the quota, "
        f"{rejected_x2} x 429, {early_x2} requests before a Retry-After had passed"
    )
    print(
        f"ratios: 503 {down['naive_s'] / down['ours_after_s']:.0f}x faster after open; "
        f"hang {hang['naive_s'] / hang['ours_all_s']:.1f}x faster over {CALLS_HANG} calls"
    )
    h, slow, ra, fl, ad, fx = (chaos[k] for k in ("hang60", "slow5", "ra503", "flaky", "adaptive", "fixed"))
    latency_ratio = ad["mean_s"] / fx["mean_s"]
    wasted_ratio = ad["wasted"] / max(1, fx["wasted"])
    print("\n| chaos scenario | naive | ours | measure |")
    print("| --- | ---: | ---: | --- |")
    print(
        f"| primary hangs 60 s (6 calls) | {h['naive_s']:.2f} | {h['ours_s']:.2f} | "
        f"s/call ({h['ratio']:.2f}x) |"
    )
    print(
        f"| primary slow, healthy (5 s) | - | {slow['failovers']:.0f} / {slow['timeouts']:.0f} | "
        "failovers / timeouts |"
    )
    print(
        f"| 503 with Retry-After 1 | {ra['naive_early']:.0f} | {ra['ours_early']:.0f} | "
        "requests < 1 s after a 503 |"
    )
    print(
        f"| flaky primary (1st attempt fails) | - | {fl['primary_share']:.2f} | share served by the primary |"
    )
    print(
        f"| trace: learning on vs off | {fx['mean_s']:.2f} s, {fx['wasted']:.0f} wasted | "
        f"{ad['mean_s']:.2f} s, {ad['wasted']:.0f} wasted | mean latency, wasted primary requests; served "
        f"{ad['served']:.0f}/{ad['calls']:.0f} vs {fx['served']:.0f}/{fx['calls']:.0f} |"
    )
    print(
        f"naive_503_s={down['naive_s']:.3f} ours_503_s={down['ours_after_s']:.4f} "
        f"naive_hang_s={hang['naive_s']:.3f} ours_hang_s={hang['ours_after_s']:.4f} "
        f"primary_requests_per_call={down['ours_primary_after']:.2f} "
        f"quota_share={share:.3f} early_retries={early + early_x2} "
        f"hang60_ratio={h['ratio']:.3f} slow_failovers={slow['failovers']:.0f} "
        f"flaky_primary_share={fl['primary_share']:.2f} adaptive_latency_ratio={latency_ratio:.3f} "
        f"adaptive_wasted_ratio={wasted_ratio:.3f}"
    )


if __name__ == "__main__":
    main()
