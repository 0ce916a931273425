"""Run-status sensors on real runs: a failed run opens an incident and alerts; a success resolves it."""

from pathlib import Path

from dagster import (
    DagsterEventType,
    DagsterInstance,
    Definitions,
    Failure,
    asset,
    build_run_status_sensor_context,
    define_asset_job,
)

from reliability_assets.alerts import AlertRouter
from reliability_assets.incidents import IncidentLog
from resources.reliability import ReliabilityStoreResource
from resources.store import ReliabilityStore
from sensors.run_outcomes import RUN_FAILURE_CHECK, build_run_outcome_sensors

SHOULD_FAIL = {"now": True}


@asset
def nightly_export() -> int:
    if SHOULD_FAIL["now"]:
        raise Failure("the warehouse refused the connection", allow_retries=False)
    return 1


export_job = define_asset_job("export_job", selection=[nightly_export])


def _sensor_for(defs: Definitions, instance: DagsterInstance, run_id: str, name: str, store_url: str) -> None:
    run = instance.get_run_by_id(run_id)
    assert run is not None
    kind = DagsterEventType.RUN_SUCCESS if run.is_success else DagsterEventType.RUN_FAILURE
    (event,) = [e.dagster_event for e in instance.all_logs(run_id, of_type=kind)]
    context = build_run_status_sensor_context(
        sensor_name=name,
        dagster_event=event,
        dagster_instance=instance,
        dagster_run=run,
        resources={"reliability": ReliabilityStoreResource(store_url=store_url)},
    )
    sensor = defs.resolve_sensor_def(name)
    sensor(context.for_run_failure() if name == "run_failure_incidents" else context)


def test_a_failed_run_opens_an_incident_and_alerts_and_its_next_success_resolves_it(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    defs = Definitions(assets=[nightly_export], jobs=[export_job], sensors=build_run_outcome_sensors())
    with DagsterInstance.ephemeral() as instance:
        SHOULD_FAIL["now"] = True
        failed = defs.resolve_job_def("export_job").execute_in_process(
            instance=instance, raise_on_error=False
        )
        assert not failed.success
        _sensor_for(defs, instance, failed.run_id, "run_failure_incidents", store_url)

        store = ReliabilityStore(store_url)
        (incident,) = IncidentLog(store).list(asset="job:export_job")
        assert (incident.check, incident.status, incident.first_run_id) == (
            RUN_FAILURE_CHECK,
            "open",
            failed.run_id,
        )
        assert "nightly_export" in incident.evidence and incident.detected_at is not None
        (entry,) = AlertRouter(store).inbox(asset="job:export_job")
        assert entry.alert.severity == "ERROR" and entry.alert.incident_id == incident.id
        assert entry.alert.run_url and entry.alert.run_url.endswith(failed.run_id)

        SHOULD_FAIL["now"] = False
        ok = defs.resolve_job_def("export_job").execute_in_process(instance=instance)
        _sensor_for(defs, instance, ok.run_id, "remediation_outcomes", store_url)
        resolved = IncidentLog(store).get(incident.id)
        assert resolved.status == "resolved" and resolved.resolved_at >= resolved.opened_at
