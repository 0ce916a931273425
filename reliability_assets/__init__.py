"""reliability-assets: Dagster assets that keep delivering when providers, APIs or data fail.

The public API is this module's ``__all__``: ``from reliability_assets import reliability_definitions,
ResilientLLM, build_drift_check``. Names resolve on first use (PEP 562), so ``import reliability_assets``
stays cheap and a code location pays only for what it uses (dagster, pandas and SQLAlchemy load with the
first name that needs them, great_expectations and evidently only when a check runs).
"""

from __future__ import annotations

import importlib
import os

from reliability_assets.resource_keys import LLM_KEY, RELIABILITY_STORE_KEY, TRIAGE_LLM_KEY

# Third-party telemetry off wherever the framework runs (GX and Evidently read these at import).
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

#: Public name -> the module that defines it (imported on first access).
_LAZY: dict[str, str] = {
    "ResilientLLM": "resources.llm",
    "LLMEndpoint": "resources.llm_endpoint",
    "LLMResult": "resources.llm_result",
    "ResilientAPI": "resources.api",
    "ReliabilityStoreResource": "resources.reliability",
    "ReliabilityPolicy": "reliability_assets.remediation",
    "reliability_policy": "reliability_assets.remediation",
    "ACTION_TAG": "reliability_assets.remediation",
    "build_gx_checks": "reliability_assets.checks.gx",
    "build_drift_check": "reliability_assets.checks.drift",
    "build_volume_check": "reliability_assets.checks.history",
    "build_schema_check": "reliability_assets.checks.history",
    "build_check_failure_sensor": "sensors.check_failures",
    "build_run_outcome_sensors": "sensors.run_outcomes",
    "reliability_definitions": "reliability_assets.wiring",
}

#: The public API: every lazy name and the resource keys (a literal list, so type checkers read it).
__all__ = [
    "ACTION_TAG",
    "LLM_KEY",
    "RELIABILITY_STORE_KEY",
    "TRIAGE_LLM_KEY",
    "LLMEndpoint",
    "LLMResult",
    "ReliabilityPolicy",
    "ReliabilityStoreResource",
    "ResilientAPI",
    "ResilientLLM",
    "build_check_failure_sensor",
    "build_drift_check",
    "build_gx_checks",
    "build_run_outcome_sensors",
    "build_schema_check",
    "build_volume_check",
    "reliability_definitions",
    "reliability_policy",
]

#: ``typing`` costs more than this whole module: type checkers read this constant as ``typing``'s.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from reliability_assets.checks.drift import build_drift_check
    from reliability_assets.checks.gx import build_gx_checks
    from reliability_assets.checks.history import build_schema_check, build_volume_check
    from reliability_assets.remediation import ACTION_TAG, ReliabilityPolicy, reliability_policy
    from reliability_assets.wiring import reliability_definitions
    from resources.api import ResilientAPI
    from resources.llm import ResilientLLM
    from resources.llm_endpoint import LLMEndpoint
    from resources.llm_result import LLMResult
    from resources.reliability import ReliabilityStoreResource
    from sensors.check_failures import build_check_failure_sensor
    from sensors.run_outcomes import build_run_outcome_sensors


def __getattr__(name: str) -> Any:
    """Import the public name's module on first access and cache the value here."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
