"""The fault-injection modes, in one place: the ``reliability/chaos`` run tag, ``RELIABILITY_CHAOS``,
``RELIABILITY_API_CHAOS`` and the resources' ``chaos`` fields accept these and nothing else, so a typo is
refused when the code location loads, at launch (the fields are enums: the Launchpad offers the modes) or
before a run starts (the tag) instead of silently injecting nothing."""

from __future__ import annotations

from enum import StrEnum


class LLMChaos(StrEnum):
    """``ResilientLLM.chaos``: the primary tier (or every tier) refuses connections."""

    off = ""
    llm_primary_down = "llm_primary_down"
    llm_down = "llm_down"


class APIChaos(StrEnum):
    """``ResilientAPI.chaos``: sent as ``X-Reliability-Chaos`` to the local data API
    (``reliability_assets.data_api``), which fails on purpose in that way."""

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
