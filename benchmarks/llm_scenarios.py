"""The chaos scenarios of issue 12, run by ``llm_failover.py`` in the same process and server: ours and the
naive chain side by side, and ours with learning on vs off on a replayed trace.

- hang60: the primary hangs 60 s after a healthy history; s/call over 6 calls, ours / naive.
- slow5: the primary answers in 5 s, healthily; ours must neither time out nor fail over.
- 503 with Retry-After 1: no request to the primary less than 1 s after a 503 told it to wait.
- flaky: every call's first attempt to the primary fails, the retry succeeds; share served by the primary.
- trace: healthy, a burst of transient 503s, a long outage of hangs, healthy again; ours adaptive vs ours
  with ``learn_from_history=False``: mean latency and wasted primary requests at equal success.
"""

from __future__ import annotations

import itertools
import statistics
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from reliability_assets.resources.llm import LLMEndpoint, ResilientLLM
from reliability_assets.testing.fake_openai import FakeOpenAI, Fault

PRIMARY, SECONDARY = "gpt-4o-mini", "gpt-4o"
MESSAGES = [{"role": "user", "content": "Summarize: revenue 10, churn 0.2"}]


class Answer(BaseModel):
    text: str


def _fresh(server: FakeOpenAI) -> None:
    server.reset()
    for model in (PRIMARY, SECONDARY):
        server.set_responder(model, lambda body: Answer(text="ok").model_dump_json())


def _llm(server: FakeOpenAI, store: Path, *, timeout_s: float = 10.0, **options: Any) -> ResilientLLM:
    common = {"base_url": server.base_url, "api_key": "sk-bench", "timeout_s": timeout_s}
    return ResilientLLM(
        endpoints=[
            LLMEndpoint(name="primary", model=PRIMARY, **common),  # type: ignore[arg-type]
            LLMEndpoint(name="secondary", model=SECONDARY, **common),  # type: ignore[arg-type]
        ],
        store_url=f"sqlite:///{store}",
        **{"deadline_s": 60.0, "minimum_number_of_calls": 3, "wait_duration_in_open_state_s": 600, **options},
    )


def _ask(llm: ResilientLLM) -> Any:
    return llm.generate(MESSAGES, schema=Answer, source="bench", use_cache=False)


def _warm(llm: ResilientLLM, calls: int = 6) -> None:
    """A healthy history: the primary answers in milliseconds."""
    for _ in range(calls):
        _ask(llm)


def hang60(server: FakeOpenAI, store: Path, naive_call: Any) -> dict[str, float]:
    _fresh(server)
    server.set_default(PRIMARY, Fault.hang(60))
    naive = naive_call(server.base_url)  # one call: ~31 s with timeout=10 and the SDK's 2 retries
    _fresh(server)
    llm = _llm(server, store)
    _warm(llm)
    server.set_default(PRIMARY, Fault.hang(60))
    seconds = []
    for _ in range(6):
        started = time.monotonic()
        assert _ask(llm).tier == "secondary"
        seconds.append(time.monotonic() - started)
    ours = statistics.mean(seconds)
    return {"naive_s": naive, "ours_s": ours, "ratio": ours / naive}


def slow5(server: FakeOpenAI, store: Path, calls: int = 4) -> dict[str, float]:
    _fresh(server)
    server.set_default(PRIMARY, Fault.hang(5))
    llm = _llm(server, store)
    results = [_ask(llm) for _ in range(calls)]
    failovers = sum(r.tier != "primary" for r in results)
    timeouts = sum(a["outcome"] != "ok" for r in results for a in r.attempts)
    return {
        "failovers": failovers,
        "timeouts": timeouts,
        "ours_s": statistics.mean(r.latency_s for r in results),
    }


def retry_after_503(server: FakeOpenAI, store: Path, naive_call: Any, calls: int = 3) -> dict[str, float]:
    def early() -> int:
        arrivals = [r.received_at for r in server.requests_for(PRIMARY)]
        return sum(1 for a, b in itertools.pairwise(arrivals) if b - a < 1.0)

    fault = Fault.status(503, headers={"retry-after": "1"})
    _fresh(server)
    server.set_default(PRIMARY, fault)
    naive_s = statistics.mean(naive_call(server.base_url) for _ in range(calls))
    naive_early = early()
    _fresh(server)
    server.set_default(PRIMARY, fault)
    llm = _llm(server, store)
    started = time.monotonic()
    for _ in range(calls):
        _ask(llm)
    return {
        "naive_s": naive_s,
        "naive_early": naive_early,
        "ours_s": (time.monotonic() - started) / calls,
        "ours_early": early(),
    }


def flaky(server: FakeOpenAI, store: Path, calls: int = 10) -> dict[str, float]:
    _fresh(server)
    llm = _llm(server, store, minimum_number_of_calls=2)
    served = 0
    for _ in range(calls):
        server.script(PRIMARY, Fault.status(500), Fault.ok())
        served += _ask(llm).tier == "primary"
    return {"primary_share": served / calls}


#: (phase, calls): what the primary does for each call of the replayed trace.
TRACE = [("healthy", 8), ("burst", 6), ("outage", 12), ("healthy", 8)]


def trace(server: FakeOpenAI, store: Path, *, learn: bool) -> dict[str, float]:
    _fresh(server)
    llm = _llm(
        server,
        store,
        timeout_s=5.0,
        learn_from_history=learn,
        minimum_number_of_calls=4,
        wait_duration_in_open_state_s=3,
    )
    latencies, served, wasted = [], 0, 0
    for phase, calls in TRACE:
        server.set_default(PRIMARY, Fault.hang(60) if phase == "outage" else None)
        for _ in range(calls):
            server.clear_script(PRIMARY)
            if phase == "burst":
                server.script(PRIMARY, Fault.status(503), Fault.status(503))
            before = len(server.requests_for(PRIMARY))
            result = _ask(llm)
            latencies.append(result.latency_s)
            served += result.output is not None
            sent = len(server.requests_for(PRIMARY)) - before
            wasted += sent - (result.tier == "primary")
    return {"mean_s": statistics.mean(latencies), "wasted": wasted, "served": served, "calls": len(latencies)}
