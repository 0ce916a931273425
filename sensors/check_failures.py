"""The remediation sensor: failed asset checks -> the asset's declared policy (fallback, rollback, alert).

Dagster OSS has no sensor type for asset-check evaluations (dagster issues #17573, #29896), and a failed
WARN or non-blocking check does not fail its run, so run-failure sensors never see it. This one reads
every check evaluation after its cursor (an event-log id) in one query, so it misses none and, because
each ``RunRequest`` carries a ``run_key`` derived from the evaluation's id, a restart that re-reads an
evaluation launches nothing twice. Every failure is alerted (inbox always; other channels by severity);
the policy's action is bounded per asset and window, so a fallback that fails again cannot loop.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from dagster import (
    AssetKey,
    AssetSelection,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from reliability_assets.check_history import Evaluation, evaluations_after
from reliability_assets.remediation import (
    ACTION_TAG,
    REASON_TAG,
    REMEDIATES_TAG,
    TRIGGER_CHECK_TAG,
    TRIGGER_EVALUATION_TAG,
    TRIGGER_RUN_TAG,
    Action,
    ReliabilityPolicy,
    policies_from,
)
from resources.reliability import ReliabilityStoreResource

UI_URL_ENV = "RELIABILITY_UI_URL"
BATCH = 200


def _graph(context: SensorEvaluationContext) -> Any:
    if context.repository_def is None:
        raise ValueError("the sensor needs its Definitions: build_sensor_context(definitions=...)")
    return context.repository_def.asset_graph


def run_url(run_id: str) -> str:
    return f"{os.environ.get(UI_URL_ENV, 'http://127.0.0.1:3000').rstrip('/')}/runs/{run_id}"


def _evidence(evaluation: Evaluation) -> str:
    """The failure in a person's terms: the check's description and any per-column table it carries."""
    meta = evaluation.metadata or {}
    parts = [evaluation.description or "failed"]
    for key in ("columns", "expectations"):
        if isinstance(meta.get(key), str):
            parts.append(str(meta[key]))
    if meta.get("report"):
        parts.append(f"report: {meta['report']}")
    return "\n\n".join(parts)


def _actions_in_window(context: SensorEvaluationContext, asset: str, policy: ReliabilityPolicy) -> int:
    since = datetime.now(UTC) - timedelta(seconds=policy.window_s)
    runs = context.instance.get_run_records(
        filters=RunsFilter(tags={REMEDIATES_TAG: asset}, created_after=since), limit=policy.max_actions + 1
    )
    return len(runs)


def remediation_requests(
    context: SensorEvaluationContext,
    evaluation: Evaluation,
    storage_id: int,
    policy: ReliabilityPolicy,
    launched: dict[str, int],
    fallback_job: str,
) -> tuple[list[RunRequest], str]:
    """The run(s) the policy asks for, and a sentence for the alert saying what was done."""
    action = policy.action_for(evaluation.check)
    if action in (Action.alert, Action.halt):
        return [], "no automatic action (policy: alert)" if action == Action.alert else "halted (policy)"
    taken = _actions_in_window(context, evaluation.asset, policy) + launched.get(evaluation.asset, 0)
    if taken >= policy.max_actions:
        hours = policy.window_s / 3600
        return (
            [],
            f"{action} NOT launched: {taken} automatic actions in the last {hours:g} h "
            f"(max {policy.max_actions})",
        )
    reason = f"{evaluation.asset}:{evaluation.check} failed in run {evaluation.run_id[:8]}"
    tags = {
        ACTION_TAG: str(action),
        REASON_TAG: reason,
        REMEDIATES_TAG: evaluation.asset,
        TRIGGER_CHECK_TAG: f"{evaluation.asset}:{evaluation.check}",
        TRIGGER_RUN_TAG: evaluation.run_id,
        TRIGGER_EVALUATION_TAG: str(storage_id),
    }
    run_key = f"{action}:{evaluation.asset}:{evaluation.check}:{storage_id}"
    if action == Action.rollback:
        request = RunRequest(run_key=run_key, job_name=policy.rollback_job, tags=tags)
        done = f"rollback launched ({policy.rollback_job})"
    else:
        key = AssetKey.from_user_string(evaluation.asset)
        selection = AssetSelection.assets(key).downstream().resolve(_graph(context))
        request = RunRequest(
            run_key=run_key, job_name=fallback_job, asset_selection=list(selection), tags=tags
        )
        done = f"fallback launched: {evaluation.asset} and downstream re-materialized in fallback mode"
    launched[evaluation.asset] = launched.get(evaluation.asset, 0) + 1
    return [request], done


def _alert(
    reliability: ReliabilityStoreResource, evaluation: Evaluation, policy: ReliabilityPolicy, done: str
) -> Any:
    from reliability_assets.alerts import Alert, AlertRouter

    routes = policy.routes.get(evaluation.severity, ["inbox"])  # type: ignore[call-overload]
    channels = None if "all" in routes else [r for r in routes if r != "inbox"]
    title = f"{evaluation.severity}: {evaluation.asset}:{evaluation.check} failed; {done}"
    alert = Alert(
        asset=evaluation.asset,
        check=evaluation.check,
        severity=evaluation.severity,
        title=title,
        body=f"{_evidence(evaluation)}\n\nAction: {done}. Owner: {policy.owner or 'unset'}.",
        run_id=evaluation.run_id,
        run_url=run_url(evaluation.run_id),
    )
    return AlertRouter(reliability.store).send(alert, routes=channels)


def evaluate(
    context: SensorEvaluationContext, reliability: ReliabilityStoreResource, *, fallback_job: str
) -> Iterator[Any]:
    cursor = int(context.cursor or 0)
    records = evaluations_after(context.instance, cursor, limit=BATCH)
    if not records:
        yield SkipReason(f"no check evaluation after event {cursor}")
        return
    graph = _graph(context)
    policies = policies_from({key: graph.get(key).metadata for key in graph.get_all_asset_keys()})
    requests: list[RunRequest] = []
    launched: dict[str, int] = {}
    for storage_id, evaluation in records:
        if evaluation.passed:
            continue
        policy = policies.get(AssetKey.from_user_string(evaluation.asset), ReliabilityPolicy())
        new, done = remediation_requests(context, evaluation, storage_id, policy, launched, fallback_job)
        requests += new
        outcome = _alert(reliability, evaluation, policy, done)
        context.log.info(
            f"{evaluation.asset}:{evaluation.check} (event {storage_id}): {done}; alert {outcome}"
        )
    from reliability_assets.alerts import AlertRouter

    AlertRouter(reliability.store).retry_pending()
    yield SensorResult(run_requests=requests, cursor=str(records[-1][0]))


def build_check_failure_sensor(
    *,
    jobs: Sequence[Any],  # JobDefinition or define_asset_job's result
    fallback_job: str,
    name: str = "check_failure_remediation",
    minimum_interval_seconds: int = 15,
    default_status: DefaultSensorStatus = DefaultSensorStatus.RUNNING,
) -> SensorDefinition:
    """The sensor, given the jobs it may launch: ``fallback_job`` (which must contain every asset with a
    fallback policy) and each policy's ``rollback_job``."""

    @sensor(
        name=name,
        jobs=list(jobs),
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description="Applies each asset's declared reliability policy when one of its checks fails: "
        "fallback runs, model rollback, alerts (inbox always). Cursor: the last evaluation's event id.",
    )
    def _sensor(context: SensorEvaluationContext, reliability: ReliabilityStoreResource) -> Any:
        yield from evaluate(context, reliability, fallback_job=fallback_job)

    return _sensor
