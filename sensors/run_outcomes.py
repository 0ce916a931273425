"""Run outcomes: every failed run opens (or joins) an incident of its job and alerts, whatever launched it
(the UI, the CLI, a schedule, a sensor, or run monitoring marking a dead run failed): both sensors watch
every code location, because a CLI run has none. A run of the job that succeeds resolves it. Remediation
runs are followed by their plan (``sensors.plans``), which mitigates only after verifying the effect."""

from __future__ import annotations

import time
from typing import Any

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunStatusSensorContext,
    SensorDefinition,
    run_failure_sensor,
    run_status_sensor,
)

from reliability_assets.remediation import ACTION_TAG
from reliability_assets.resources.store_resource import ReliabilityStoreResource
from reliability_assets.sensors.check_failures import run_url

RUN_FAILURE_CHECK = "run_failure"
#: The failure mode of a run-failure incident (its review's first line).
RUN_FAILURE_MODE = "run failure: a step raised, or the run's process died"


def on_run_failure(context: RunFailureSensorContext, reliability: ReliabilityStoreResource) -> dict[str, Any]:
    from reliability_assets.alerts import Alert, AlertRouter
    from reliability_assets.incidents import IncidentLog, triage

    run = context.dagster_run
    subject = f"job:{run.job_name}"
    failed_steps = sorted({e.step_key for e in context.get_step_failure_events() if e.step_key is not None})
    message = context.failure_event.message or "the run failed"
    remediation = run.tags.get(ACTION_TAG)
    what = f"the {remediation} run {run.run_id[:8]} failed" if remediation else f"run {run.run_id[:8]} failed"
    evidence = f"failed steps: {', '.join(failed_steps) or 'none (run-level failure)'}\n\n{message}"
    incidents = IncidentLog(reliability.store)
    incident, _ = incidents.record_failure(
        asset=subject,
        check=RUN_FAILURE_CHECK,
        severity="ERROR",
        failed_at=_ended_at(context),
        run_id=run.run_id,
        evaluation_id=f"run:{run.run_id}",
        description=what,
        evidence=evidence,
        failure_mode=RUN_FAILURE_MODE,
    )
    if not incident.triage:
        text, tier = triage(incident)
        incident = incidents.set_triage(incident.id, text=text, tier=tier)
    outcome = AlertRouter(reliability.store).send(
        Alert(
            asset=subject,
            check=RUN_FAILURE_CHECK,
            severity="ERROR",
            title=f"ERROR: {what} ({run.job_name})",
            body=f"{evidence}\n\nIncident: {incident.id}.",
            run_id=run.run_id,
            run_url=run_url(run.run_id),
            incident_id=incident.id,
        )
    )
    incidents.detected(incident.id, at=time.time(), alert_id=outcome.alert_id)
    return {"incident": incident.id, "alert": outcome.alert_id}


def _ended_at(context: RunStatusSensorContext) -> float:
    record = context.instance.get_run_record_by_id(context.dagster_run.run_id)
    return record.end_time if record is not None and record.end_time else time.time()


def on_run_success(context: RunStatusSensorContext, reliability: ReliabilityStoreResource) -> str | None:
    """Any run of a job that succeeds resolves that job's run-failure incident."""
    from reliability_assets.incidents import IncidentLog

    run = context.dagster_run
    incident = IncidentLog(reliability.store).resolve(
        asset=f"job:{run.job_name}",
        check=RUN_FAILURE_CHECK,
        at=_ended_at(context),
        run_id=run.run_id,
        note=f"run {run.run_id[:8]} of the job succeeded",
    )
    return incident.id if incident else None


def build_run_outcome_sensors(
    *, default_status: DefaultSensorStatus = DefaultSensorStatus.RUNNING
) -> list[SensorDefinition]:
    @run_failure_sensor(
        name="run_failure_incidents", default_status=default_status, monitor_all_code_locations=True
    )
    def run_failure_incidents(
        context: RunFailureSensorContext, reliability: ReliabilityStoreResource
    ) -> None:
        on_run_failure(context, reliability)

    @run_status_sensor(
        run_status=DagsterRunStatus.SUCCESS,
        name="run_success_resolutions",
        default_status=default_status,
        monitor_all_code_locations=True,
    )
    def run_success_resolutions(
        context: RunStatusSensorContext, reliability: ReliabilityStoreResource
    ) -> None:
        on_run_success(context, reliability)

    return [run_failure_incidents, run_success_resolutions]
