"""Run-status sensors on real runs: a failed run opens an incident and alerts; a success resolves it."""

from pathlib import Path

from dagster import (
    DagsterInstance,
    Definitions,
    Failure,
    asset,
    define_asset_job,
)

from reliability_assets.alerts import AlertRouter
from reliability_assets.incidents import IncidentLog, review_defaults
from reliability_assets.resources.store import ReliabilityStore
from reliability_assets.resources.store_resource import ReliabilityStoreResource
from reliability_assets.sensors.run_outcomes import (
    RUN_FAILURE_CHECK,
    RUN_FAILURE_MODE,
    build_run_outcome_sensors,
)
from tests.support import evaluate_run_outcome_sensor

SHOULD_FAIL = {"now": True}


@asset
def nightly_export() -> int:
    if SHOULD_FAIL["now"]:
        raise Failure("the warehouse refused the connection", allow_retries=False)
    return 1


export_job = define_asset_job("export_job", selection=[nightly_export])


def test_a_failed_run_opens_an_incident_and_alerts_and_its_next_success_resolves_it(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    defs = Definitions(
        assets=[nightly_export],
        jobs=[export_job],
        sensors=build_run_outcome_sensors(),
        resources={"reliability": ReliabilityStoreResource(store_url=store_url)},
    )
    with DagsterInstance.ephemeral() as instance:
        SHOULD_FAIL["now"] = True
        failed = defs.resolve_job_def("export_job").execute_in_process(
            instance=instance, raise_on_error=False
        )
        assert not failed.success
        evaluate_run_outcome_sensor(defs, instance, failed.run_id)

        store = ReliabilityStore(store_url)
        (incident,) = IncidentLog(store).list(asset="job:export_job")
        assert (incident.check, incident.status, incident.first_run_id) == (
            RUN_FAILURE_CHECK,
            "open",
            failed.run_id,
        )
        assert "nightly_export" in incident.evidence and incident.detected_at is not None
        assert review_defaults(incident)["failure_mode"].startswith(RUN_FAILURE_MODE)
        (entry,) = AlertRouter(store).inbox(asset="job:export_job")
        assert entry.alert.severity == "ERROR" and entry.alert.incident_id == incident.id
        assert entry.alert.run_url and entry.alert.run_url.endswith(failed.run_id)

        SHOULD_FAIL["now"] = False
        ok = defs.resolve_job_def("export_job").execute_in_process(instance=instance)
        evaluate_run_outcome_sensor(defs, instance, ok.run_id)
        resolved = IncidentLog(store).get(incident.id)
        assert resolved.status == "resolved" and resolved.resolved_at >= resolved.opened_at
