"""The classifier's table, row by row: every failure maps to exactly one action."""

import json
from email.utils import formatdate
from time import time

import httpx
import pytest

from resources.resilience import Action, classify, classify_status, retry_after_seconds
from resources.resilience.classify import (
    CircuitOpen,
    MalformedResponse,
    NeedsHumanReview,
    OutputTruncated,
    SchemaInvalid,
)

R, W, F, T, Q, M, H = (
    Action.retry,
    Action.wait_retry_after,
    Action.failover,
    Action.trim_or_escalate,
    Action.reask,
    Action.raise_max_tokens,
    Action.human_review,
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
def test_http_statuses(status: int, code: str | None, action: Action, breaker_failure: bool) -> None:
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
def test_exceptions(error: BaseException, action: Action, breaker_failure: bool) -> None:
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
