"""What every resilient resource shares: the reliability store and the breaker and backoff settings.

``ResilientLLM`` and ``ResilientAPI`` subclass it, so both expose the same fields (resilience4j names) and
build their breakers the same way; the retry loop itself is ``resources.resilience.call_endpoint``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from reliability_assets.resources.resilience import BreakerConfig, CircuitBreaker
from reliability_assets.resources.store_resource import StoreBackedResource


class ResilientResource(StoreBackedResource):
    sliding_window_size: int = Field(default=20, ge=1, description="Breaker: calls in the sliding window.")
    minimum_number_of_calls: int = Field(default=5, ge=1, description="Breaker: calls before it may open.")
    failure_rate_threshold: float = Field(default=0.5, gt=0, le=1, description="Breaker: opens at this rate.")
    wait_duration_in_open_state_s: float = Field(default=30.0, ge=0, description="Breaker: open this long.")
    backoff_initial_s: float = Field(default=0.5, ge=0, description="Retry backoff: first wait.")
    backoff_max_s: float = Field(default=8.0, ge=0, description="Retry backoff: cap.")
    learn_from_history: bool = Field(
        default=True,
        description="Timeouts and retry-or-fail-over choices from each endpoint's recorded latencies and "
        "retry outcomes (shared in the store); False: the fixed timeout_s and the classifier's rules only.",
    )

    def history(self, name: str) -> Any:
        """The endpoint's recorded latencies and retry outcomes (``resilience.endpoint_history``)."""
        from reliability_assets.resources.resilience.endpoint_history import History, Learning

        return History.load(self.store, name, Learning(enabled=self.learn_from_history))

    def circuit_breaker(self, name: str, *, slow_call_duration_threshold_s: float) -> CircuitBreaker:
        """The breaker for ``name`` in the shared store, configured from this resource's fields."""
        return CircuitBreaker(
            self.store,
            name,
            BreakerConfig(
                sliding_window_size=self.sliding_window_size,
                minimum_number_of_calls=self.minimum_number_of_calls,
                failure_rate_threshold=self.failure_rate_threshold,
                wait_duration_in_open_state_s=self.wait_duration_in_open_state_s,
                slow_call_duration_threshold_s=slow_call_duration_threshold_s,
            ),
        )
