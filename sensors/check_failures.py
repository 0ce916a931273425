"""The remediation sensor: failed asset checks -> the asset's declared policy (fallback, rollback, alert).

Dagster OSS has no sensor type for asset-check evaluations (dagster issues #17573, #29896), and a failed
WARN or non-blocking check does not fail its run, so run-failure sensors never see it. This one reads every
check's executions since its cursor (per check, the last execution id read; a check still running holds
its cursor back), so it misses none; each ``RunRequest`` carries a ``run_key`` derived from the execution
id, so a restart that re-reads an evaluation launches nothing twice. Every failure opens or joins an
incident and is alerted (inbox always; other channels by severity); the policy's action is bounded per
asset and window, so a fallback that fails again cannot loop.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

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

from reliability_assets.check_history import Evaluation, executions_since
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
from resources.llm import ResilientLLM
from resources.reliability import ReliabilityStoreResource

if TYPE_CHECKING:
    from reliability_assets.incidents import IncidentLog

UI_URL_ENV = "RELIABILITY_UI_URL"


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


@dataclass
class _Plan:
    """What one tick decided: rollback requests, and fallbacks grouped by the run that failed (one
    fallback run re-materializes every failed asset of that run and their downstream, once)."""

    requests: list[RunRequest] = field(default_factory=list)
    fallbacks: dict[str, list[tuple[Evaluation, int]]] = field(default_factory=dict)
    launched: dict[str, int] = field(default_factory=dict)
    #: automatic actions already in the window, per asset: one query per asset per tick
    earlier: dict[str, int] = field(default_factory=dict)


def decide(
    context: SensorEvaluationContext,
    evaluation: Evaluation,
    execution_id: int,
    policy: ReliabilityPolicy,
    plan: _Plan,
) -> tuple[Action | None, str]:
    """Apply the policy to one failed evaluation; returns the action taken and a sentence for people."""
    action = policy.action_for(evaluation.check)
    if action in (Action.alert, Action.halt):
        return None, "no automatic action (policy: alert)" if action == Action.alert else "halted (policy)"
    if evaluation.asset not in plan.earlier:
        plan.earlier[evaluation.asset] = _actions_in_window(context, evaluation.asset, policy)
    taken = plan.earlier[evaluation.asset] + plan.launched.get(evaluation.asset, 0)
    if taken >= policy.max_actions:
        hours = policy.window_s / 3600
        return None, (
            f"{action} NOT launched: {taken} automatic actions in the last {hours:g} h "
            f"(max {policy.max_actions})"
        )
    plan.launched[evaluation.asset] = plan.launched.get(evaluation.asset, 0) + 1
    if action == Action.rollback:
        tags = _tags(action, [(evaluation, execution_id)])
        run_key = f"rollback:{evaluation.asset}:{evaluation.check}:{execution_id}"
        plan.requests.append(RunRequest(run_key=run_key, job_name=policy.rollback_job, tags=tags))
        return action, f"rollback launched ({policy.rollback_job})"
    plan.fallbacks.setdefault(evaluation.run_id, []).append((evaluation, execution_id))
    return action, f"fallback launched: {evaluation.asset} and downstream re-materialized in fallback mode"


def _tags(action: Action, failures: list[tuple[Evaluation, int]]) -> dict[str, str]:
    first, execution_id = failures[0]
    checks = ", ".join(dict.fromkeys(f"{e.asset}:{e.check}" for e, _ in failures))
    return {
        ACTION_TAG: str(action),
        REASON_TAG: f"{checks} failed in run {first.run_id[:8]}",
        REMEDIATES_TAG: ",".join(dict.fromkeys(e.asset for e, _ in failures)),
        TRIGGER_CHECK_TAG: f"{first.asset}:{first.check}",
        TRIGGER_RUN_TAG: first.run_id,
        TRIGGER_EVALUATION_TAG: str(execution_id),
    }


def _fallback_requests(context: SensorEvaluationContext, plan: _Plan, fallback_job: str) -> list[RunRequest]:
    requests = []
    for trigger_run, failures in plan.fallbacks.items():
        assets = sorted(dict.fromkeys(e.asset for e, _ in failures))
        keys = [AssetKey.from_user_string(a) for a in assets]
        selection = AssetSelection.assets(*keys).downstream().resolve(_graph(context))
        requests.append(
            RunRequest(
                run_key=f"fallback:{trigger_run}:{'+'.join(assets)}",
                job_name=fallback_job,
                asset_selection=list(selection),
                tags=_tags(Action.fallback, failures),
            )
        )
    return requests


def _alert(
    reliability: ReliabilityStoreResource,
    evaluation: Evaluation,
    policy: ReliabilityPolicy,
    done: str,
    incident_id: str,
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
        body=f"{_evidence(evaluation)}\n\nAction: {done}. Owner: {policy.owner or 'unset'}. "
        f"Incident: {incident_id}.",
        run_id=evaluation.run_id,
        run_url=run_url(evaluation.run_id),
        incident_id=incident_id,
    )
    return AlertRouter(reliability.store).send(alert, routes=channels)


def _on_pass(context: SensorEvaluationContext, incidents: IncidentLog, evaluation: Evaluation) -> None:
    """A passing evaluation of a check with an open incident: a remediation run mitigates it, a normal
    run (the primary path is back) resolves it."""
    if incidents.open_for(asset=evaluation.asset, check=evaluation.check) is None:
        return
    run = context.instance.get_run_by_id(evaluation.run_id)
    action = run.tags.get(ACTION_TAG) if run else None
    asset, check, at, run_id = evaluation.asset, evaluation.check, evaluation.timestamp, evaluation.run_id
    if action:
        note = f"the {action} run {run_id[:8]} passed the check"
        incidents.mitigate(asset=asset, check=check, at=at, run_id=run_id, note=note)
    else:
        note = f"run {run_id[:8]} passed the check: primary path restored"
        incidents.resolve(asset=asset, check=check, at=at, run_id=run_id, note=note)


def evaluate(
    context: SensorEvaluationContext,
    reliability: ReliabilityStoreResource,
    *,
    fallback_job: str,
    triage_llm: Any = None,
) -> Iterator[Any]:
    from reliability_assets.alerts import AlertRouter
    from reliability_assets.incidents import IncidentLog, triage

    graph = _graph(context)
    cursor = json.loads(context.cursor) if context.cursor else {}
    records, advanced = executions_since(context.instance, graph.asset_check_keys, cursor)
    if not records:
        yield SensorResult(skip_reason=SkipReason("no new check evaluation"), cursor=json.dumps(advanced))
        return
    policies = policies_from({key: graph.get(key).metadata for key in graph.get_all_asset_keys()})
    incidents = IncidentLog(reliability.store)
    plan = _Plan()
    for execution_id, evaluation in records:
        if evaluation.passed:
            _on_pass(context, incidents, evaluation)
            continue
        policy = policies.get(AssetKey.from_user_string(evaluation.asset), ReliabilityPolicy())
        incident, created = incidents.record_failure(
            asset=evaluation.asset,
            check=evaluation.check,
            severity=evaluation.severity,
            failed_at=evaluation.timestamp,
            run_id=evaluation.run_id,
            evaluation_id=f"{evaluation.asset}:{evaluation.check}:{execution_id}",
            description=evaluation.description or "failed",
            evidence=_evidence(evaluation),
        )
        action, done = decide(context, evaluation, execution_id, policy, plan)
        if action is not None:
            incident = incidents.action_taken(incident.id, action=done, at=time.time())
        if created:
            text, tier = triage(incident, llm=triage_llm)
            incident = incidents.set_triage(incident.id, text=text, tier=tier)
        outcome = _alert(reliability, evaluation, policy, done, incident.id)
        incidents.detected(incident.id, at=time.time(), alert_id=outcome.alert_id)
        context.log.info(
            f"{evaluation.asset}:{evaluation.check} (execution {execution_id}): {done}; {incident.id}"
        )
    AlertRouter(reliability.store).retry_pending()
    requests = plan.requests + _fallback_requests(context, plan, fallback_job)
    yield SensorResult(run_requests=requests, cursor=json.dumps(advanced, sort_keys=True))


def build_check_failure_sensor(
    *,
    jobs: Sequence[Any],  # JobDefinition or define_asset_job's result
    fallback_job: str,
    name: str = "check_failure_remediation",
    minimum_interval_seconds: int = 15,
    default_status: DefaultSensorStatus = DefaultSensorStatus.RUNNING,
    triage_llm: bool = True,
) -> SensorDefinition:
    """The sensor, given the jobs it may launch: ``fallback_job`` (which must contain every asset with a
    fallback policy) and each policy's ``rollback_job``. It needs the ``reliability`` resource and, with
    ``triage_llm``, a ``triage_llm`` resource (a ResilientLLM with a short deadline) for incident triage;
    without it, triage is rule-based."""

    def decorate(fn: Any) -> SensorDefinition:
        return sensor(
            name=name,
            jobs=list(jobs),
            minimum_interval_seconds=minimum_interval_seconds,
            default_status=default_status,
            description="Applies each asset's declared reliability policy when one of its checks fails: "
            "fallback runs, model rollback, incidents, alerts (inbox always). Cursor: per check, the last "
            "check execution read.",
        )(fn)

    if triage_llm:

        def _with_llm(
            context: SensorEvaluationContext, reliability: ReliabilityStoreResource, triage_llm: ResilientLLM
        ) -> Any:
            yield from evaluate(context, reliability, fallback_job=fallback_job, triage_llm=triage_llm)

        return decorate(_with_llm)

    def _rule_based(context: SensorEvaluationContext, reliability: ReliabilityStoreResource) -> Any:
        yield from evaluate(context, reliability, fallback_job=fallback_job)

    return decorate(_rule_based)
