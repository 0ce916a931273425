"""A circuit breaker whose state lives in the reliability store, so every process sees the same state.

Vocabulary from resilience4j: a count-based sliding window of the last ``sliding_window_size`` calls; once
it holds ``minimum_number_of_calls``, the breaker opens when the failure rate or the slow-call rate reaches
its threshold. Open, it refuses calls for ``wait_duration_in_open_state_s`` (or exactly the Retry-After a
provider sent), then lets ``permitted_number_of_calls_in_half_open_state`` probes through: all succeed ->
closed, any fails -> open again (for the probe's Retry-After when it got one, else the full wait). A probe
holds a *lease*: while half-open, ``open_until`` is when the probes' leases expire, so a probe whose process
died (SIGKILL, OOM) stops blocking the breaker once its lease has passed. Every transition is returned to
the caller, so it can be reported. Callers report one outcome per call, not per attempt.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from reliability_assets.resources.store import ReliabilityStore


class BreakerState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


class BreakerConfig(BaseModel):
    sliding_window_size: int = Field(default=20, ge=1)
    minimum_number_of_calls: int = Field(default=5, ge=1)
    failure_rate_threshold: float = Field(default=0.5, gt=0, le=1)
    slow_call_duration_threshold_s: float = Field(default=30.0, gt=0)
    slow_call_rate_threshold: float = Field(default=1.0, gt=0, le=1)
    wait_duration_in_open_state_s: float = Field(default=30.0, ge=0)
    permitted_number_of_calls_in_half_open_state: int = Field(default=1, ge=1)


@dataclass(frozen=True)
class Permission:
    allowed: bool
    state: BreakerState
    retry_in_s: float = 0.0  # when refused: how long until the breaker lets a probe through
    transition: str | None = None  # e.g. "open->half_open"


@dataclass(frozen=True)
class Outcome:
    state: BreakerState
    transition: str | None = None


_DEFAULTS = {
    "state": BreakerState.closed.value,
    "window": [],
    "open_until": 0.0,
    "open_reason": "",
    "half_open_in_flight": 0,
    "half_open_successes": 0,
    "transitions": 0,
    "updated_at": 0.0,
}


class CircuitBreaker:
    def __init__(self, store: ReliabilityStore, name: str, config: BreakerConfig | None = None) -> None:
        self.store, self.name, self.config = store, name, config or BreakerConfig()

    def acquire(self, *, lease_s: float = 120.0) -> Permission:
        """Ask to make one call. Refused while open; in half-open, only the permitted number of probes,
        each holding a lease of ``lease_s`` (the call's deadline): an expired lease is taken over."""
        now = time.time()
        with self.store.transaction() as connection:
            row = self.store.locked_row(connection, "breaker_state", self.name, _DEFAULTS)
            state = BreakerState(row["state"])
            if state is BreakerState.open:
                if now < row["open_until"]:
                    return Permission(False, state, retry_in_s=row["open_until"] - now)
                values = {"state": "half_open", "half_open_in_flight": 1, "half_open_successes": 0}
                self._write(connection, row, values | {"open_until": now + lease_s}, now)
                return Permission(True, BreakerState.half_open, transition="open->half_open")
            if state is BreakerState.half_open:
                in_flight = row["half_open_in_flight"]
                if in_flight >= self.config.permitted_number_of_calls_in_half_open_state:
                    if now < row["open_until"]:
                        return Permission(False, state, retry_in_s=row["open_until"] - now)
                    # Every lease has expired: their holders died. This call is the probe now.
                    values = {"half_open_in_flight": 1, "half_open_successes": 0, "open_until": now + lease_s}
                    self._write(connection, row, values, now)
                    return Permission(True, state, transition="half_open lease expired->half_open")
                until = max(row["open_until"], now + lease_s)
                self._write(connection, row, {"half_open_in_flight": in_flight + 1, "open_until": until}, now)
            return Permission(True, state)

    def record_success(self, duration_s: float) -> Outcome:
        slow = duration_s >= self.config.slow_call_duration_threshold_s
        return self._record("slow" if slow else "ok")

    def record_failure(self, reason: str = "", *, retry_after_s: float | None = None) -> Outcome:
        """A failed call. A failed probe re-opens for ``retry_after_s`` when the provider said how long."""
        return self._record("fail", reason, retry_after_s)

    def release(self) -> None:
        """A permitted call that was never made (e.g. cancelled before sending): free its probe slot."""
        with self.store.transaction() as connection:
            row = self.store.locked_row(connection, "breaker_state", self.name, _DEFAULTS)
            if row["state"] == BreakerState.half_open and row["half_open_in_flight"] > 0:
                self._write(
                    connection, row, {"half_open_in_flight": row["half_open_in_flight"] - 1}, time.time()
                )

    def open_for(self, seconds: float, reason: str) -> Outcome:
        """Open now for exactly ``seconds`` (a provider's Retry-After), whatever the window says."""
        now = time.time()
        with self.store.transaction() as connection:
            row = self.store.locked_row(connection, "breaker_state", self.name, _DEFAULTS)
            before = row["state"]
            until = max(row["open_until"] if before == "open" else 0.0, now + seconds)
            self._write(connection, row, self._opened(until, reason), now)
        return Outcome(BreakerState.open, None if before == "open" else f"{before}->open")

    def snapshot(self) -> dict:
        with self.store.transaction() as connection:
            return self.store.locked_row(connection, "breaker_state", self.name, _DEFAULTS)

    def _record(self, outcome: str, reason: str = "", retry_after_s: float | None = None) -> Outcome:
        now = time.time()
        config = self.config
        with self.store.transaction() as connection:
            row = self.store.locked_row(connection, "breaker_state", self.name, _DEFAULTS)
            state = BreakerState(row["state"])
            if state is BreakerState.half_open:
                in_flight = max(0, row["half_open_in_flight"] - 1)
                if outcome == "fail":
                    wait = retry_after_s if retry_after_s else config.wait_duration_in_open_state_s
                    values = self._opened(now + wait, reason or "probe failed")
                    self._write(connection, row, values, now)
                    return Outcome(BreakerState.open, "half_open->open")
                successes = row["half_open_successes"] + 1
                if successes >= config.permitted_number_of_calls_in_half_open_state:
                    values = {"state": "closed", "window": [], "half_open_in_flight": 0, "open_reason": ""}
                    values["open_until"] = 0.0
                    self._write(connection, row, values, now)
                    return Outcome(BreakerState.closed, "half_open->closed")
                self._write(
                    connection, row, {"half_open_in_flight": in_flight, "half_open_successes": successes}, now
                )
                return Outcome(state)
            if state is BreakerState.open:
                return Outcome(state)  # a straggler that started before the breaker opened
            window = [*row["window"], outcome][-config.sliding_window_size :]
            if len(window) >= config.minimum_number_of_calls:
                failure_rate = window.count("fail") / len(window)
                slow_rate = window.count("slow") / len(window)
                if (
                    failure_rate >= config.failure_rate_threshold
                    or slow_rate >= config.slow_call_rate_threshold
                ):
                    rates = f"failure rate {failure_rate:.0%}, slow-call rate {slow_rate:.0%}"
                    why = f"{rates} over {len(window)} calls"
                    values = self._opened(now + config.wait_duration_in_open_state_s, reason or why)
                    self._write(connection, row, values, now)
                    return Outcome(BreakerState.open, "closed->open")
            self._write(connection, row, {"window": window}, now)
            return Outcome(state)

    @staticmethod
    def _opened(until: float, reason: str) -> dict:
        return {
            "state": "open",
            "open_until": until,
            "open_reason": reason,
            "window": [],
            "half_open_in_flight": 0,
            "half_open_successes": 0,
        }

    def _write(self, connection: Connection, row: dict, values: dict, now: float) -> None:
        transitions = row["transitions"] + (1 if "state" in values and values["state"] != row["state"] else 0)
        self.store.update_row(
            connection,
            "breaker_state",
            self.name,
            {**values, "transitions": transitions, "updated_at": now},
        )
