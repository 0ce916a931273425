"""The fault-injection modes, in one place: the ``reliability/chaos`` run tag, ``RELIABILITY_CHAOS``,
``RELIABILITY_API_CHAOS`` and the resources' ``chaos`` fields accept these and nothing else, so a typo is
refused when the code location loads or before a run starts instead of silently injecting nothing."""

from __future__ import annotations

#: ``ResilientLLM``: the primary tier (or every tier) refuses connections.
LLM_FAULTS = ("llm_primary_down", "llm_down")
#: ``ResilientAPI`` forwards these to the local data API (``reliability_assets.data_api``): the documented
#: modes, then the ones that exist for testing clients.
API_FAULTS = ("api_down", "api_slow", "api_rate_limited", "api_bad_records")
API_TEST_FAULTS = ("api_truncated", "api_wrong_shape", "api_cursor_breaks", "api_flaky", "api_out_of_range")
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
