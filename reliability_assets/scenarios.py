"""Headless end-to-end scenarios: a failure, the sensors' response, the outcome, in one command.

``reliability scenario drifted|corrupted|llm_down`` materializes a clean baseline, then the scenario, in
``$DAGSTER_HOME``; evaluates the same sensor definitions the daemon runs (check failures, then run
outcomes) against that instance; executes the runs they request exactly as requested (job, assets, tags),
as the daemon would; evaluates once more so passing checks mitigate or resolve; and prints a JSON summary:
the failed checks, the action taken, the alert sent and the incident.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dagster import (
    DagsterEventType,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    SensorResult,
    build_run_status_sensor_context,
    build_sensor_context,
)

from reliability_assets.policy import CHAOS_TAG

SCENARIOS = ("drifted", "corrupted", "llm_down")
#: The check whose failure each scenario is about: the summary names its alert and incident.
FOCUS = {
    "drifted": "customer_features:drift",
    "corrupted": "customers:gx_suite",
    "llm_down": "executive_summary:served_by_model",
}
CHECK_SENSOR = "check_failure_remediation"


def _defs(scenario: str) -> Definitions:
    from reliability_assets.analytics.generator import Scenario
    from reliability_assets.analytics.raw_sources import SyntheticSource
    from reliability_assets.definitions import build_defs, location_resources
    from reliability_assets.settings import load_settings

    settings = load_settings()
    source = SyntheticSource(scenario=Scenario(scenario), seed=settings.seed, size=settings.size)
    return build_defs(location_resources(source))


def _resources(defs: Definitions, *keys: str) -> dict[str, Any]:
    """The named resources ``defs`` has (a sensor may run without an optional one)."""
    resources = defs.resources or {}
    return {k: resources[k] for k in keys if k in resources}


def _execute(
    defs: Definitions, instance: DagsterInstance, job: str, *, tags: Mapping[str, str], selection: Any = None
) -> ExecuteInProcessResult:
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance, tags=dict(tags), asset_selection=selection, raise_on_error=False
    )


def evaluate_check_sensor(defs: Definitions, instance: DagsterInstance, cursor: str | None) -> SensorResult:
    """One tick of the check-failure sensor of ``defs`` against ``instance``, as the daemon runs it."""
    sensor = defs.resolve_sensor_def(CHECK_SENSOR)
    context = build_sensor_context(
        instance=instance,
        definitions=defs,
        cursor=cursor,
        resources=_resources(defs, "reliability", "triage_llm"),
    )
    output = sensor(context)
    if isinstance(output, SensorResult):
        return output
    found = [r for r in (list(output) if output is not None else []) if isinstance(r, SensorResult)]
    return found[0] if found else SensorResult(run_requests=[], cursor=cursor)


def evaluate_run_outcome_sensor(defs: Definitions, instance: DagsterInstance, run_id: str) -> None:
    """The run-status sensor of ``defs`` that this run's end triggers, as the daemon runs it (success:
    ``remediation_outcomes``, failure: ``run_failure_incidents``)."""
    run = instance.get_run_by_id(run_id)
    assert run is not None
    kind = DagsterEventType.RUN_SUCCESS if run.is_success else DagsterEventType.RUN_FAILURE
    events = [e.dagster_event for e in instance.all_logs(run_id, of_type=kind) if e.dagster_event]
    if not events:
        return
    name = "remediation_outcomes" if run.is_success else "run_failure_incidents"
    context = build_run_status_sensor_context(
        sensor_name=name,
        dagster_event=events[-1],
        dagster_instance=instance,
        dagster_run=run,
        resources=_resources(defs, "reliability"),
    )
    sensor = defs.resolve_sensor_def(name)
    sensor(context.for_run_failure() if not run.is_success else context)


def run_scenario(name: str) -> dict[str, Any]:
    from reliability_assets.alerts import AlertRouter
    from reliability_assets.check_history import executions_since, run_evaluations
    from reliability_assets.incidents import IncidentLog

    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}")
    baseline_defs = _defs("clean")
    defs = _defs("clean" if name == "llm_down" else name)
    with DagsterInstance.get() as instance:
        baseline = _execute(
            baseline_defs, instance, "reference_pipeline", tags={"reliability/scenario": "baseline"}
        )
        # The sensor's cursor as it stands after the baseline: the scenario's evaluations are what is new.
        keys = baseline_defs.resolve_asset_graph().asset_check_keys
        cursor = json.dumps(executions_since(instance, keys, {})[1])
        tags = {"reliability/scenario": name, **({CHAOS_TAG: "llm_down"} if name == "llm_down" else {})}
        failing = _execute(defs, instance, "reference_pipeline", tags=tags)
        tick = evaluate_check_sensor(defs, instance, cursor)
        remediations = []
        for request in tick.run_requests or []:
            run = _execute(
                defs, instance, request.job_name or "", tags=request.tags, selection=request.asset_selection
            )
            evaluate_run_outcome_sensor(defs, instance, run.run_id)
            remediations.append(
                {
                    "run_id": run.run_id,
                    "job": request.job_name,
                    "action": request.tags.get("reliability/action"),
                    "success": run.success,
                    "run_key": request.run_key,
                }
            )
        evaluate_check_sensor(defs, instance, tick.cursor or cursor)  # passing checks of those runs mitigate
        failed = []
        for key in {e.asset_key for e in failing.get_asset_check_evaluations()}:
            _, evaluations = run_evaluations(instance, failing.run_id, key)
            failed += [f"{e.asset}:{e.check} ({e.severity})" for e in evaluations if not e.passed]

    store = _resources(defs, "reliability")["reliability"].store
    asset, _, check = FOCUS[name].partition(":")
    incidents = IncidentLog(store)
    incident = next((i for i in incidents.list(asset=asset) if i.check == check), None)
    alert = next((e for e in AlertRouter(store).inbox(asset=asset) if e.alert.check == check), None)
    return {
        "scenario": name,
        "baseline_run": baseline.run_id,
        "run_id": failing.run_id,
        "run_success": failing.success,
        "failed_checks": sorted(failed),
        "action": alert.alert.title.split("; ", 1)[-1] if alert else "none",
        "remediation_runs": remediations,
        "alert": {"id": alert.id, "title": alert.alert.title, "status": alert.status} if alert else None,
        "incident_id": incident.id if incident else None,
        "incident_status": incident.status if incident else None,
        "triage_tier": incident.triage_tier if incident else None,
    }
