"""The only retry loop on a call path: one endpoint, one deadline, the classifier deciding each step.

It returns a value or raises :class:`EndpointFailed` carrying the decision (fail over, re-ask, trim, ...)
and every attempt, for the caller (the LLM tier chain, the HTTP source) to act on. Nothing here sleeps past
the deadline, and a Retry-After (429, 503, any 5xx that sends one) is honoured exactly: never a request
before it has passed.

The breaker judges *calls*, not attempts: a call takes one permission (a half-open probe holds a lease
that expires with the call's deadline, so a killed holder frees it) and reports one outcome, so a primary
that fails the first attempt of every call but serves every call after a retry keeps serving. A probe
uses the configured timeout, not the learned one, so an endpoint that became slower is relearned. With a
``History`` (``resilience.endpoint_history``) each attempt's timeout and each retry-or-fail-over choice
come from the endpoint's recorded latencies and retry outcomes, within the classifier's hard rules.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from reliability_assets.resources import tracing
from reliability_assets.resources.redaction import RedactedMessage
from reliability_assets.resources.resilience.breaker import BreakerState, CircuitBreaker
from reliability_assets.resources.resilience.classify import (
    CallAction,
    CircuitOpen,
    Decision,
    classify,
    failure_class,
)
from reliability_assets.resources.resilience.deadline import Deadline
from reliability_assets.resources.resilience.ratelimit import RateLimiter

if TYPE_CHECKING:
    from reliability_assets.resources.resilience.endpoint_history import History

T = TypeVar("T")
EventHook = Callable[..., None]
MIN_ATTEMPT_S = 0.05  # below this, an attempt cannot succeed: fail over instead of sending it
#: How long a half-open probe's lease outlives the call's deadline (the holder died if it is still held).
LEASE_MARGIN_S = 5.0


@dataclass
class Attempt:
    endpoint: str
    number: int
    started_at: float  # wall clock, for humans reading the dead-letter queue
    duration_s: float
    outcome: str  # "ok" or the Action taken
    error: str | None = None
    waited_s: float = 0.0  # time slept before this attempt (backoff, Retry-After, rate limit)
    timeout_s: float | None = None  # the timeout this attempt had (learned or configured)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Reply(Generic[T]):
    value: T
    headers: Mapping[str, str] = field(default_factory=dict)


class EndpointFailed(RedactedMessage, Exception):
    def __init__(self, endpoint: str, decision: Decision, attempts: list[Attempt]) -> None:
        super().__init__(f"{endpoint}: {decision.action.value}: {decision.reason}")
        self.endpoint, self.decision, self.attempts = endpoint, decision, attempts


def backoff_s(attempt: int, *, initial: float = 0.5, maximum: float = 8.0, jitter: float = 0.25) -> float:
    """Seconds to wait before retry ``attempt`` (1 = the first retry): ``initial x 2^(attempt-1)`` plus a
    uniform jitter of up to ``jitter`` s, the sum capped at ``maximum`` (so a capped wait has no jitter).

    Draw for draw what tenacity's ``wait_exponential_jitter(multiplier=initial, max=maximum,
    jitter=jitter)`` returns, written out: it is three lines of arithmetic, and tenacity's public API only
    computes it from the ``RetryCallState`` of a running ``Retrying``, which this loop (the classifier
    decides each step) is not.
    """
    spread = random.uniform(0, jitter)
    try:
        wait = initial * 2.0 ** (attempt - 1) + spread
    except OverflowError:  # a huge attempt number: the cap applies
        wait = maximum
    return max(0.0, min(wait, maximum))


def call_endpoint(
    send: Callable[[float], Reply[T]],
    *,
    endpoint: str,
    deadline: Deadline,
    timeout_s: float,
    breaker: CircuitBreaker | None = None,
    limiter: RateLimiter | None = None,
    tokens: int = 0,
    max_attempts: int = 3,
    backoff_initial_s: float = 0.5,
    backoff_max_s: float = 8.0,
    on_event: EventHook | None = None,
    history: History | None = None,
    failover_s: float | None = None,
    span_name: str | None = None,
    span_attributes: Mapping[str, Any] | None = None,
) -> tuple[T, list[Attempt]]:
    """Call ``send(timeout)`` until it succeeds or the classifier says stop. Retries transient faults with
    backoff (bounded by ``max_attempts`` and the deadline), waits exactly Retry-After when it fits the
    deadline, and raises :class:`EndpointFailed` for everything else. ``failover_s``: the next tier's
    expected time to an answer (None when unknown or when there is no next tier).

    Each attempt is a client span (``resources.tracing``) named ``span_name`` (default: the endpoint)
    with ``span_attributes`` (the caller's: the model, the host) and the attempt's number, timeout, wait,
    breaker state and decision; a failed one has ``error.type``. A call refused before sending (breaker,
    rate limit, deadline) is a span too, of attempt 0."""
    emit = on_event or (lambda *_a, **_k: None)
    span_name = span_name or endpoint
    traced = {**(span_attributes or {}), "reliability.endpoint": endpoint}
    attempts: list[Attempt] = []
    decisions: list[Decision] = []
    waited = 0.0
    held = False  # a breaker permission this call must report or release
    probing = False  # a half-open probe: it gets the configured timeout (an endpoint that slowed down
    # for good is relearned there, instead of being cut at its old, learned timeout forever)

    def settle(success_s: float | None = None) -> None:
        """Report the call's one outcome to the breaker."""
        nonlocal held
        if not held or breaker is None:
            return
        held = False
        faults = [d for d in decisions if d.breaker_failure]
        if success_s is not None:
            outcome = breaker.record_success(success_s)
        elif faults:
            outcome = breaker.record_failure(faults[-1].reason, retry_after_s=faults[-1].retry_after_s)
        elif decisions and decisions[-1].status is None:  # a healthy answer we rejected (schema, refusal)
            outcome = breaker.record_success(attempts[-1].duration_s)
        else:  # refused for our own reasons (auth, quota, 4xx), or never sent
            breaker.release()
            return
        if outcome.transition:
            emit("breaker", endpoint=endpoint, transition=outcome.transition)

    def fail(decision: Decision, refused_by: str = "") -> EndpointFailed:
        settle()
        if not attempts:  # refused before sending: the trace shows why no request went out
            with tracing.span(span_name, {**traced, "reliability.attempt": 0}, kind="client") as refused:
                refused.fail(refused_by or "refused", decision=decision.action.value, reason=decision.reason)
        emit("endpoint_failed", endpoint=endpoint, action=decision.action.value, reason=decision.reason)
        return EndpointFailed(endpoint, decision, attempts)

    def wait_for_limiter() -> None:
        nonlocal waited
        if limiter is None:
            return
        wait = limiter.try_acquire(tokens)
        while wait > 0:
            if not deadline.allows_wait(wait, reserve=MIN_ATTEMPT_S):
                why = f"rate limit needs {wait:.2f}s, past the deadline"
                raise fail(Decision(CallAction.failover, why), "rate_limit")
            emit("wait", endpoint=endpoint, seconds=round(wait, 3), why="client rate limit")
            time.sleep(wait)
            waited += wait
            wait = limiter.try_acquire(tokens)

    # The breaker first: a refused call must not spend a rate-limit token (a store transaction, and a
    # slot another process could use) on a request that will never be sent.
    if breaker is not None:
        permission = breaker.acquire(lease_s=deadline.remaining() + LEASE_MARGIN_S)
        if permission.transition:
            emit("breaker", endpoint=endpoint, transition=permission.transition)
        traced["reliability.breaker.state"] = permission.state.value
        if not permission.allowed:
            left = f"{permission.retry_in_s:.1f}s left"
            raise fail(classify(CircuitOpen(f"breaker {permission.state.value}, {left}")), "circuit_open")
        held, probing = True, permission.state is BreakerState.half_open
    retried_after: str | None = None  # the failure class the current attempt retries
    try:
        while True:
            wait_for_limiter()
            if deadline.remaining() < MIN_ATTEMPT_S:
                raise fail(Decision(CallAction.failover, "deadline reached"), "deadline")
            if history is not None and not probing:
                timeout, timeout_why = history.timeout(timeout_s)
            else:
                timeout, timeout_why = timeout_s, "configured"
            timeout = deadline.attempt_timeout(timeout)
            started, wall = time.monotonic(), time.time()
            this = {"reliability.attempt": len(attempts) + 1, "reliability.timeout_s": round(timeout, 3)}
            error: Exception | None = None
            with tracing.span(
                span_name, {**traced, **this, "reliability.waited_s": waited}, kind="client"
            ) as span:
                try:
                    reply = send(timeout)
                except Exception as caught:  # every failure goes through the one classifier
                    error, decision = caught, classify(caught)
                    status = str(decision.status) if decision.status else type(caught).__qualname__
                    span.fail(status, decision=decision.action.value, reason=decision.reason[:300])
                else:
                    span.set("reliability.decision", "ok")
            if error is not None:
                duration = time.monotonic() - started
                decisions.append(decision)
                attempts.append(
                    Attempt(
                        endpoint, len(attempts) + 1, wall, duration, decision.action, decision.reason, waited,
                        round(timeout, 3),
                    )
                )  # fmt: skip
                emit(
                    "attempt",
                    endpoint=endpoint,
                    outcome=decision.action.value,
                    reason=decision.reason,
                    duration_s=round(duration, 3),
                    timeout_s=round(timeout, 3),
                    timeout_from=timeout_why,
                )
                waited = 0.0
                failure = failure_class(decision)
                if history is not None and retried_after is not None:
                    history.record(retried=(retried_after, False))
                retried_after = None
                if decision.retry_after_s is not None and decision.retry_after_s > 0:
                    if limiter is not None:  # every process holds off, for exactly that long
                        limiter.block_for(decision.retry_after_s)
                    # A 429 says "slower", not "down": the shared limiter paces it. Opening the breaker
                    # too would refuse every request in flight elsewhere and leave a single half-open
                    # probe (measured: 16 429s dead-lettered 43 items of a 4-process batch).
                    if breaker is not None and (decision.status != 429 or limiter is None):
                        breaker.open_for(decision.retry_after_s, decision.reason)
                retryable = decision.action in (CallAction.retry, CallAction.wait_retry_after)
                if not retryable or len(attempts) >= max_attempts:
                    raise fail(decision) from error
                if decision.action is CallAction.wait_retry_after and decision.retry_after_s is not None:
                    wait, why = decision.retry_after_s, "Retry-After"
                else:
                    wait = backoff_s(len(attempts), initial=backoff_initial_s, maximum=backoff_max_s)
                    why = "backoff"
                if history is not None and decision.action is CallAction.retry:
                    retry, facts = history.should_retry(
                        failure, wait_s=wait, timeout_s=timeout, failover_s=failover_s
                    )
                    emit("decide", endpoint=endpoint, choice="retry" if retry else "failover", **facts)
                    if not retry:
                        odds = f"retry_p {facts['retry_p']} after {failure}"
                        raise fail(
                            Decision(CallAction.failover, f"{decision.reason}; history: fail over ({odds})")
                        ) from error
                if not deadline.allows_wait(wait, reserve=MIN_ATTEMPT_S):
                    raise fail(
                        Decision(
                            CallAction.failover,
                            f"{decision.reason}; {why} {wait:.2f}s is past the deadline",
                            decision.retry_after_s,
                            status=decision.status,
                        )
                    ) from error
                emit("wait", endpoint=endpoint, seconds=round(wait, 3), why=why)
                time.sleep(wait)
                waited += wait
                retried_after = failure
                continue
            duration = time.monotonic() - started
            attempts.append(
                Attempt(endpoint, len(attempts) + 1, wall, duration, "ok", None, waited, round(timeout, 3))
            )
            emit(
                "attempt",
                endpoint=endpoint,
                outcome="ok",
                duration_s=round(duration, 3),
                timeout_s=round(timeout, 3),
            )
            if history is not None:
                history.record(latency_s=duration, retried=(retried_after, True) if retried_after else None)
            settle(success_s=duration)
            if limiter is not None:
                limiter.observe(reply.headers)
            return reply.value, attempts
    except BaseException:
        # Killed, interrupted or cancelled mid-call (a run terminated from the UI raises BaseException):
        # never leave a probe slot taken. (SIGKILL leaves it: the lease expires.)
        if held and breaker is not None:
            held = False
            breaker.release()
        raise
