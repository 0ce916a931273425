"""The classifier's table, row by row: every failure maps to exactly one action."""

import json
from email.utils import formatdate
from time import time
from typing import NoReturn

import httpx
import pytest

from reliability_assets.resources.resilience import CallAction, classify, classify_status, retry_after_seconds
from reliability_assets.resources.resilience.classify import (
    CircuitOpen,
    MalformedResponse,
    NeedsHumanReview,
    OutputTruncated,
    SchemaInvalid,
)

R, W, F, T, Q, M, H = (
    CallAction.retry,
    CallAction.wait_retry_after,
    CallAction.failover,
    CallAction.trim_or_escalate,
    CallAction.reask,
    CallAction.raise_max_tokens,
    CallAction.human_review,
)


@pytest.mark.parametrize(
    ("status", "code", "action", "breaker_failure"),
    [
        (429, "rate_limit_exceeded", W, True),
        (429, None, W, True),
        (429, "insufficient_quota", F, False),
        (401, None, F, False),
        (403, None, F, False),
        (404, "model_not_found", F, False),
        (400, "context_length_exceeded", T, False),
        (400, "invalid_request_error", F, False),
        (422, None, F, False),
        (408, None, R, True),
        (409, None, R, True),
        (500, None, R, True),
        (502, None, R, True),
        (503, None, R, True),
        (504, None, R, True),
    ],
)
def test_http_statuses(status: int, code: str | None, action: CallAction, breaker_failure: bool) -> None:
    decision = classify_status(status, {}, code)
    assert (decision.action, decision.breaker_failure, decision.status) == (action, breaker_failure, status)


@pytest.mark.parametrize(
    ("error", "action", "breaker_failure"),
    [
        (MalformedResponse("no choices"), R, True),
        (json.JSONDecodeError("Expecting value", '{"id": ', 7), R, True),
        (SchemaInvalid("insights: too short"), Q, False),
        (OutputTruncated("length"), M, False),
        (NeedsHumanReview("refusal"), H, False),
        (CircuitOpen("open"), F, False),
        (TimeoutError("read"), R, True),
        (ConnectionResetError("reset"), R, True),
        (httpx.ConnectTimeout("slow"), R, True),
        (httpx.ConnectError("refused"), R, True),
        (httpx.RemoteProtocolError("dropped"), R, True),
        (RuntimeError("a bug of ours"), F, True),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_exceptions(error: BaseException, action: CallAction, breaker_failure: bool) -> None:
    decision = classify(error)
    assert (decision.action, decision.breaker_failure) == (action, breaker_failure)


def test_httpx_status_errors_read_the_provider_code_and_retry_after() -> None:
    request = httpx.Request("GET", "http://127.0.0.1/x")
    limited = httpx.Response(
        429, headers={"retry-after": "2"}, json={"error": {"code": "rate_limit_exceeded"}}, request=request
    )
    decision = classify(httpx.HTTPStatusError("429", request=request, response=limited))
    assert (decision.action, decision.retry_after_s) == (W, 2.0)
    quota = httpx.Response(429, json={"error": {"code": "insufficient_quota"}}, request=request)
    assert classify(httpx.HTTPStatusError("429", request=request, response=quota)).action is F


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),  # -ms wins, as in the openai SDK
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after_seconds(headers) == seconds


def test_retry_after_as_an_http_date() -> None:
    assert retry_after_seconds({"retry-after": formatdate(time() + 30, usegmt=True)}) == pytest.approx(
        30, abs=1.5
    )


# The backoff between retries of a retryable failure (README: "exponential, +up to 0.25 s jitter").


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 6, 12, 2000])
def test_backoff_is_exponential_plus_jitter_and_capped(attempt: int) -> None:
    from reliability_assets.resources.resilience.retry import backoff_s

    initial, maximum, jitter = 0.5, 8.0, 0.25
    base = min(initial * 2.0 ** min(attempt - 1, 64), maximum)
    waits = [backoff_s(attempt, initial=initial, maximum=maximum, jitter=jitter) for _ in range(400)]
    assert all(base <= w <= min(base + jitter, maximum) for w in waits), (base, min(waits), max(waits))
    assert max(waits) <= maximum  # the jitter is inside the cap, as tenacity's wait_exponential_jitter has it
    if base + jitter <= maximum:  # uncapped: the jitter spreads the waits across its whole width
        assert max(waits) - min(waits) > jitter / 2
    else:
        assert max(waits) == maximum


def test_backoff_defaults_and_zero_jitter() -> None:
    from reliability_assets.resources.resilience.retry import backoff_s

    assert [backoff_s(n, jitter=0.0) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert all(0.5 <= backoff_s(1) <= 0.75 for _ in range(200))


def test_a_retried_call_waits_its_backoff() -> None:
    """Through the retry loop: the wait before each retry of a transient fault is the backoff."""
    from reliability_assets.resources.resilience.deadline import Deadline
    from reliability_assets.resources.resilience.retry import EndpointFailed, call_endpoint

    def send(timeout: float) -> NoReturn:
        raise ConnectionResetError("reset")

    with pytest.raises(EndpointFailed) as failed:
        call_endpoint(
            send,
            endpoint="flaky",
            deadline=Deadline(10.0),
            timeout_s=1.0,
            max_attempts=3,
            backoff_initial_s=0.05,
            backoff_max_s=0.08,
        )
    waits = [a.waited_s for a in failed.value.attempts]
    assert waits[0] == 0.0
    assert 0.05 <= waits[1] <= 0.08  # 0.05 + up to 0.25 jitter, capped at 0.08
    assert waits[2] == 0.08  # 0.1 + jitter is past the cap
