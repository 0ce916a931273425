"""What an endpoint's history says: how fast it normally answers, and whether a retry after a given kind of
failure tends to succeed. Kept per endpoint in the reliability store (bounded, shared by every process),
so the first process to see a hang teaches the others.

The rules (``Learning``; ``enabled=False`` turns both off and the fixed settings apply):

- **Timeout.** With at least ``min_samples`` successful attempts recorded, an attempt's timeout is
  ``timeout_multiplier`` x the ``timeout_quantile`` of the recent latencies, clamped to
  [``timeout_floor_s``, the endpoint's ``timeout_s``]. A hang is cut after a few normal latencies; an
  endpoint that is slow but healthy sets a high quantile and is never cut.
- **Retry or fail over.** After a retryable failure (the classifier's hard rules still decide what *may*
  be retried; a 429's Retry-After is always waited when it fits), the chance that the next attempt
  succeeds is estimated from this endpoint's record for that class of failure (Laplace-smoothed), and the
  expected time to an answer by retrying (wait + p x latency + (1 - p) x (timeout + failover)) is compared
  with failing over now (the next tier's median latency). A retry that succeeds at least ``retry_worth_p``
  of the time is always made (failing over is fast but degraded). Fewer than ``min_samples``
  observations: retry, as the rules say.

Hand-written because no library learns per-endpoint timeouts and retry odds with state shared across
processes (Envoy's outlier detection and gRPC hedging are the references; neither runs in Python here).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import JSON, Column, Float, String, Table

from reliability_assets.resources.store import ReliabilityStore, ensure_tables, metadata

endpoint_history = Table(
    "endpoint_history",
    metadata,
    Column("name", String(300), primary_key=True),
    Column("latencies", JSON, nullable=False, default=list),  # seconds of recent successful attempts
    Column("retries", JSON, nullable=False, default=dict),  # failure class -> [1 ok | 0 failed], recent
    Column("updated_at", Float, nullable=False, default=0.0),
)
_DEFAULTS: dict[str, Any] = {"latencies": [], "retries": {}, "updated_at": 0.0}


class Learning(BaseModel):
    """How much the resilient resources learn from history (see the module docstring)."""

    enabled: bool = True
    window: int = Field(default=50, ge=5, description="Observations kept per endpoint and failure class.")
    min_samples: int = Field(default=5, ge=1)
    timeout_quantile: float = Field(default=0.95, gt=0, le=1)
    timeout_multiplier: float = Field(default=4.0, ge=1)
    timeout_floor_s: float = Field(default=2.0, gt=0)
    retry_worth_p: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="A retry at least this likely to succeed is always worth it: failing over is fast but "
        "degraded (a fallback tier), so time alone must not decide.",
    )


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class History:
    """One endpoint's record, read once per call (the store is asked again only to write)."""

    store: ReliabilityStore
    name: str
    learning: Learning = field(default_factory=Learning)
    latencies: list[float] = field(default_factory=list)
    retries: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def load(cls, store: ReliabilityStore, name: str, learning: Learning) -> History:
        ensure_tables(store, endpoint_history)
        with store.engine.connect() as connection:
            row = (
                connection.execute(endpoint_history.select().where(endpoint_history.c.name == name))
                .mappings()
                .first()
            )
        found: dict[str, Any] = dict(row) if row else dict(_DEFAULTS)
        return cls(store, name, learning, list(found["latencies"]), dict(found["retries"]))

    @property
    def active(self) -> bool:
        return self.learning.enabled

    def typical_s(self, *, min_samples: int | None = None) -> float | None:
        """The median latency of successful attempts, when there are enough of them."""
        if not self.latencies or len(self.latencies) < (min_samples or self.learning.min_samples):
            return None
        return quantile(self.latencies, 0.5)

    def timeout(self, configured_s: float) -> tuple[float, str]:
        """The timeout for the next attempt and why."""
        if not self.active or len(self.latencies) < self.learning.min_samples:
            return configured_s, "configured"
        high = quantile(self.latencies, self.learning.timeout_quantile)
        learned = min(
            configured_s, max(self.learning.timeout_floor_s, high * self.learning.timeout_multiplier)
        )
        q = round(self.learning.timeout_quantile * 100)
        return learned, f"{self.learning.timeout_multiplier:g} x p{q} {high:.3f}s of {len(self.latencies)}"

    def retry_odds(self, failure: str) -> tuple[float, int]:
        """(chance that the attempt after a ``failure`` succeeds, how many such retries were seen)."""
        seen = self.retries.get(failure, [])
        return (sum(seen) + 1) / (len(seen) + 2), len(seen)

    def should_retry(
        self, failure: str, *, wait_s: float, timeout_s: float, failover_s: float | None
    ) -> tuple[bool, dict[str, float | int | str | None]]:
        """Retry (True) or fail over now; and the numbers behind the choice, for the event log."""
        p, n = self.retry_odds(failure)
        typical = self.typical_s()
        facts: dict[str, float | int | str | None] = {"failure": failure, "retry_p": round(p, 3), "seen": n}
        if not self.active or n < self.learning.min_samples or failover_s is None:
            facts["why"] = "too little history" if self.active else "learning off"
            return True, facts
        latency = typical if typical is not None else timeout_s
        by_retry = wait_s + p * latency + (1 - p) * (timeout_s + failover_s)
        facts |= {"expected_retry_s": round(by_retry, 3), "expected_failover_s": round(failover_s, 3)}
        if p >= self.learning.retry_worth_p:
            facts["why"] = f"a retry usually succeeds here (p >= {self.learning.retry_worth_p:g})"
            return True, facts
        retry = by_retry <= failover_s
        facts["why"] = "retrying is expected to answer sooner" if retry else "failing over is expected sooner"
        return retry, facts

    def record(self, *, latency_s: float | None = None, retried: tuple[str, bool] | None = None) -> None:
        """Add a successful attempt's latency and/or the outcome of a retry after a ``failure`` class."""
        if not self.active:
            return
        window = self.learning.window
        with self.store.transaction() as connection:
            row = self.store.locked_row(connection, endpoint_history, self.name, _DEFAULTS)
            latencies, retries = list(row["latencies"]), dict(row["retries"])
            if latency_s is not None:
                latencies = [*latencies, round(latency_s, 4)][-window:]
            if retried is not None:
                failure, ok = retried
                retries[failure] = [*retries.get(failure, []), int(ok)][-window:]
            values = {"latencies": latencies, "retries": retries, "updated_at": time.time()}
            self.store.update_row(connection, endpoint_history, self.name, values)
        self.latencies, self.retries = latencies, retries
