"""Client-side rate limiting shared by every process: token buckets in the reliability store.

Sending faster than the provider's quota only buys 429s and their waits. Each endpoint gets a requests
bucket (RPM) and a tokens bucket (TPM). Buckets refill at ``headroom`` x the quota and hold one second's
worth, so no 60-second window ever sees more than the quota; a request larger than the token bucket may
run it into debt (otherwise it could never be sent). A 429's Retry-After blocks the endpoint for every
process, and ``x-ratelimit-remaining-*`` headers pull the buckets down to what the provider says is left.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from reliability_assets.resources.store import ReliabilityStore

_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$")


def parse_reset(value: str) -> float | None:
    """OpenAI's reset durations: "1s", "6m0s", "20ms", "1h2m3.5s"."""
    match = _DURATION.match(value.strip())
    if not match or not any(match.groups()):
        return None
    hours, minutes, seconds, millis = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


class RateLimiter:
    def __init__(
        self,
        store: ReliabilityStore,
        name: str,
        *,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        headroom: float = 0.95,
    ) -> None:
        self.store, self.name = store, name
        self.limits = {
            "requests": requests_per_minute,
            "tokens": tokens_per_minute,
        }
        self.headroom = headroom

    def _rate(self, kind: str) -> float:
        quota = self.limits[kind]
        return (quota or 0) * self.headroom / 60.0

    def _capacity(self, kind: str) -> float:
        return max(1.0, self._rate(kind))

    def _bucket(self, connection: Connection, kind: str) -> dict:
        """The bucket, locked and refilled up to now. The clock is read *after* the lock is held, and the
        bucket's time never moves back: a writer that waited for the lock (seconds, under 4 processes x 8
        threads) would otherwise write its older time, and the next reader would refill those seconds
        again (measured: 25 requests/s sent against a 9.5/s pace)."""
        capacity = self._capacity(kind)
        row = self.store.locked_row(
            connection,
            "rate_buckets",
            f"{self.name}:{kind}",
            {"tokens": capacity, "updated_at": time.time(), "blocked_until": 0.0},
        )
        now = max(time.time(), row["updated_at"])
        row["tokens"] = min(capacity, row["tokens"] + (now - row["updated_at"]) * self._rate(kind))
        row["updated_at"] = now
        return row

    def try_acquire(self, tokens: int = 0) -> float:
        """Take one request (and ``tokens``) if available: 0.0. Otherwise take nothing and return how many
        seconds to wait before trying again."""
        costs = {"requests": 1.0, "tokens": float(tokens)}
        active = [kind for kind, quota in self.limits.items() if quota]
        with self.store.transaction() as connection:
            buckets = {kind: self._bucket(connection, kind) for kind in (active or ["requests"])}
            now = max(row["updated_at"] for row in buckets.values())
            blocked = max(row["blocked_until"] for row in buckets.values())
            if blocked > now:
                return blocked - now
            waits = [
                (min(costs[kind], self._capacity(kind)) - buckets[kind]["tokens"]) / self._rate(kind)
                for kind in active
                if buckets[kind]["tokens"] < min(costs[kind], self._capacity(kind))
            ]
            if waits:
                return max(waits)
            for kind in active:
                row = buckets[kind]
                values = {"tokens": row["tokens"] - costs[kind], "updated_at": row["updated_at"]}
                self.store.update_row(connection, "rate_buckets", f"{self.name}:{kind}", values)
        return 0.0

    def block_for(self, seconds: float) -> None:
        """Every process waits ``seconds`` (a provider's Retry-After) before the next request."""
        with self.store.transaction() as connection:
            for kind in ("requests", "tokens"):
                row = self._bucket(connection, kind)
                until = max(row["blocked_until"], row["updated_at"] + seconds)
                values = {"blocked_until": until, "tokens": row["tokens"], "updated_at": row["updated_at"]}
                self.store.update_row(connection, "rate_buckets", f"{self.name}:{kind}", values)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Align with the provider's own count: ``x-ratelimit-remaining-*`` and ``x-ratelimit-reset-*``."""
        lowered = {k.lower(): v for k, v in headers.items()}
        updates: dict[str, dict] = {}
        for kind in ("requests", "tokens"):
            remaining = lowered.get(f"x-ratelimit-remaining-{kind}")
            if remaining is None or not self.limits[kind]:
                continue
            try:
                left = float(remaining)
            except ValueError:
                continue
            reset = parse_reset(lowered.get(f"x-ratelimit-reset-{kind}", "")) or 0.0
            updates[kind] = {"left": left, "reset": reset}
        if not updates:
            return
        with self.store.transaction() as connection:
            for kind, update in updates.items():
                row = self._bucket(connection, kind)
                values = {"tokens": min(row["tokens"], update["left"]), "updated_at": row["updated_at"]}
                if update["left"] <= 0 and update["reset"] > 0:
                    values["blocked_until"] = max(row["blocked_until"], row["updated_at"] + update["reset"])
                self.store.update_row(connection, "rate_buckets", f"{self.name}:{kind}", values)
