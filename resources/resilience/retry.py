"""The only retry loop on a call path: one endpoint, one deadline, the classifier deciding each step.

It returns a value or raises :class:`EndpointFailed` carrying the decision (fail over, re-ask, trim, ...)
and every attempt, for the caller (the LLM tier chain, the HTTP source) to act on. Nothing here sleeps past
the deadline, and a 429's Retry-After is honoured exactly: never a request before it has passed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Generic, TypeVar

from resources.resilience.breaker import BreakerState, CircuitBreaker
from resources.resilience.classify import Action, CircuitOpen, Decision, classify
from resources.resilience.deadline import Deadline
from resources.resilience.ratelimit import RateLimiter

T = TypeVar("T")
EventHook = Callable[..., None]
MIN_ATTEMPT_S = 0.05  # below this, an attempt cannot succeed: fail over instead of sending it


@dataclass
class Attempt:
    endpoint: str
    number: int
    started_at: float  # wall clock, for humans reading the dead-letter queue
    duration_s: float
    outcome: str  # "ok" or the Action taken
    error: str | None = None
    waited_s: float = 0.0  # time slept before this attempt (backoff, Retry-After, rate limit)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Reply(Generic[T]):
    value: T
    headers: Mapping[str, str] = field(default_factory=dict)


class EndpointFailed(Exception):
    def __init__(self, endpoint: str, decision: Decision, attempts: list[Attempt]) -> None:
        super().__init__(f"{endpoint}: {decision.action.value}: {decision.reason}")
        self.endpoint, self.decision, self.attempts = endpoint, decision, attempts


def backoff_s(attempt: int, *, initial: float = 0.5, maximum: float = 8.0, jitter: float = 0.25) -> float:
    """Exponential backoff with jitter (tenacity's maths): initial x 2^(n-1), capped, + up to ``jitter`` s."""
    from tenacity import RetryCallState, wait_exponential_jitter

    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = attempt
    return float(wait_exponential_jitter(multiplier=initial, max=maximum, jitter=jitter)(state))


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
) -> tuple[T, list[Attempt]]:
    """Call ``send(timeout)`` until it succeeds or the classifier says stop. Retries transient faults with
    backoff (bounded by ``max_attempts`` and the deadline), waits exactly Retry-After on a 429 when it fits
    the deadline, and raises :class:`EndpointFailed` for everything else."""
    emit = on_event or (lambda *_a, **_k: None)
    attempts: list[Attempt] = []
    waited = 0.0

    def fail(decision: Decision) -> EndpointFailed:
        emit("endpoint_failed", endpoint=endpoint, action=decision.action.value, reason=decision.reason)
        return EndpointFailed(endpoint, decision, attempts)

    while True:
        if limiter is not None:
            wait = limiter.try_acquire(tokens)
            while wait > 0:
                if not deadline.allows_wait(wait, reserve=MIN_ATTEMPT_S):
                    raise fail(Decision(Action.failover, f"rate limit needs {wait:.2f}s, past the deadline"))
                emit("wait", endpoint=endpoint, seconds=round(wait, 3), why="client rate limit")
                time.sleep(wait)
                waited += wait
                wait = limiter.try_acquire(tokens)
        if deadline.remaining() < MIN_ATTEMPT_S:
            raise fail(Decision(Action.failover, "deadline reached"))
        if breaker is not None:
            permission = breaker.acquire()
            if permission.transition:
                emit("breaker", endpoint=endpoint, transition=permission.transition)
            if not permission.allowed:
                raise fail(
                    classify(
                        CircuitOpen(f"breaker {permission.state.value}, {permission.retry_in_s:.1f}s left")
                    )
                )
        started, wall = time.monotonic(), time.time()
        try:
            reply = send(deadline.attempt_timeout(timeout_s))
        except Exception as error:  # every failure goes through the one classifier
            duration = time.monotonic() - started
            decision = classify(error)
            attempts.append(
                Attempt(endpoint, len(attempts) + 1, wall, duration, decision.action, decision.reason, waited)
            )
            emit(
                "attempt",
                endpoint=endpoint,
                outcome=decision.action.value,
                reason=decision.reason,
                duration_s=round(duration, 3),
            )
            waited = 0.0
            just_opened = breaker is not None and _record(breaker, decision, duration, emit, endpoint)
            if decision.action is Action.wait_retry_after and decision.retry_after_s is not None:
                if limiter is not None:
                    limiter.block_for(decision.retry_after_s)
                if breaker is not None and decision.retry_after_s > 0:
                    breaker.open_for(decision.retry_after_s, decision.reason)
            retryable = decision.action in (Action.retry, Action.wait_retry_after)
            if decision.action is Action.retry and just_opened:  # waiting would only meet the open breaker
                raise fail(Decision(Action.failover, f"{decision.reason}; breaker opened")) from error
            if not retryable or len(attempts) >= max_attempts:
                raise fail(decision) from error
            if decision.action is Action.wait_retry_after:
                wait = (
                    decision.retry_after_s if decision.retry_after_s is not None else backoff_s(len(attempts))
                )
                why = "Retry-After"
            else:
                wait = backoff_s(len(attempts), initial=backoff_initial_s, maximum=backoff_max_s)
                why = "backoff"
            if not deadline.allows_wait(wait, reserve=MIN_ATTEMPT_S):
                raise fail(
                    Decision(
                        Action.failover,
                        f"{decision.reason}; {why} {wait:.2f}s is past the deadline",
                        decision.retry_after_s,
                        status=decision.status,
                    )
                ) from error
            emit("wait", endpoint=endpoint, seconds=round(wait, 3), why=why)
            time.sleep(wait)
            waited += wait
            continue
        duration = time.monotonic() - started
        attempts.append(Attempt(endpoint, len(attempts) + 1, wall, duration, "ok", None, waited))
        emit("attempt", endpoint=endpoint, outcome="ok", duration_s=round(duration, 3))
        if breaker is not None:
            outcome = breaker.record_success(duration)
            if outcome.transition:
                emit("breaker", endpoint=endpoint, transition=outcome.transition)
        if limiter is not None:
            limiter.observe(reply.headers)
        return reply.value, attempts


def _record(
    breaker: CircuitBreaker, decision: Decision, duration: float, emit: EventHook, endpoint: str
) -> bool:
    """Provider faults count against the breaker; an answer we reject (schema, refusal) is a healthy call;
    a request the provider refused for our own reasons (auth, quota, 4xx) frees its slot only.
    Returns whether this outcome opened the breaker."""
    if decision.breaker_failure:
        outcome = breaker.record_failure(decision.reason)
    elif decision.status is None:
        outcome = breaker.record_success(duration)
    else:
        breaker.release()
        return False
    if outcome.transition:
        emit("breaker", endpoint=endpoint, transition=outcome.transition)
    return outcome.transition is not None and outcome.state is BreakerState.open
