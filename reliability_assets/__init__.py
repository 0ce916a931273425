"""reliability-assets: Dagster assets that keep delivering when providers, APIs or data fail.

The public API is this module's ``__all__``: ``from reliability_assets import reliability_definitions,
ResilientLLM, build_drift_check``. Names resolve on first use (PEP 562), so ``import reliability_assets``
stays cheap and a code location pays only for what it uses (dagster, pandas and SQLAlchemy load with the
first name that needs them, great_expectations and evidently only when a check runs).
"""

from __future__ import annotations

import os

from reliability_assets._lazy import lazy_attributes
from reliability_assets.resource_keys import LLM_KEY, RELIABILITY_STORE_KEY, TRIAGE_LLM_KEY

# Third-party telemetry off wherever the framework runs (GX and Evidently read these at import).
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

#: Public name -> the module that defines it (imported on first access).
_LAZY: dict[str, str] = {
    # Resources: LLM and API access that keeps delivering, the store, storage
    "ResilientLLM": "reliability_assets.resources.llm",
    "LLMEndpoint": "reliability_assets.resources.llm_endpoint",
    "LLMResult": "reliability_assets.resources.llm_result",
    "BatchResult": "reliability_assets.resources.llm_batch",
    "ResilientAPI": "reliability_assets.resources.api",
    "Pull": "reliability_assets.resources.api",
    "PullFailed": "reliability_assets.resources.api",
    "BoundedRecord": "reliability_assets.resources.api",
    "ReliabilityStoreResource": "reliability_assets.resources.store_resource",
    "ReliabilityStore": "reliability_assets.resources.store",
    "storage_resources": "reliability_assets.resources.io_managers",
    "dagster_home": "reliability_assets.resources.paths",
    # Gates: data-quality checks
    "build_gx_checks": "reliability_assets.checks.gx",
    "build_drift_check": "reliability_assets.checks.drift",
    "build_volume_check": "reliability_assets.checks.volume_schema",
    "build_schema_check": "reliability_assets.checks.volume_schema",
    "ungrounded_numbers": "reliability_assets.checks.llm_output",
    "build_tier_quality_check": "reliability_assets.checks.tier_quality",
    "tier_accuracy": "reliability_assets.checks.tier_quality",
    "tier_quality_result": "reliability_assets.checks.tier_quality",
    "tier_quality_spec": "reliability_assets.checks.tier_quality",
    "quarantine_records": "reliability_assets.resources.store",
    # Remediation: policies, sensors, and what they record
    "ReliabilityPolicy": "reliability_assets.remediation",
    "reliability_policy": "reliability_assets.remediation",
    "RemediationAction": "reliability_assets.remediation",
    "policies_from": "reliability_assets.remediation",
    "ACTION_TAG": "reliability_assets.remediation",
    "REASON_TAG": "reliability_assets.remediation",
    "REMEDIATES_TAG": "reliability_assets.remediation",
    "ROLLBACK_TO_TAG": "reliability_assets.remediation",
    "build_check_failure_sensor": "reliability_assets.sensors.check_failures",
    "build_run_outcome_sensors": "reliability_assets.sensors.run_outcomes",
    "reliability_definitions": "reliability_assets.wiring",
    "IncidentLog": "reliability_assets.incidents",
    "FAILURE_MODE_KEY": "reliability_assets.incidents.modes",
    "PlanBook": "reliability_assets.remediation_plans",
    "AlertRouter": "reliability_assets.alerts",
    "validate_channels": "reliability_assets.alert_channels",
    "replay_entries": "reliability_assets.dead_letters",
    # Last good data and models: what a fallback or a rollback serves
    "save_candidate": "reliability_assets.kept_frames",
    "settle_candidates": "reliability_assets.kept_frames",
    "active_frame": "reliability_assets.kept_frames",
    "KeptFrame": "reliability_assets.kept_frames",
    "ModelRegistry": "reliability_assets.registry",
    "NoRollbackTarget": "reliability_assets.registry",
    "run_evaluations": "reliability_assets.check_events",
    "lineage": "reliability_assets.check_events",
    "lineage_passed": "reliability_assets.check_events",
    "upstream_of": "reliability_assets.check_events",
    "STANDING_KEY": "reliability_assets.check_events",
    # Runs: the executor, the Launchpad, metadata, secrets
    "preflight_executor": "reliability_assets.preflight",
    "multiprocess_forkserver": "reliability_assets.preflight",
    "check_store_urls": "reliability_assets.preflight",
    "quiet_resources": "reliability_assets.launchpad",
    "table_metadata": "reliability_assets.metadata",
    "COMPUTE_RETRY": "reliability_assets.defaults",
    "redact": "reliability_assets.resources.redaction",
    "redact_metadata": "reliability_assets.resources.redaction",
    "redact_text": "reliability_assets.resources.redaction",
    "RedactedMessage": "reliability_assets.resources.redaction",
    "register_resources": "reliability_assets.resources.redaction",
    # Fault injection on purpose (the chaos tag and its modes)
    "CHAOS_TAG": "reliability_assets.tags",
    "LLMChaos": "reliability_assets.resources.chaos",
    "APIChaos": "reliability_assets.resources.chaos",
    "check_chaos": "reliability_assets.resources.chaos",
    "LLM_FAULTS": "reliability_assets.resources.chaos",
    "API_FAULTS": "reliability_assets.resources.chaos",
    "API_TEST_FAULTS": "reliability_assets.resources.chaos",
    "NO_CHAOS": "reliability_assets.resources.chaos",
    # Operating it: the CLI, launching runs through the UI, progress
    "reliability_cli": "reliability_assets.cli",
    "CLICommand": "reliability_assets.cli",
    "print_run_status": "reliability_assets.run_status",
    "latest_run_id": "reliability_assets.run_status",
    "DagsterUI": "reliability_assets.launch",
    "LaunchError": "reliability_assets.launch",
    "watch_run": "reliability_assets.progress",
    "init_home": "reliability_assets.home",
}

#: The public API: every lazy name and the resource keys (a literal list, so type checkers read it).
__all__ = [
    "ACTION_TAG",
    "API_FAULTS",
    "API_TEST_FAULTS",
    "CHAOS_TAG",
    "COMPUTE_RETRY",
    "FAILURE_MODE_KEY",
    "LLM_FAULTS",
    "LLM_KEY",
    "NO_CHAOS",
    "REASON_TAG",
    "RELIABILITY_STORE_KEY",
    "REMEDIATES_TAG",
    "ROLLBACK_TO_TAG",
    "STANDING_KEY",
    "TRIAGE_LLM_KEY",
    "APIChaos",
    "AlertRouter",
    "BatchResult",
    "BoundedRecord",
    "CLICommand",
    "DagsterUI",
    "IncidentLog",
    "KeptFrame",
    "LLMChaos",
    "LLMEndpoint",
    "LLMResult",
    "LaunchError",
    "ModelRegistry",
    "NoRollbackTarget",
    "PlanBook",
    "Pull",
    "PullFailed",
    "RedactedMessage",
    "ReliabilityPolicy",
    "ReliabilityStore",
    "ReliabilityStoreResource",
    "RemediationAction",
    "ResilientAPI",
    "ResilientLLM",
    "active_frame",
    "build_check_failure_sensor",
    "build_drift_check",
    "build_gx_checks",
    "build_run_outcome_sensors",
    "build_schema_check",
    "build_tier_quality_check",
    "build_volume_check",
    "check_chaos",
    "check_store_urls",
    "dagster_home",
    "init_home",
    "latest_run_id",
    "lineage",
    "lineage_passed",
    "multiprocess_forkserver",
    "policies_from",
    "preflight_executor",
    "print_run_status",
    "quarantine_records",
    "quiet_resources",
    "redact",
    "redact_metadata",
    "redact_text",
    "register_resources",
    "reliability_cli",
    "reliability_definitions",
    "reliability_policy",
    "replay_entries",
    "run_evaluations",
    "save_candidate",
    "settle_candidates",
    "storage_resources",
    "table_metadata",
    "tier_accuracy",
    "tier_quality_result",
    "tier_quality_spec",
    "ungrounded_numbers",
    "upstream_of",
    "validate_channels",
    "watch_run",
]

#: ``typing`` costs more than this whole module: type checkers read this constant as ``typing``'s.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from reliability_assets.alert_channels import validate_channels
    from reliability_assets.alerts import AlertRouter
    from reliability_assets.check_events import (
        STANDING_KEY,
        lineage,
        lineage_passed,
        run_evaluations,
        upstream_of,
    )
    from reliability_assets.checks.drift import build_drift_check
    from reliability_assets.checks.gx import build_gx_checks
    from reliability_assets.checks.llm_output import ungrounded_numbers
    from reliability_assets.checks.tier_quality import (
        build_tier_quality_check,
        tier_accuracy,
        tier_quality_result,
        tier_quality_spec,
    )
    from reliability_assets.checks.volume_schema import build_schema_check, build_volume_check
    from reliability_assets.cli import CLICommand, reliability_cli
    from reliability_assets.dead_letters import replay_entries
    from reliability_assets.defaults import COMPUTE_RETRY
    from reliability_assets.home import init_home
    from reliability_assets.incidents import IncidentLog
    from reliability_assets.incidents.modes import FAILURE_MODE_KEY
    from reliability_assets.kept_frames import KeptFrame, active_frame, save_candidate, settle_candidates
    from reliability_assets.launch import DagsterUI, LaunchError
    from reliability_assets.launchpad import quiet_resources
    from reliability_assets.metadata import table_metadata
    from reliability_assets.preflight import check_store_urls, multiprocess_forkserver, preflight_executor
    from reliability_assets.progress import watch_run
    from reliability_assets.registry import ModelRegistry, NoRollbackTarget
    from reliability_assets.remediation import (
        ACTION_TAG,
        REASON_TAG,
        REMEDIATES_TAG,
        ROLLBACK_TO_TAG,
        ReliabilityPolicy,
        RemediationAction,
        policies_from,
        reliability_policy,
    )
    from reliability_assets.remediation_plans import PlanBook
    from reliability_assets.resources.api import BoundedRecord, Pull, PullFailed, ResilientAPI
    from reliability_assets.resources.chaos import (
        API_FAULTS,
        API_TEST_FAULTS,
        LLM_FAULTS,
        NO_CHAOS,
        APIChaos,
        LLMChaos,
        check_chaos,
    )
    from reliability_assets.resources.io_managers import storage_resources
    from reliability_assets.resources.llm import ResilientLLM
    from reliability_assets.resources.llm_batch import BatchResult
    from reliability_assets.resources.llm_endpoint import LLMEndpoint
    from reliability_assets.resources.llm_result import LLMResult
    from reliability_assets.resources.paths import dagster_home
    from reliability_assets.resources.redaction import (
        RedactedMessage,
        redact,
        redact_metadata,
        redact_text,
        register_resources,
    )
    from reliability_assets.resources.store import ReliabilityStore, quarantine_records
    from reliability_assets.resources.store_resource import ReliabilityStoreResource
    from reliability_assets.run_status import latest_run_id, print_run_status
    from reliability_assets.sensors.check_failures import build_check_failure_sensor
    from reliability_assets.sensors.run_outcomes import build_run_outcome_sensors
    from reliability_assets.tags import CHAOS_TAG
    from reliability_assets.wiring import reliability_definitions


__getattr__, __dir__ = lazy_attributes(globals(), _LAZY)
