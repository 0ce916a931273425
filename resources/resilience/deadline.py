"""One deadline per request, carried through every retry, wait, re-ask and fallback tier."""

from __future__ import annotations

import time


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def attempt_timeout(self, tier_timeout: float) -> float:
        """Each attempt gets min(its own timeout, time left)."""
        return min(tier_timeout, self.remaining())

    def allows_wait(self, seconds: float, *, reserve: float = 0.0) -> bool:
        """Whether waiting ``seconds`` still leaves ``reserve`` seconds for the call itself."""
        return seconds + reserve < self.remaining()
