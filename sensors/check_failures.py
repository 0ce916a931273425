"""The remediation sensor: failed asset checks -> an alert at once, and, per failing run once it has ended,
one plan that applies the assets' declared policies (fallback, rollback).

The daemon ticks while runs are going: a check evaluation is visible mid-run, and a non-blocking ERROR
check does not stop its run, which may still train, promote and materialize downstream afterwards. So the
sensor alerts as soon as it sees a failure (time to detect stays one tick) but decides *actions* per
triggering run, once that run is terminal (``sensors.plans``): one fallback run covering every failed
asset of the run and their downstream, rollbacks only of what the run actually promoted. Plans live in
the reliability store, keyed by run, so re-reads after a restart or a retried tick decide nothing twice.

Dagster OSS has no sensor type for asset-check evaluations (dagster issues #17573, #29896), and a failed
WARN or non-blocking check does not fail its run, so run-failure sensors never see it. This one reads every
check's executions since its cursor (``check_events.executions_since``: nothing waits behind a running
check). Alert channels that fail never stop it: a broken channel leaves the alert in the inbox/outbox.

Where people look: every alert, incident and action is also a runless ``AssetObservation`` on the failing
asset (``sensors.observations``), and the sensor observes the ``alert_inbox`` and ``reliability_health``
views when they changed (one cheap query a tick for the inbox; the health board on new evaluations or
incident moves, pass-only changes at most every ``HEALTH_MIN_INTERVAL_S``). A tick that launches nothing
says why in its skip reason; one that launches says what else it decided in the runs' ``NOTE_TAG``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetObservation,
    DefaultSensorStatus,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from reliability_assets.check_events import CheckCursor, Evaluation, executions_since
from reliability_assets.remediation import ACTION_TAG, ReliabilityPolicy, RemediationAction, policies_from
from reliability_assets.resources.llm import ResilientLLM
from reliability_assets.resources.redaction import redact, redacted_logger
from reliability_assets.resources.store_resource import ReliabilityStoreResource
from reliability_assets.sensors.observations import UI_URL_ENV, observation, run_url
from reliability_assets.sensors.views import HEALTH_MIN_INTERVAL_S, observe_views, standing_state

if TYPE_CHECKING:
    from reliability_assets.alerts import AlertRouter
    from reliability_assets.incidents import Incident, IncidentLog

__all__ = ["HEALTH_MIN_INTERVAL_S", "UI_URL_ENV", "build_check_failure_sensor", "evaluate", "run_url"]
#: How often the daemon evaluates the sensor: the time to detect is at most this plus the tick itself.
DEFAULT_INTERVAL_S = 5
#: Run tag on the runs a tick requests: what else that tick decided (e.g. a rollback refused by a bound).
NOTE_TAG = "reliability/sensor_note"
_NOTE_MAX = 500


def graph_of(context: SensorEvaluationContext) -> Any:
    if context.repository_def is None:
        raise ValueError("the sensor needs its Definitions: build_sensor_context(definitions=...)")
    return context.repository_def.asset_graph


def evidence(evaluation: Evaluation) -> str:
    """The failure in a person's terms: the check's description and any per-column table it carries."""
    meta = evaluation.metadata or {}
    parts = [evaluation.description or "failed"]
    for key in ("columns", "expectations"):
        if isinstance(meta.get(key), str):
            parts.append(str(meta[key]))
    if meta.get("report"):
        parts.append(f"report: {meta['report']}")
    return "\n\n".join(parts)


def declared_failure_mode(context: SensorEvaluationContext, evaluation: Evaluation) -> str | None:
    """The failure mode the check declares in its spec's metadata (``FAILURE_MODE_KEY``), if any."""
    from reliability_assets.incidents import FAILURE_MODE_KEY

    graph = graph_of(context)
    key = AssetCheckKey(AssetKey.from_user_string(evaluation.asset), evaluation.check)
    if key not in graph.asset_check_keys:
        return None
    value = graph.get(key).metadata.get(FAILURE_MODE_KEY)
    value = getattr(value, "value", value)  # a MetadataValue, or the text as declared
    return str(value) if value else None


@dataclass
class SensorState:
    """The cursor: where each check's executions were read to, and the failing runs not yet planned."""

    checks: CheckCursor = field(default_factory=CheckCursor)
    pending: dict[str, float] = field(default_factory=dict)  # run id -> when its first failure was seen
    inbox: list[int] | None = None  # the inbox version last observed (AlertRouter.version)
    health_at: float = 0.0  # when the health board was last observed (0: never)
    health_dirty: bool = False  # passing evaluations arrived since
    last: str = ""  # the last decision, with its time: quiet ticks repeat it in their skip reason

    @classmethod
    def load(cls, cursor: str | None) -> SensorState:
        data = json.loads(cursor) if cursor else {}
        if "checks" not in data:  # the first milestone's cursor: check -> last execution id read
            return cls(CheckCursor(read={k: int(v) for k, v in data.items()}))
        checks = CheckCursor(read=data["checks"], waiting=data.get("waiting", {}))
        return cls(
            checks,
            dict(data.get("pending", {})),
            data.get("inbox"),
            float(data.get("health_at", 0.0)),
            bool(data.get("health_dirty", False)),
            str(data.get("last", "")),
        )

    def dump(self) -> str:
        data = {"checks": self.checks.read, "waiting": self.checks.waiting, "pending": self.pending}
        data |= {"inbox": self.inbox, "health_at": self.health_at, "health_dirty": self.health_dirty}
        data["last"] = self.last
        return json.dumps(data, sort_keys=True)


def router(store: Any, context: Any) -> AlertRouter:
    """The alert router; when the channel configuration is broken, the inbox alone (and an error log):
    alerting must never stop remediation."""
    from reliability_assets.alert_channels import AlertConfigError
    from reliability_assets.alerts import AlertRouter

    try:
        return AlertRouter(store)
    except AlertConfigError as error:
        redacted_logger(context.log).error(f"alert channels unusable, alerts go to the inbox only: {error}")
        return AlertRouter(store, channels={})


def send_alert(
    alerts: AlertRouter,
    context: Any,
    *,
    asset: str,
    check: str,
    severity: str,
    title: str,
    body: str,
    run_id: str | None,
    incident_id: str | None,
    policy: ReliabilityPolicy,
) -> str | None:
    """Route an alert by the policy; returns its id, or None when even the inbox failed (logged)."""
    from reliability_assets.alerts import Alert

    routes = policy.routes.get(severity, ["inbox"])  # type: ignore[call-overload]
    channels = None if "all" in routes else [r for r in routes if r != "inbox"]
    alert = Alert(
        asset=asset,
        check=check,
        severity=severity,
        title=title,
        body=body,
        run_id=run_id,
        run_url=run_url(run_id) if run_id else None,
        incident_id=incident_id,
    )
    try:
        return alerts.send(alert, routes=channels).alert_id
    except Exception as error:  # the store or a channel plugin: log it, never stop the tick's actions
        redacted_logger(context.log).error(
            f"alert on {asset}:{check} not recorded: {type(error).__name__}: {error}"
        )
        return None


def intent(policy: ReliabilityPolicy, evaluation: Evaluation, remediation: str | None) -> str:
    """What will happen, said when the failure is first seen (the run may still be going)."""
    action = policy.action_for(evaluation.check)
    if action == RemediationAction.alert:
        return "no automatic action (policy: alert)"
    if action == RemediationAction.halt:
        return "halted (policy): a person must act"
    if remediation:
        return f"no automatic action: run {evaluation.run_id[:8]} is itself a {remediation} run"
    return f"{action} planned once run {evaluation.run_id[:8]} ends"


def _on_failure(
    context: SensorEvaluationContext,
    incidents: IncidentLog,
    alerts: AlertRouter,
    evaluation: Evaluation,
    policy: ReliabilityPolicy,
    triage_llm: Any,
    events: list[AssetObservation],
) -> Incident:
    """Record the failure on its incident, alert at once (once per evaluation, observed on the asset), triage
    if not done yet."""
    from reliability_assets.incidents import triage

    asset, check, run_id = evaluation.asset, evaluation.check, evaluation.run_id
    new = not incidents.was_recorded(asset=asset, check=check, evaluation_id=run_id)
    incident, _ = incidents.record_failure(
        asset=asset,
        check=check,
        severity=evaluation.severity,
        failed_at=evaluation.timestamp,
        run_id=run_id,
        evaluation_id=run_id,
        description=evaluation.description or "failed",
        evidence=evidence(evaluation),
        failure_mode=declared_failure_mode(context, evaluation),
    )
    if new or incident.detected_at is None:
        run = context.instance.get_run_by_id(run_id)
        said = intent(policy, evaluation, run.tags.get(ACTION_TAG) if run else None)
        alert_id = send_alert(
            alerts,
            context,
            asset=asset,
            check=check,
            severity=evaluation.severity,
            title=f"{evaluation.severity}: {asset}:{check} failed; {said}",
            body=f"{evidence(evaluation)}\n\nAction: {said}. Owner: {policy.owner or 'unset'}. "
            f"Incident: {incident.id}.",
            run_id=run_id,
            incident_id=incident.id,
            policy=policy,
        )
        incident = incidents.detected(incident.id, at=time.time(), alert_id=alert_id)
        joined = incident.occurrences > 1
        events.append(
            observation(
                asset,
                event=f"{evaluation.severity} alert: {check} failed",
                why=f"{asset}:{check} failed in run {run_id[:8]}; "
                f"{'joined' if joined else 'opened'} incident {incident.id}; {said}",
                checks=[f"{asset}:{check}"],
                severity=evaluation.severity,
                action=said,
                incident_ids=[incident.id],
                trigger_run_id=run_id,
                evidence=evidence(evaluation),
                alert_id=alert_id,
            )
        )
        redacted_logger(context.log).info(
            f"{asset}:{check} failed in run {run_id[:8]}: {said}; {incident.id}"
        )
    if not incident.triage:  # also on a tick retried after a crash mid-triage
        text, tier = triage(incident, llm=triage_llm)
        incident = incidents.set_triage(incident.id, text=text, tier=tier)
    return incident


def _on_pass(
    context: SensorEvaluationContext,
    incidents: IncidentLog,
    evaluation: Evaluation,
    events: list[AssetObservation],
) -> None:
    """A normal run passing a check with an unresolved incident: the primary path is back, resolved. A
    remediation run's pass proves only the remediation: its plan verifies and mitigates."""
    if (current := incidents.open_for(asset=evaluation.asset, check=evaluation.check)) is None:
        return
    run = context.instance.get_run_by_id(evaluation.run_id)
    if run is None or run.tags.get(ACTION_TAG):
        return
    note = f"run {evaluation.run_id[:8]} passed the check: primary path restored"
    resolved = incidents.resolve(
        asset=evaluation.asset,
        check=evaluation.check,
        at=evaluation.timestamp,
        run_id=evaluation.run_id,
        note=note,
    )
    if resolved is not None and resolved.status == "resolved" and current.status != "resolved":
        events.append(
            observation(
                evaluation.asset,
                event=f"incident resolved: {evaluation.check}",
                why=f"{note}; incident {resolved.id} resolved",
                checks=[f"{evaluation.asset}:{evaluation.check}"],
                incident_ids=[resolved.id],
                trigger_run_id=evaluation.run_id,
            )
        )


def evaluate(
    context: SensorEvaluationContext,
    reliability: ReliabilityStoreResource,
    *,
    fallback_job: str,
    triage_llm: Any = None,
    run_config: Mapping[str, Any] | None = None,
) -> Iterator[Any]:
    from reliability_assets.incidents import IncidentLog
    from reliability_assets.sensors.plans import Planner

    graph = graph_of(context)
    state = SensorState.load(context.cursor)
    records, state.checks = executions_since(context.instance, graph.asset_check_keys, state.checks)
    policies = policies_from({key: graph.get(key).metadata for key in graph.get_all_asset_keys()})
    store = reliability.store
    incidents = IncidentLog(store)
    alerts = router(store, context)
    events: list[AssetObservation] = []
    failures = 0
    standing = {(e.alert.asset, e.alert.check) for e in alerts.standing_entries()} if records else set()
    for _, evaluation in records:
        standing_state(context, alerts, evaluation, events, standing)
        if evaluation.passed:
            _on_pass(context, incidents, evaluation, events)
            continue
        failures += 1
        policy = policies.get(AssetKey.from_user_string(evaluation.asset), ReliabilityPolicy())
        _on_failure(context, incidents, alerts, evaluation, policy, triage_llm, events)
        state.pending.setdefault(evaluation.run_id, time.time())
    planner = Planner(
        context, store, incidents, alerts, policies, fallback_job=fallback_job, run_config=run_config
    )
    requests, decided = planner.plan_ended_runs(state.pending)
    for run_id in decided:
        state.pending.pop(run_id, None)
    planner.follow_open_plans()
    events += planner.events
    try:
        alerts.retry_pending()
    except Exception as error:  # an outbox retry must not undo the tick's decisions
        redacted_logger(context.log).error(f"alert outbox retry failed: {type(error).__name__}: {error}")
    events += observe_views(
        context, graph, state, alerts, incidents, changed=bool(events or failures), read=records
    )
    said = planner.summary()
    if said:
        state.last = f"{time.strftime('%H:%M:%S', time.gmtime())} UTC: {said}"[:_NOTE_MAX]
    else:
        said = (
            f"{len(records)} evaluation(s) read, {failures} failed" if records else "no new check evaluation"
        )
        said += f"; waiting for {len(state.pending)} failing run(s) to end" if state.pending else ""
        said += f" (last decision at {state.last})" if state.last else ""
    if requests:
        redacted_logger(context.log).info(said)
        note = redact(said)[:_NOTE_MAX]
        requests = [r.with_replaced_attrs(tags={**r.tags, NOTE_TAG: note}) for r in requests]
    skip = None if requests else SkipReason(redact(f"nothing launched: {said}"))
    yield SensorResult(run_requests=requests, cursor=state.dump(), skip_reason=skip, asset_events=events)


def build_check_failure_sensor(
    *,
    jobs: Sequence[Any],  # JobDefinition or define_asset_job's result
    fallback_job: str,
    name: str = "check_failure_remediation",
    minimum_interval_seconds: int = DEFAULT_INTERVAL_S,
    default_status: DefaultSensorStatus = DefaultSensorStatus.RUNNING,
    triage_llm: bool = True,
    run_config: Mapping[str, Any] | None = None,
) -> SensorDefinition:
    """The sensor, given the jobs it may launch: ``fallback_job`` (which must contain every asset with a
    fallback policy) and each policy's ``rollback_job``. ``run_config``: the run config of every
    remediation run (e.g. ``{"execution": {"config": {"in_process": {}}}}``: one process instead of one per
    step, so the fallback serves seconds sooner). It needs the ``reliability`` resource and, with
    ``triage_llm``, a ``triage_llm`` resource (a ResilientLLM with a short deadline) for incident triage;
    without it, triage is rule-based."""

    def decorate(fn: Any) -> SensorDefinition:
        return sensor(
            name=name,
            jobs=list(jobs),
            minimum_interval_seconds=minimum_interval_seconds,
            default_status=default_status,
            description="Alerts on every failed check at once; once the failing run has ended, applies "
            "the assets' declared reliability policies in one plan per run (one fallback run for every "
            "failed asset and its downstream; a rollback of what the run promoted), bounded per asset, and "
            "verifies the effect before an incident is mitigated.",
        )(fn)

    if triage_llm:

        def _with_llm(
            context: SensorEvaluationContext, reliability: ReliabilityStoreResource, triage_llm: ResilientLLM
        ) -> Any:
            yield from evaluate(
                context, reliability, fallback_job=fallback_job, triage_llm=triage_llm, run_config=run_config
            )

        return decorate(_with_llm)

    def _rule_based(context: SensorEvaluationContext, reliability: ReliabilityStoreResource) -> Any:
        yield from evaluate(context, reliability, fallback_job=fallback_job, run_config=run_config)

    return decorate(_rule_based)
