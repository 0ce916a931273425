"""The one resilience core both resources use: classify -> act, breaker, rate limit, deadline, retries."""

from reliability_assets.resources.resilience.breaker import BreakerConfig, BreakerState, CircuitBreaker
from reliability_assets.resources.resilience.classify import (
    CallAction,
    Decision,
    classify,
    classify_status,
    retry_after_seconds,
)
from reliability_assets.resources.resilience.deadline import Deadline
from reliability_assets.resources.resilience.ratelimit import RateLimiter
from reliability_assets.resources.resilience.retry import Attempt, EndpointFailed, call_endpoint

__all__ = [
    "Attempt",
    "BreakerConfig",
    "BreakerState",
    "CallAction",
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
