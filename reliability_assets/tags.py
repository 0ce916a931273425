"""Run tags of the framework that no single module owns (the remediation tags live with the policy that
sets them, ``remediation``; the public API exports both)."""

from __future__ import annotations

#: Fault injection on purpose: llm_primary_down, llm_down, api_down, api_slow, api_rate_limited,
#: api_bad_records (RELIABILITY_CHAOS / RELIABILITY_API_CHAOS set the default).
CHAOS_TAG = "reliability/chaos"
