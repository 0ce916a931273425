"""Declared reliability policies: what the remediation sensor does when a check on an asset fails.

A policy is set once per asset, as asset metadata (``metadata=reliability_policy(...)``), and read back by
generic sensors from the asset graph: no asset carries remediation code of its own. An asset honours a
remediation run through the run's tags (``reliability/action``), not through special entry points.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, Literal

from dagster import AssetKey, MetadataValue
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

POLICY_KEY = "reliability/policy"
#: Run tags a remediation run carries: the action, a sentence saying why, and what triggered it.
ACTION_TAG = "reliability/action"
REASON_TAG = "reliability/reason"
REMEDIATES_TAG = "reliability/remediates"
TRIGGER_CHECK_TAG = "reliability/trigger_check"
TRIGGER_RUN_TAG = "reliability/trigger_run"
#: The remediation plan a run carries out (its key in the store), and a rollback's exact target version.
PLAN_TAG = "reliability/plan"
ROLLBACK_TO_TAG = "reliability/rollback_to"


class RemediationAction(StrEnum):
    fallback = "fallback"  # re-materialize the asset (and downstream) in its fallback mode
    rollback = "rollback"  # launch the policy's rollback job (e.g. the model's champion moves back)
    alert = "alert"  # tell people; change nothing
    halt = "halt"  # alert, and say that nothing will be done automatically


def _default_routes() -> dict[Literal["ERROR", "WARN"], list[str]]:
    return {"ERROR": ["all"], "WARN": ["inbox"]}


class ReliabilityPolicy(BaseModel):
    """What happens when a check on the asset fails. Every failure is alerted; ``on_check_failure`` (or a
    per-check entry in ``checks``) adds the action, decided once per failing run after it has ended. At most
    ``max_actions`` automatic actions per asset in ``window_s`` (counted exactly, per asset, from the
    store's plans): past that the sensor alerts that the bound was hit and stops. A remediation run's own
    failures are alerted, never remediated, so a remediation can never trigger itself into a loop."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    on_check_failure: RemediationAction = RemediationAction.alert
    checks: dict[str, RemediationAction] = Field(default_factory=dict)
    rollback_job: str | None = None
    rollback_model: str | None = Field(
        default=None,
        description="the model-registry name the rollback job moves: the sensor rolls back only what the "
        "failing run promoted, to the champion before it, and verifies the pointer afterwards",
    )
    owner: str | None = None
    routes: dict[Literal["ERROR", "WARN"], list[str]] = Field(
        default_factory=_default_routes,
        description="alert channels per severity: 'all', 'inbox', or channel names",
    )
    max_actions: int = Field(default=3, ge=0)
    window_s: float = Field(default=6 * 3600, gt=0)

    @field_validator("routes")
    @classmethod
    def _known_routes(cls, routes: dict[str, list[str]]) -> dict[str, list[str]]:
        """A misspelt route would silently send nothing: only 'all', 'inbox' and channel names."""
        from reliability_assets.alert_channels import ENV_VARS

        known = ("all", "inbox", *ENV_VARS)
        for severity, names in routes.items():
            if unknown := [name for name in names if name not in known]:
                raise ValueError(
                    f"routes[{severity!r}]: unknown alert route(s) {unknown}. Fix: use 'all', 'inbox' or a "
                    f"channel name ({', '.join(ENV_VARS)}; each is set by its RELIABILITY_ALERT_*_URL)"
                )
        return routes

    @model_validator(mode="after")
    def _rollback_needs_a_job(self) -> ReliabilityPolicy:
        if (
            RemediationAction.rollback in (self.on_check_failure, *self.checks.values())
            and not self.rollback_job
        ):
            raise ValueError("a 'rollback' action needs rollback_job= (the job that moves the pointer back)")
        return self

    def action_for(self, check: str) -> RemediationAction:
        return self.checks.get(check, self.on_check_failure)


def reliability_policy(
    *,
    on_check_failure: RemediationAction | str = RemediationAction.alert,
    checks: Mapping[str, RemediationAction | str] | None = None,
    rollback_job: str | None = None,
    rollback_model: str | None = None,
    owner: str | None = None,
    routes: Mapping[str, Sequence[str]] | None = None,
    max_actions: int = 3,
    window_s: float = 6 * 3600,
) -> dict[str, Any]:
    """Asset metadata declaring the policy: ``@asset(metadata=reliability_policy(on_check_failure=...))``.
    A wrong value fails when Definitions load, naming the field."""
    values: dict[str, Any] = {
        "on_check_failure": on_check_failure,
        "checks": dict(checks or {}),
        "rollback_job": rollback_job,
        "rollback_model": rollback_model,
        "owner": owner,
        "max_actions": max_actions,
        "window_s": window_s,
    }
    if routes is not None:
        values["routes"] = {k: list(v) for k, v in routes.items()}
    try:
        policy = ReliabilityPolicy.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'policy'}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"invalid reliability policy: {problems}") from None
    return {POLICY_KEY: MetadataValue.json(json.loads(policy.model_dump_json()))}


def policies_from(metadata_by_key: Mapping[AssetKey, Mapping[str, Any]]) -> dict[AssetKey, ReliabilityPolicy]:
    """The declared policies of an asset graph (assets without one get the default: alert only)."""
    found = {}
    for key, metadata in metadata_by_key.items():
        value = metadata.get(POLICY_KEY)
        if value is not None:
            data = value.value if isinstance(value, MetadataValue) else value
            found[key] = ReliabilityPolicy.model_validate(data)
    return found
