"""The one resilience core both resources use: classify -> act, breaker, rate limit, deadline, retries."""

from resources.resilience.breaker import BreakerConfig, BreakerState, CircuitBreaker
from resources.resilience.classify import Action, Decision, classify, classify_status, retry_after_seconds
from resources.resilience.deadline import Deadline
from resources.resilience.ratelimit import RateLimiter
from resources.resilience.retry import Attempt, EndpointFailed, call_endpoint

__all__ = [
    "Action",
    "Attempt",
    "BreakerConfig",
    "BreakerState",
    "CircuitBreaker",
    "Deadline",
    "Decision",
    "EndpointFailed",
    "RateLimiter",
    "call_endpoint",
    "classify",
    "classify_status",
    "retry_after_seconds",
]
