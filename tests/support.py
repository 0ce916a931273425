"""Helpers the tests share: the expected graph, a real in-process run, event lookups."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from dagster import AssetSelection, DagsterInstance, ExecuteInProcessResult, materialize

from reliability_assets.analytics import ASSET_CHECKS, ASSETS, SyntheticSource
from resources.llm import ResilientLLM
from resources.reliability import ReliabilityStoreResource
from resources.storage import storage_resources

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
}
#: Non-blocking checks: nothing downstream to stop, but an ERROR when they fail.
NON_BLOCKING = WARN_ONLY | {
    "executive_summary:grounded",
    "customer_features:drift",
    "churn_scores:prediction_drift",
}

ASSET_NAMES = [
    "customers",
    "orders",
    "customer_features",
    "churn_model",
    "churn_scores",
    "customer_segments",
    "executive_kpis",
    "executive_summary",
]
#: The code location adds the alert inbox and the scorecard, which read the reliability store and the
#: event log rather than the pipeline.
LOCATION_ASSET_NAMES = [*ASSET_NAMES, "alert_inbox", "reliability_scorecard"]
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
    "executive_kpis:reconciles",
    "executive_summary:served_by_model",
    "executive_summary:grounded",
]


def reference_resources(scenario: str, home: Path, *, llm: ResilientLLM | None = None) -> dict[str, object]:
    """Resources of one test deployment in ``home``. Without ``llm``: no endpoint configured, as on a
    machine with no key."""
    store_url = f"sqlite:///{home / 'store.sqlite'}"
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
    """The whole graph (or ``selection``) in-process on ``instance``."""
    return materialize(
        [*ASSETS, *ASSET_CHECKS],
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
