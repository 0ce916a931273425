"""Helpers the tests share: the expected graph, a real in-process run, event lookups."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from dagster import AssetKey, AssetSelection, DagsterInstance, ExecuteInProcessResult, materialize

from reliability_assets.reference.analytics import ASSET_CHECKS, ASSETS, SyntheticSource
from reliability_assets.resources.io_managers import storage_resources
from reliability_assets.resources.llm import ResilientLLM
from reliability_assets.resources.store_resource import ReliabilityStoreResource

REPO = Path(__file__).resolve().parents[1]
#: The local PostgreSQL server (trust auth, database ``test``); every store test also runs on it.
POSTGRES_URL = os.environ.get(
    "RELIABILITY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def postgres_unreachable() -> str | None:
    """Why PostgreSQL tests must skip, or None when the server answers."""
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return None
    except OSError as error:
        return f"no PostgreSQL server on 127.0.0.1:5432 ({error})"


#: Console scripts of the environment running the tests (reliability, dagster).
BIN = Path(sys.executable).parent

#: Checks that warn instead of blocking: a degraded output still ships, and says so.
WARN_ONLY = {
    "customers:served_live",
    "orders:served_live",
    "orders:gx_suite_warnings",
    "customer_features:gx_suite_warnings",
    "executive_summary:served_by_model",
    "customers:volume",
    "orders:volume",
    "feedback_topics:degraded_share",
}
#: Non-blocking checks: nothing downstream to stop, but an ERROR when they fail.
NON_BLOCKING = WARN_ONLY | {
    "executive_summary:grounded",
    "customer_features:drift",
    "churn_scores:prediction_drift",
    "feedback_topics:label_drift",
    "feedback_topics:tier_quality",
}

ASSET_NAMES = [
    "customers",
    "orders",
    "customer_features",
    "churn_model",
    "churn_scores",
    "customer_segments",
    "feedback_topics",
    "executive_kpis",
    "executive_summary",
]
#: Views the remediation sensor observes (external AssetSpecs: never materialized, no retry policy).
OBSERVED_ASSET_NAMES = ["alert_inbox", "reliability_health"]
#: The code location adds the observed views and the scorecard, which read the reliability store and the
#: event log rather than the pipeline.
LOCATION_ASSET_NAMES = [*ASSET_NAMES, *OBSERVED_ASSET_NAMES, "reliability_scorecard"]
CHECK_NAMES = [
    "customers:served_live",
    "customers:quarantine_share",
    "customers:gx_suite",
    "customers:volume",
    "customers:schema_unchanged",
    "orders:served_live",
    "orders:quarantine_share",
    "orders:gx_suite",
    "orders:volume",
    "orders:schema_unchanged",
    "orders:gx_suite_warnings",
    "customer_features:gx_suite",
    "customer_features:gx_suite_warnings",
    "customer_features:drift",
    "churn_model:auc_floor",
    "churn_model:beats_champion",
    "churn_scores:gx_suite",
    "churn_scores:prediction_drift",
    "feedback_topics:deferred_share",
    "feedback_topics:degraded_share",
    "feedback_topics:label_drift",
    "feedback_topics:tier_quality",
    "executive_kpis:reconciles",
    "executive_summary:served_by_model",
    "executive_summary:grounded",
]


def reference_resources(
    scenario: str, home: Path, *, llm: ResilientLLM | None = None, store_url: str | None = None
) -> dict[str, object]:
    """Resources of one test deployment in ``home``. Without ``llm``: no endpoint configured, as on a
    machine with no key."""
    store_url = store_url or f"sqlite:///{home / 'store.sqlite'}"
    return {
        "source": SyntheticSource(scenario=scenario),
        "llm": llm or ResilientLLM(store_url=store_url),
        "triage_llm": ResilientLLM(store_url=store_url, deadline_s=5),
        "reliability": ReliabilityStoreResource(store_url=store_url, reports_dir=str(home / "reports")),
        **storage_resources(duckdb_path=home / "reliability.duckdb", artifacts_dir=home / "storage"),
    }


def run_reference(
    scenario: str,
    home: Path,
    instance: DagsterInstance,
    *,
    llm: ResilientLLM | None = None,
    tags: dict[str, str] | None = None,
    selection: AssetSelection | None = None,
) -> ExecuteInProcessResult:
    """The whole graph (or ``selection``) in-process on ``instance``, with the checks the defs folder
    declares as Components."""
    from reliability_assets.reference.definitions import component_defs

    return materialize(
        [*ASSETS, *ASSET_CHECKS, *(component_defs().asset_checks or [])],
        resources=reference_resources(scenario, home, llm=llm),
        instance=instance,
        raise_on_error=False,
        tags=tags,
        selection=selection,
    )


def check_results(result: ExecuteInProcessResult) -> dict[str, object]:
    return {
        f"{e.asset_check_key.asset_key.to_user_string()}:{e.check_name}": e
        for e in result.get_asset_check_evaluations()
    }


def materialized(result: ExecuteInProcessResult) -> dict[str, object]:
    return {
        e.asset_key.to_user_string(): e.materialization for e in result.get_asset_materialization_events()
    }


def evaluate_check_sensor(defs, instance, cursor):  # type: ignore[no-untyped-def]
    """One tick of the check-failure sensor of ``defs`` against ``instance``, in-process (logic tests; the
    live suite in tests/e2e runs the real daemon)."""
    from dagster import SensorResult, build_sensor_context

    resources = {k: v for k, v in (defs.resources or {}).items() if k in ("reliability", "triage_llm")}
    context = build_sensor_context(instance=instance, definitions=defs, cursor=cursor, resources=resources)
    output = defs.resolve_sensor_def("check_failure_remediation")(context)
    if isinstance(output, SensorResult):
        return output
    found = [r for r in (list(output) if output is not None else []) if isinstance(r, SensorResult)]
    return found[0] if found else SensorResult(run_requests=[], cursor=cursor)


def evaluate_run_outcome_sensor(defs, instance, run_id):  # type: ignore[no-untyped-def]
    """The run-status sensor of ``defs`` that this run's end triggers, in-process."""
    from dagster import DagsterEventType, build_run_status_sensor_context

    run = instance.get_run_by_id(run_id)
    assert run is not None
    kind = DagsterEventType.RUN_SUCCESS if run.is_success else DagsterEventType.RUN_FAILURE
    events = [e.dagster_event for e in instance.all_logs(run_id, of_type=kind) if e.dagster_event]
    if not events:
        return
    name = "run_success_resolutions" if run.is_success else "run_failure_incidents"
    context = build_run_status_sensor_context(
        sensor_name=name,
        dagster_event=events[-1],
        dagster_instance=instance,
        dagster_run=run,
        resources={k: v for k, v in (defs.resources or {}).items() if k == "reliability"},
    )
    sensor = defs.resolve_sensor_def(name)
    sensor(context.for_run_failure() if not run.is_success else context)


def corrupted_history(home: Path) -> dict[str, object]:
    """In-process, in ``home``: a clean run, a corrupted one, the sensor's plan for it, the fallback run it
    asks for, and the tick that verifies it (the scorecard's test data; the live suite does this for real)."""
    from reliability_assets.incidents import IncidentLog
    from reliability_assets.reference.definitions import build_defs
    from reliability_assets.resources.store import default_store_url

    os.environ["DAGSTER_HOME"] = str(home)
    store_url = default_store_url()  # what `reliability report` reads
    with DagsterInstance.get() as instance:
        # The baseline needs only the sources (and their checks): the last good data the fallback serves.
        clean = build_defs(reference_resources("clean", home, store_url=store_url))
        clean.resolve_job_def("reference_pipeline").execute_in_process(
            instance=instance,
            raise_on_error=False,
            asset_selection=[AssetKey("customers"), AssetKey("orders")],
        )
        defs = build_defs(reference_resources("corrupted", home, store_url=store_url))
        corrupted = defs.resolve_job_def("reference_pipeline").execute_in_process(
            instance=instance, raise_on_error=False
        )
        tick = evaluate_check_sensor(defs, instance, None)
        for request in tick.run_requests or []:
            defs.resolve_job_def(request.job_name).execute_in_process(
                instance=instance,
                tags=request.tags,
                asset_selection=request.asset_selection,
                raise_on_error=False,
            )
        evaluate_check_sensor(defs, instance, tick.cursor)
    from reliability_assets.resources.store import ReliabilityStore

    incident = next(
        i for i in IncidentLog(ReliabilityStore(store_url)).list(asset="customers") if i.check == "gx_suite"
    )
    return {
        "run_id": corrupted.run_id,
        "incident_status": incident.status,
        "requests": len(tick.run_requests or []),
    }
