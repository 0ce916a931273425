"""The circuit breaker and the rate limiter keep their state in the reliability store (SQLite here)."""

import multiprocessing
import threading
import time
import uuid

import pytest

from reliability_assets.resources.resilience import BreakerConfig, BreakerState, CircuitBreaker, RateLimiter
from reliability_assets.resources.resilience.ratelimit import parse_reset
from reliability_assets.resources.store import ReliabilityStore

FAST = BreakerConfig(
    sliding_window_size=10,
    minimum_number_of_calls=4,
    failure_rate_threshold=0.5,
    wait_duration_in_open_state_s=0.3,
    permitted_number_of_calls_in_half_open_state=2,
    slow_call_duration_threshold_s=1.0,
    slow_call_rate_threshold=0.75,
)


@pytest.fixture
def uid() -> str:
    """PostgreSQL keeps rows between runs: every breaker and bucket of a test gets a fresh name."""
    return uuid.uuid4().hex[:8] + ":"


def test_opens_at_the_failure_rate_threshold_only_after_the_minimum_calls(store_url, uid) -> None:
    breaker = CircuitBreaker(ReliabilityStore(store_url), f"{uid}primary", FAST)
    for _ in range(3):
        assert breaker.acquire().allowed
        assert breaker.record_failure("503").state is BreakerState.closed  # 3 calls < minimum 4
    assert breaker.acquire().allowed
    outcome = breaker.record_failure("503")
    assert (outcome.state, outcome.transition) == (BreakerState.open, "closed->open")
    refused = breaker.acquire()
    assert not refused.allowed and 0 < refused.retry_in_s <= 0.3


def test_a_healthy_mix_stays_closed(store_url, uid) -> None:
    breaker = CircuitBreaker(ReliabilityStore(store_url), f"{uid}primary", FAST)
    for i in range(30):
        breaker.acquire()
        if i % 4 == 0:  # 25% failures, under the 50% threshold
            breaker.record_failure()
        else:
            breaker.record_success(0.01)
    assert breaker.snapshot()["state"] == "closed"


def test_slow_calls_open_it_too(store_url, uid) -> None:
    breaker = CircuitBreaker(ReliabilityStore(store_url), f"{uid}primary", FAST)
    for _ in range(4):
        breaker.acquire()
        outcome = breaker.record_success(duration_s=1.5)
    assert outcome.transition == "closed->open"
    assert "slow-call rate 100%" in breaker.snapshot()["open_reason"]


def test_half_open_admits_the_permitted_probes_then_closes_or_reopens(store_url, uid) -> None:
    breaker = CircuitBreaker(ReliabilityStore(store_url), f"{uid}primary", FAST)
    breaker.open_for(0.2, "test")
    assert not breaker.acquire().allowed
    time.sleep(0.25)
    first = breaker.acquire()
    assert first.allowed and first.transition == "open->half_open"
    assert breaker.acquire().allowed  # second permitted probe
    assert not breaker.acquire().allowed  # a third is refused while two are in flight
    breaker.record_success(0.01)
    assert breaker.record_success(0.01).transition == "half_open->closed"

    breaker.open_for(0.1, "again")
    time.sleep(0.15)
    assert breaker.acquire().allowed
    assert breaker.record_failure("still down").transition == "half_open->open"
    assert not breaker.acquire().allowed


def test_open_for_retry_after_is_exact(store_url, uid) -> None:
    breaker = CircuitBreaker(ReliabilityStore(store_url), f"{uid}primary", FAST)
    started = time.time()
    breaker.open_for(0.5, "429 retry-after 0.5")
    while not breaker.acquire().allowed:
        time.sleep(0.01)
    assert time.time() - started >= 0.5


def _open_in_another_process(url: str, uid: str) -> None:
    CircuitBreaker(ReliabilityStore(url), f"{uid}shared", FAST).open_for(30, "opened by another process")


def test_state_is_shared_between_processes(store_url, uid) -> None:
    spawn = multiprocessing.get_context("spawn")
    process = spawn.Process(target=_open_in_another_process, args=(store_url, uid))
    process.start()
    process.join(60)
    assert process.exitcode == 0
    permission = CircuitBreaker(ReliabilityStore(store_url), f"{uid}shared", FAST).acquire()
    assert not permission.allowed and permission.state is BreakerState.open


def _hammer(url: str, calls: int, uid: str) -> tuple[int, int]:
    store = ReliabilityStore(url)
    breaker = CircuitBreaker(
        store, f"{uid}hammered", BreakerConfig(sliding_window_size=10_000, minimum_number_of_calls=10_000)
    )
    limiter = RateLimiter(store, f"{uid}hammered", requests_per_minute=600)
    granted = 0
    for i in range(calls):
        breaker.acquire()
        breaker.record_failure() if i % 2 else breaker.record_success(0.001)
        granted += limiter.try_acquire() == 0.0
    return calls, granted


def test_many_processes_lose_no_update_and_never_see_database_locked(store_url, uid) -> None:
    processes, calls = 8, 40
    ReliabilityStore(store_url)  # create the tables once
    started = time.time()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.starmap(
            _hammer, [(store_url, calls, uid)] * processes
        )  # an exception here fails the test
    elapsed = time.time() - started
    window = CircuitBreaker(ReliabilityStore(store_url), f"{uid}hammered").snapshot()["window"]
    assert len(window) == processes * calls  # every record_* landed: no lost update
    assert window.count("fail") == window.count("ok") == processes * calls // 2
    granted = sum(g for _, g in results)
    rate = 600 * 0.95 / 60
    assert granted <= rate + rate * elapsed + 1  # the bucket never admitted more than it held
    assert granted >= 1


def test_rate_limiter_paces_to_the_quota_and_honours_retry_after(store_url, uid) -> None:
    limiter = RateLimiter(ReliabilityStore(store_url), f"{uid}paced", requests_per_minute=120)
    burst = 0
    while (wait := limiter.try_acquire()) == 0.0:
        burst += 1
    assert burst == 1  # the bucket holds one second's worth: 120 x 0.95 / 60 = 1.9 requests
    assert 0 < wait <= 60 / (120 * 0.95)
    limiter.block_for(5.0)
    time.sleep(wait)  # the pacing wait is over; Retry-After (5 s, minus up to 0.53 s slept) still blocks
    assert limiter.try_acquire() > 2.0  # blocked by Retry-After, for every process using the store


def test_rate_limit_headers_pull_the_bucket_down(store_url, uid) -> None:
    limiter = RateLimiter(ReliabilityStore(store_url), f"{uid}headers", requests_per_minute=6000)
    limiter.observe({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1.5s"})
    assert 1.0 < limiter.try_acquire() <= 1.5


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("0.5s", 0.5), ("soon", None)],
)
def test_reset_durations_parse_like_openai_sends_them(value: str, seconds: float | None) -> None:
    assert parse_reset(value) == (pytest.approx(seconds) if seconds is not None else None)


def _pace(url: str, uid: str, seconds: float) -> list[float]:
    """Four threads taking requests as fast as the shared bucket grants them; the times granted."""
    limiter = RateLimiter(ReliabilityStore(url), f"{uid}contended", requests_per_minute=600)
    granted: list[float] = []
    start = time.time()  # all processes share the bucket's time: a wall clock, not a monotonic one

    def loop() -> None:
        while time.time() - start < seconds:
            wait = limiter.try_acquire()
            if wait == 0.0:
                granted.append(time.time())
            else:
                time.sleep(wait)

    def hog() -> None:  # other work on the store (breakers, history, the cache) holds its lock too
        while time.time() - start < seconds:
            with limiter.store.transaction() as connection:
                defaults = {"tokens": 0.0, "updated_at": time.time(), "blocked_until": 0.0}
                limiter.store.locked_row(connection, "rate_buckets", f"{uid}contended:requests", defaults)
                time.sleep(0.2)
            time.sleep(0.05)

    threads = [threading.Thread(target=loop) for _ in range(4)] + [threading.Thread(target=hog)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return granted


def test_under_contention_no_window_gets_more_than_the_pace(store_url, uid) -> None:
    """4 processes x 4 threads on one bucket, with other work holding the row's lock for 0.2 s at a time:
    a caller that waited for the lock must not refill the seconds it waited a second time (it did: 25
    requests/s granted against a 9.5/s pace in benchmarks/llm_batch.py)."""
    ReliabilityStore(store_url)
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        times = sorted(t for granted in pool.starmap(_pace, [(store_url, uid, 6.0)] * 4) for t in granted)
    rate = 600 * 0.95 / 60
    busiest = max(sum(1 for t in times if start <= t < start + 2.0) for start in times)
    assert busiest <= rate + 2 * rate + 2  # a full bucket plus two seconds of refill, and rounding
    assert len(times) >= 2 * rate  # and it did grant at the pace


def test_a_call_the_open_breaker_refuses_spends_no_rate_limit_token(store_url, uid) -> None:
    from reliability_assets.resources.resilience import Deadline, EndpointFailed, call_endpoint

    store = ReliabilityStore(store_url)
    breaker = CircuitBreaker(store, f"{uid}down", FAST)
    breaker.open_for(60, "down")
    limiter = RateLimiter(store, f"{uid}down", requests_per_minute=120)  # a bucket of one request
    sent = []
    for _ in range(5):
        with pytest.raises(EndpointFailed, match="breaker open"):
            call_endpoint(
                sent.append,
                endpoint="down",
                deadline=Deadline(5),
                timeout_s=1,
                breaker=breaker,
                limiter=limiter,
            )
    assert sent == []
    assert limiter.try_acquire() == 0.0  # the one token is still there for a call that will be sent
