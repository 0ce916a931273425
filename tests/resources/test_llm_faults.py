"""The chaos server's findings, each over real HTTP through the openai SDK (issue 12): Retry-After on 5xx,
Retry-After <= 0, trims that change nothing, a flaky primary, a rate-limited probe, a killed probe's lease,
learned timeouts and retry choices, honest dead-letter reasons, replay of in-flight entries."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from reliability_assets.resources.llm import LLMEndpoint, ResilientLLM
from reliability_assets.resources.resilience import CircuitBreaker
from reliability_assets.resources.resilience.breaker import BreakerConfig
from reliability_assets.resources.store import ReliabilityStore
from reliability_assets.testing.fake_openai import Fault
from tests.resources.llm_support import MESSAGES, PRIMARY, SECONDARY, Brief, ask, make_llm


def gaps(requests) -> list[float]:
    return [b.received_at - a.received_at for a, b in itertools.pairwise(requests)]


@pytest.mark.parametrize("status", [503, 502, 504])
def test_retry_after_on_a_5xx_is_waited_exactly(server, tmp_path, status) -> None:
    server.script(PRIMARY, Fault.status(status, headers={"retry-after": "1"}), Fault.ok())
    result = ask(make_llm(server, tmp_path))
    first, second = server.requests_for(PRIMARY)
    assert second.received_at - first.received_at >= 1.0  # not the 0.05 s backoff
    assert result.tier == "primary" and result.attempts[1]["waited_s"] >= 1.0


@pytest.mark.parametrize("header", [{"retry-after": "0"}, {"retry-after-ms": "-5"}])
def test_a_retry_after_of_zero_or_less_means_backoff_not_an_immediate_retry(server, tmp_path, header) -> None:
    server.script(PRIMARY, *[Fault.rate_limit(headers=header)] * 2, Fault.ok())
    llm = make_llm(server, tmp_path, backoff_initial_s=0.3, backoff_max_s=1.0)
    assert ask(llm).tier == "primary"
    assert min(gaps(server.requests_for(PRIMARY))) >= 0.25


def test_a_trim_that_changes_nothing_is_never_sent_again(server, tmp_path) -> None:
    server.script(PRIMARY, Fault.context_length())  # the prompt is tiny: trimming cannot shorten it
    common = {"base_url": server.base_url, "api_key": "sk-test-secret", "context_window": 8_000}
    endpoints = [  # no larger window to escalate to: the trim branch
        LLMEndpoint(name="primary", model=PRIMARY, **common),
        LLMEndpoint(name="secondary", model=SECONDARY, **common),
    ]
    result = ask(make_llm(server, tmp_path, endpoints=endpoints))
    assert len(server.requests_for(PRIMARY)) == 1  # the identical request is not resent
    assert result.tier == "secondary"
    trim = [e for e in result.events if e["event"] == "trim"]
    assert trim and trim[0]["changed"] is False


def test_a_flaky_primary_that_serves_every_call_after_a_retry_keeps_serving(server, tmp_path) -> None:
    llm = make_llm(server, tmp_path, minimum_number_of_calls=2)
    tiers = []
    for _ in range(8):  # each call: the first attempt fails, the retry succeeds
        server.script(PRIMARY, Fault.status(500), Fault.ok())
        tiers.append(ask(llm).tier)
    assert tiers == ["primary"] * 8  # the breaker judges calls: every call was served
    state = CircuitBreaker(llm.store, f"llm:{server.base_url}:{PRIMARY}").snapshot()
    assert state["state"] == "closed"


def test_a_primary_that_fails_every_call_still_opens_after_minimum_calls(server, tmp_path) -> None:
    server.set_default(PRIMARY, Fault.status(500))
    llm = make_llm(server, tmp_path, minimum_number_of_calls=3, wait_duration_in_open_state_s=60)
    for _ in range(3):
        ask(llm)
    sent = len(server.requests_for(PRIMARY))
    assert ask(llm).tier == "secondary" and len(server.requests_for(PRIMARY)) == sent


def test_a_rate_limited_probe_reopens_for_its_retry_after_not_the_full_wait(server, tmp_path) -> None:
    llm = make_llm(server, tmp_path, wait_duration_in_open_state_s=30, deadline_s=3)
    breaker = CircuitBreaker(llm.store, f"llm:{server.base_url}:{PRIMARY}")
    breaker.open_for(0.2, "test: opened")
    time.sleep(0.25)
    server.script(PRIMARY, Fault.rate_limit(retry_after=1))
    ask(llm)  # the probe meets a 429 with Retry-After 1 (past its deadline share: it fails over)
    state = breaker.snapshot()
    assert state["state"] == "open" and state["open_until"] - time.time() <= 1.5  # not 30 s
    time.sleep(1.2)
    assert ask(llm).tier == "primary"  # the primary is back within about a second


def _hold_probe(store_url: str, name: str, ready: str) -> None:
    breaker = CircuitBreaker(ReliabilityStore(store_url), name, BreakerConfig())
    assert breaker.acquire(lease_s=2.0).allowed
    Path(ready).write_text("probe held")
    time.sleep(600)  # killed before it reports


def test_a_probe_killed_with_sigkill_frees_its_lease_after_expiry(store_url, tmp_path) -> None:
    """Two processes, the real store (SQLite and PostgreSQL: the store_url fixture)."""
    name = f"llm:probe-lease:{os.getpid()}:{time.time_ns()}"
    breaker = CircuitBreaker(ReliabilityStore(store_url), name, BreakerConfig())
    breaker.open_for(0.05, "test: opened")
    time.sleep(0.1)
    ready = tmp_path / "ready"
    process = multiprocessing.get_context("spawn").Process(
        target=_hold_probe, args=(store_url, name, str(ready))
    )
    process.start()
    deadline = time.monotonic() + 60
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.join(10)
    assert not breaker.acquire(lease_s=2.0).allowed  # the dead holder's lease still runs
    time.sleep(2.1)
    permission = breaker.acquire(lease_s=2.0)
    assert permission.allowed and permission.transition == "half_open lease expired->half_open"
    assert breaker.record_success(0.01).state.value == "closed"


def test_a_call_interrupted_by_a_base_exception_releases_its_probe(server, tmp_path) -> None:
    llm = make_llm(server, tmp_path)
    breaker = CircuitBreaker(llm.store, f"llm:{server.base_url}:{PRIMARY}")
    breaker.open_for(0.05, "test: opened")
    time.sleep(0.1)

    class Stop(BaseException):
        pass

    def interrupt(*_a, **_k):
        raise Stop()

    from reliability_assets.resources.resilience import Deadline, call_endpoint

    with pytest.raises(Stop):
        call_endpoint(interrupt, endpoint="primary", deadline=Deadline(5), timeout_s=1, breaker=breaker)
    assert breaker.snapshot()["half_open_in_flight"] == 0 and breaker.acquire().allowed


def slow_timeout_llm(server, tmp_path, **options) -> ResilientLLM:
    """Primary with a configured 5 s timeout (the learned one may be lower), secondary as usual."""
    common = {"base_url": server.base_url, "api_key": "sk-test-secret"}
    endpoints = [
        LLMEndpoint(name="primary", model=PRIMARY, timeout_s=5.0, **common),
        LLMEndpoint(name="secondary", model=SECONDARY, timeout_s=5.0, **common),
    ]
    return make_llm(server, tmp_path, endpoints=endpoints, deadline_s=60, **options)


def test_timeouts_are_learned_from_the_endpoints_history(server, tmp_path) -> None:
    llm = slow_timeout_llm(server, tmp_path)
    for _ in range(6):  # a healthy primary answers in milliseconds
        assert ask(llm).tier == "primary"
    server.set_default(PRIMARY, Fault.hang(60))
    started = time.monotonic()
    result = ask(llm)
    assert result.tier == "secondary" and time.monotonic() - started < 10  # not 5 s per attempt
    timeouts = [a["timeout_s"] for a in result.attempts if a["endpoint"] == "primary"]
    assert timeouts and all(t <= 2.0 + 1e-6 for t in timeouts)  # the floor: 4 x a few ms < 2 s
    assert result.metadata()["llm/timeout_s"] > 0


def test_learning_off_keeps_the_configured_timeout(server, tmp_path) -> None:
    llm = slow_timeout_llm(server, tmp_path, learn_from_history=False)
    for _ in range(6):
        ask(llm)
    server.set_default(PRIMARY, Fault.hang(60))
    result = ask(llm)
    assert result.attempts[0]["endpoint"] == "primary" and result.attempts[0]["timeout_s"] == 5.0


def test_a_slow_but_healthy_primary_is_never_cut(server, tmp_path) -> None:
    server.set_default(PRIMARY, Fault.hang(0.6))
    llm = make_llm(server, tmp_path)
    results = [ask(llm) for _ in range(7)]
    assert [r.tier for r in results] == ["primary"] * 7
    assert all(a["outcome"] == "ok" for r in results for a in r.attempts)


def test_retry_or_failover_is_decided_from_history_and_explained(server, tmp_path) -> None:
    llm = make_llm(server, tmp_path, minimum_number_of_calls=50)
    for _ in range(6):  # the secondary's latency becomes known
        server.script(PRIMARY, Fault.status(400))
        ask(llm)
    server.set_default(PRIMARY, Fault.status(500))  # retries after a 500 never succeed here
    for _ in range(4):
        ask(llm)
    result = ask(llm)
    decide = [e for e in result.events if e["event"] == "decide"]
    assert decide and decide[-1]["choice"] == "failover" and decide[-1]["retry_p"] < 0.3
    assert len([a for a in result.attempts if a["endpoint"] == "primary"]) == 1  # no wasted retry


def test_the_dead_letter_reason_says_what_refused_every_tier(server, tmp_path) -> None:
    llm = make_llm(server, tmp_path)
    for endpoint in llm.endpoints:
        CircuitBreaker(llm.store, f"llm:{endpoint.base_url}:{endpoint.model}").open_for(60, "test: down")
    result = ask(llm, use_cache=False)
    assert result.deferred and "no request sent" in result.reason and "breaker open" in result.reason
    assert "no endpoint configured" not in result.reason


def test_replaying_an_in_flight_entry_serves_it_and_the_batch_goes_on(server, tmp_path) -> None:
    from reliability_assets.dead_letters import replay_entries

    llm = make_llm(server, tmp_path)
    store = ReliabilityStore(llm.store_url)
    request = {"messages": MESSAGES, "schema": f"{Brief.__module__}:Brief"}
    store.begin_request(key="k-in-flight", source="killed", request=request)
    rows = replay_entries(llm, ["k-in-flight", "k-missing"])
    assert rows[0]["outcome"] == "served by primary"
    assert rows[1]["outcome"].startswith("error: KeyError")
    assert store.dead_letter_entry("k-in-flight")["status"] == "replayed"
    assert json.loads(json.dumps(rows))  # plain rows for the CLI table


def test_an_endpoint_that_became_slower_for_good_is_relearned_through_its_probes(server, tmp_path) -> None:
    common = {"base_url": server.base_url, "api_key": "sk-test-secret", "timeout_s": 5.0}
    endpoints = [
        LLMEndpoint(name="primary", model=PRIMARY, max_attempts=1, **common),
        LLMEndpoint(name="secondary", model=SECONDARY, **common),
    ]
    llm = make_llm(
        server,
        tmp_path,
        endpoints=endpoints,
        deadline_s=30,
        minimum_number_of_calls=2,
        wait_duration_in_open_state_s=0.2,
    )
    for _ in range(6):  # milliseconds: the learned timeout is the 2 s floor
        ask(llm)
    server.set_default(PRIMARY, Fault.hang(2.5))  # slower for good, but healthy
    tiers = []
    for _ in range(12):
        tiers.append(ask(llm).tier)
        time.sleep(0.25)
        if tiers[-3:] == ["primary"] * 3:
            break
    assert tiers[-3:] == ["primary"] * 3, tiers  # half-open probes (configured timeout) relearned it
