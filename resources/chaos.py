"""The fault-injection modes, in one place: the ``reliability/chaos`` run tag, ``RELIABILITY_CHAOS``,
``RELIABILITY_API_CHAOS`` and the resources' ``chaos`` fields accept these and nothing else, so a typo is
refused when the code location loads, at launch (the fields are enums: the Launchpad offers the modes) or
before a run starts (the tag) instead of silently injecting nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


class LLMChaos(StrEnum):
    """``ResilientLLM.chaos``: the primary tier (or every tier) refuses connections."""

    off = ""
    llm_primary_down = "llm_primary_down"
    llm_down = "llm_down"


class APIChaos(StrEnum):
    """``ResilientAPI.chaos``: sent as ``X-Reliability-Chaos`` to the local data API
    (``reliability_assets.reference.data_api``), which fails on purpose in that way."""

    off = ""
    api_down = "api_down"
    api_slow = "api_slow"
    api_rate_limited = "api_rate_limited"
    api_bad_records = "api_bad_records"
    api_truncated = "api_truncated"
    api_wrong_shape = "api_wrong_shape"
    api_cursor_breaks = "api_cursor_breaks"
    api_flaky = "api_flaky"
    api_out_of_range = "api_out_of_range"


LLM_FAULTS: tuple[str, ...] = tuple(mode.value for mode in LLMChaos if mode.value)
#: The documented data API modes, then the ones that exist for testing clients.
API_FAULTS: tuple[str, ...] = tuple(
    m.value for m in APIChaos if m.name in ("api_down", "api_slow", "api_rate_limited", "api_bad_records")
)
API_TEST_FAULTS: tuple[str, ...] = tuple(m.value for m in APIChaos if m.value and m.value not in API_FAULTS)
NO_CHAOS = ("", "none")
ALL_FAULTS = (*LLM_FAULTS, *API_FAULTS, *API_TEST_FAULTS)


def check_chaos(value: str | None, *, where: str, allowed: tuple[str, ...] = ALL_FAULTS) -> str:
    """``value`` if it is a known mode (or off), else a ``ValueError`` naming ``where`` and the choices."""
    value = (value or "").strip()
    if value in NO_CHAOS or value in allowed:
        return "" if value in NO_CHAOS else value
    raise ValueError(
        f"{where}={value!r} is not a fault-injection mode. Fix: use one of {', '.join(allowed)}, or leave "
        f"it empty for no fault injection."
    )


@dataclass(frozen=True)
class LLMChaosPlan:
    """Which tiers one request fails on purpose, decided before it starts, so the result can say what was
    asked for even when there was nothing to fail (offline, no tier configured)."""

    mode: str = ""  # an LLM fault, or "" (off)
    targets: tuple[str, ...] = ()  # configured tiers that will refuse connections
    note: str = "off"  # what the result reports when no target was reached

    @classmethod
    def of(cls, value: str | None, *, tiers: Sequence[str], configured: Sequence[str]) -> LLMChaosPlan:
        """``value`` (a run tag, an argument, the resource's field) against the tiers, in order, and the
        configured ones. A data API fault is off for the LLM; an unknown value is a ``ValueError``."""
        mode = check_chaos(value, where="chaos")
        if mode not in LLM_FAULTS:
            return cls(note=f"off ({mode} is a data API fault)" if mode else "off")
        targets = tuple(configured[:1] if mode == LLMChaos.llm_primary_down else configured)
        if not targets:
            missing = f"{tiers[0]} not configured" if tiers and mode == LLMChaos.llm_primary_down else None
            return cls(mode, (), f"{mode} requested; {missing or 'no tier configured'}: nothing to fail")
        return cls(mode, targets, f"{mode} requested; not injected: no tier was called")

    @property
    def requested(self) -> bool:
        return bool(self.mode)

    def describe(self, *, tiers: Sequence[str], injected: Sequence[str], skipped: Mapping[str, str]) -> str:
        """What happened: the tiers that refused connections, and why a target was not reached."""
        if not injected:
            first = self.targets[0] if self.targets else ""
            why = skipped.get(first)
            return f"{self.mode} requested; not injected: {first}: {why}" if why else self.note
        parts = [f"{self.mode} requested; injected: {', '.join(injected)} refused connections"]
        # An injected tier may not be called at all: its breaker opened on earlier injected faults.
        parts += [f"{name}: {skipped[name]}" for name in injected if name in skipped]
        if self.mode == LLMChaos.llm_primary_down and tiers and injected[0] != tiers[0]:
            parts.append(f"{tiers[0]} not configured, so the first configured tier stood in")
        parts += [
            f"{name} not reached ({skipped.get(name) or 'an earlier tier served'})"
            for name in self.targets
            if name not in injected
        ]
        return "; ".join(parts)

    def event(self) -> dict[str, object]:
        """The ``chaos`` event a request emits once, when it starts (each injection emits its own)."""
        event: dict[str, object] = {"requested": self.mode, "targets": list(self.targets)}
        return event if self.targets else {**event, "note": self.note}
