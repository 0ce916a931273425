"""Every failure, one action. The table below is the only place where an error decides what happens next;
the LLM and HTTP resources both act on its verdicts.

| failure                                                        | action           | counts against breaker |
| -------------------------------------------------------------- | ---------------- | ---------------------- |
| timeout, connection error, 408, 409, 5xx                       | retry            | yes                    |
| 5xx (503, 502, 504, ...) with Retry-After / retry-after-ms     | wait_retry_after | yes                    |
| malformed JSON body, wrong-shape body (provider faults)        | retry            | yes                    |
| 429 rate limit (Retry-After waited exactly; <= 0 = absent)     | wait_retry_after | yes                    |
| 429 insufficient_quota, 401, 403, 404                          | failover         | no (not load related)  |
| 400 context_length_exceeded                                    | trim_or_escalate | no                     |
| other 4xx (our request is wrong: retrying cannot help)         | failover         | no                     |
| schema-invalid output                                          | reask            | no                     |
| finish_reason=length                                           | raise_max_tokens | no                     |
| content filter, refusal, blocked prompt                        | human_review     | no                     |
| breaker open, deadline too short                               | failover         | no                     |
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
from time import time

from reliability_assets.resources.redaction import RedactedMessage


class CallAction(StrEnum):
    retry = "retry"
    wait_retry_after = "wait_retry_after"
    failover = "failover"
    trim_or_escalate = "trim_or_escalate"
    reask = "reask"
    raise_max_tokens = "raise_max_tokens"
    human_review = "human_review"


@dataclass(frozen=True)
class Decision:
    action: CallAction
    reason: str
    retry_after_s: float | None = None
    breaker_failure: bool = False
    status: int | None = None


class ReliabilityError(RedactedMessage, Exception):
    """Failures our own code detects; each subclass is one row of the table."""

    action: CallAction = CallAction.failover
    breaker_failure = False


class MalformedResponse(ReliabilityError):
    """A 200 whose body is not what the API promises (truncated JSON, no ``choices``)."""

    action, breaker_failure = CallAction.retry, True


class SchemaInvalid(ReliabilityError):
    action = CallAction.reask


class OutputTruncated(ReliabilityError):
    action = CallAction.raise_max_tokens


class NeedsHumanReview(ReliabilityError):
    """Content filter, refusal, or a prompt the injection screen blocked."""

    action = CallAction.human_review


class CircuitOpen(ReliabilityError):
    action = CallAction.failover


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """``retry-after-ms``, then ``retry-after`` (seconds or an HTTP date), as the openai SDK reads them.
    A value <= 0 (or a date in the past) is treated as absent: the SDK backs off then, and so do we."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lowered:
        try:
            seconds = float(lowered["retry-after-ms"]) / 1000
            if seconds > 0:
                return seconds
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time()
        except (TypeError, ValueError):
            return None
    return seconds if seconds > 0 else None


def classify_status(
    status: int, headers: Mapping[str, str] | None = None, code: str | None = None
) -> Decision:
    """An HTTP error response, by status and the provider's error code."""
    label = f"HTTP {status}" + (f" {code}" if code else "")
    if status == 429 and code == "insufficient_quota":
        return Decision(CallAction.failover, f"{label}: quota exhausted, retrying cannot help", status=status)
    if status == 429:
        wait = retry_after_seconds(headers)
        return Decision(
            CallAction.wait_retry_after, f"{label}: rate limited", wait, breaker_failure=True, status=status
        )
    if status in (401, 403):
        return Decision(CallAction.failover, f"{label}: credentials refused", status=status)
    if status == 404:
        return Decision(CallAction.failover, f"{label}: model or endpoint not found", status=status)
    if status == 400 and code == "context_length_exceeded":
        return Decision(
            CallAction.trim_or_escalate, f"{label}: input longer than the context window", status=status
        )
    if status >= 500 and (wait := retry_after_seconds(headers)) is not None:  # RFC 9110: same meaning
        return Decision(
            CallAction.wait_retry_after, f"{label}: unavailable", wait, breaker_failure=True, status=status
        )
    if status in (408, 409) or status >= 500:
        return Decision(CallAction.retry, f"{label}: transient", breaker_failure=True, status=status)
    return Decision(CallAction.failover, f"{label}: request rejected", status=status)


def failure_class(decision: Decision) -> str:
    """The class a failure's retry odds are learned under: 429, 4xx, 5xx, timeout, connection, malformed,
    other."""
    if decision.status is not None:
        return "429" if decision.status == 429 else f"{decision.status // 100}xx"
    reason = decision.reason.lower()
    return next((name for name in ("timeout", "connection", "malformed") if name in reason), "other")


def refused(decision: Decision) -> bool:
    """The endpoint refused the request itself (a 4xx this classifier does not retry: credentials, not
    found, rejected): asking again, now or in a later attempt of the step, gets the same answer."""
    return failure_class(decision) == "4xx" and decision.action is not CallAction.retry


def classify(error: BaseException) -> Decision:
    """Any exception from a provider call (openai SDK, httpx, our own checks) -> its Decision."""
    if isinstance(error, ReliabilityError):
        return Decision(
            error.action, str(error) or type(error).__name__, breaker_failure=error.breaker_failure
        )
    if isinstance(error, json.JSONDecodeError):  # the openai SDK raises it raw on a truncated 200 body
        return Decision(CallAction.retry, f"malformed JSON from provider: {error.msg}", breaker_failure=True)
    module = type(error).__module__.split(".")[0]
    if module == "openai":
        return _classify_openai(error)
    if module in ("httpx", "httpx2", "httpcore", "httpcore2"):
        return _classify_httpx(error)
    if isinstance(error, (TimeoutError, ConnectionError)):
        return Decision(CallAction.retry, f"{type(error).__name__}: {error}", breaker_failure=True)
    return Decision(CallAction.failover, f"unexpected {type(error).__name__}: {error}", breaker_failure=True)


def _classify_openai(error: BaseException) -> Decision:
    import openai

    if isinstance(error, openai.APIStatusError):
        code = getattr(error, "code", None)
        return classify_status(
            error.status_code, error.response.headers, code if isinstance(code, str) else None
        )
    if isinstance(error, openai.APITimeoutError):
        return Decision(CallAction.retry, "timeout", breaker_failure=True)
    if isinstance(error, openai.APIConnectionError):
        return Decision(CallAction.retry, f"connection error: {error}", breaker_failure=True)
    if isinstance(error, openai.LengthFinishReasonError):
        return Decision(CallAction.raise_max_tokens, "finish_reason=length: output cut at max_tokens")
    if isinstance(error, openai.ContentFilterFinishReasonError):
        return Decision(CallAction.human_review, "finish_reason=content_filter")
    if isinstance(error, openai.APIResponseValidationError):
        return Decision(CallAction.retry, f"malformed response: {error}", breaker_failure=True)
    return Decision(CallAction.failover, f"{type(error).__name__}: {error}", breaker_failure=True)


def _classify_httpx(error: BaseException) -> Decision:
    name = type(error).__name__
    if name == "HTTPStatusError":
        response = error.response  # type: ignore[attr-defined]
        return classify_status(response.status_code, response.headers, _error_code(response))
    if "Timeout" in name:
        return Decision(CallAction.retry, f"timeout ({name})", breaker_failure=True)
    return Decision(CallAction.retry, f"transport error ({name}): {error}", breaker_failure=True)


def _error_code(response: object) -> str | None:
    try:
        body = response.json()  # type: ignore[attr-defined]
    except Exception:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") or error.get("type") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None
