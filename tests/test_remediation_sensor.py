"""The check-failure sensor on a real instance: policies from the asset graph, cursor and run_key
idempotency across a restart, the action bound, fallback runs, and the drift -> rollback chain."""

from pathlib import Path
from typing import Any

import pytest
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    DagsterInstance,
    Definitions,
    FilesystemIOManager,
    RunRequest,
    asset,
    asset_check,
    define_asset_job,
)

from reliability_assets.alerts import AlertRouter
from reliability_assets.analytics.champion import MODEL_NAME
from reliability_assets.definitions import build_defs
from reliability_assets.incidents import IncidentLog
from reliability_assets.registry import ModelRegistry
from reliability_assets.remediation import (
    ACTION_TAG,
    REASON_TAG,
    REMEDIATES_TAG,
    TRIGGER_CHECK_TAG,
    TRIGGER_EVALUATION_TAG,
    TRIGGER_RUN_TAG,
    reliability_policy,
)
from reliability_assets.scenarios import evaluate_check_sensor as tick
from resources.reliability import ReliabilityStoreResource
from resources.store import ReliabilityStore
from sensors.check_failures import build_check_failure_sensor
from tests.support import reference_resources, run_reference

STATE: dict[str, Any] = {"good": True}


@asset(metadata=reliability_policy(on_check_failure="fallback", max_actions=2, owner="team:data"))
def daily_table(context: AssetExecutionContext) -> list[str]:
    mode = context.run.tags.get(ACTION_TAG, "normal")
    context.add_output_metadata({"mode": mode, "degraded": mode == "fallback"})
    return ["last good rows"] if mode == "fallback" else ["fresh rows"]


@asset
def downstream_report(daily_table: list[str]) -> str:
    return ", ".join(daily_table)


@asset_check(asset=daily_table, name="fresh_enough")
def daily_table_fresh_enough(context: AssetCheckExecutionContext) -> AssetCheckResult:
    fallback = context.run.tags.get(ACTION_TAG) == "fallback"
    return AssetCheckResult(
        passed=STATE["good"] or fallback,
        severity=AssetCheckSeverity.ERROR,
        description=None if STATE["good"] or fallback else "3 rows older than a day",
    )


toy_job = define_asset_job("toy_job")


def toy_defs(tmp_path: Path) -> Definitions:
    return Definitions(
        assets=[daily_table, downstream_report],
        asset_checks=[daily_table_fresh_enough],
        jobs=[toy_job],
        sensors=[build_check_failure_sensor(jobs=[toy_job], fallback_job="toy_job", triage_llm=False)],
        resources={
            "io_manager": FilesystemIOManager(base_dir=str(tmp_path / "io")),
            "reliability": ReliabilityStoreResource(store_url=f"sqlite:///{tmp_path / 'store.sqlite'}"),
        },
    )


def toy_run(defs: Definitions, instance: DagsterInstance, *, good: bool, tags: dict | None = None) -> str:
    STATE["good"] = good
    result = defs.resolve_job_def("toy_job").execute_in_process(
        instance=instance, raise_on_error=False, tags=tags
    )
    return result.run_id


def test_failed_check_launches_a_tagged_idempotent_fallback_and_alerts(tmp_path: Path) -> None:
    defs = toy_defs(tmp_path)
    with DagsterInstance.ephemeral() as instance:
        toy_run(defs, instance, good=True)
        quiet = tick(defs, instance, None)
        assert quiet.run_requests == []  # a passing evaluation: nothing to do, cursor still moves
        failed_run = toy_run(defs, instance, good=False)

        first = tick(defs, instance, quiet.cursor)
        (request,) = first.run_requests
        assert isinstance(request, RunRequest)
        assert request.job_name == "toy_job"
        assert {k.to_user_string() for k in request.asset_selection} == {"daily_table", "downstream_report"}
        assert request.tags[ACTION_TAG] == "fallback"
        assert request.tags[REMEDIATES_TAG] == "daily_table"
        assert request.tags[TRIGGER_CHECK_TAG] == "daily_table:fresh_enough"
        assert request.tags[TRIGGER_RUN_TAG] == failed_run
        assert request.run_key == f"fallback:{failed_run}:daily_table"
        assert request.tags[TRIGGER_EVALUATION_TAG].isdigit()
        assert "failed in run" in request.tags[REASON_TAG]

        # Restart with the cursor kept: nothing new. Restart with the cursor lost: the same run_key,
        # which the daemon launches once.
        assert tick(defs, instance, first.cursor).run_requests == []
        again = tick(defs, instance, quiet.cursor)
        assert [r.run_key for r in again.run_requests] == [request.run_key]

        # The fallback run itself: the asset serves in its fallback mode and the check passes.
        result = defs.resolve_job_def("toy_job").execute_in_process(
            instance=instance, tags=request.tags, asset_selection=request.asset_selection
        )
        (materialization,) = [
            e.materialization
            for e in result.get_asset_materialization_events()
            if e.asset_key.to_user_string() == "daily_table"
        ]
        assert materialization.metadata["mode"].value == "fallback"
        assert materialization.metadata["degraded"].value is True

        store = ReliabilityStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
        incidents = IncidentLog(store)
        (incident,) = incidents.list(asset="daily_table")
        assert (incident.check, incident.status, incident.occurrences) == ("fresh_enough", "open", 1)
        assert incident.detected_at is not None and incident.detected_at >= incident.opened_at
        assert "3 rows older than a day" in incident.triage  # rule-based triage (no LLM resource)

        # The fallback run's passing check mitigates the incident; a normal passing run resolves it.
        after_fallback = tick(defs, instance, first.cursor)
        assert after_fallback.run_requests == []
        assert incidents.get(incident.id).status == "mitigated"
        toy_run(defs, instance, good=True)
        tick(defs, instance, after_fallback.cursor)
        resolved = incidents.get(incident.id)
        assert resolved.status == "resolved" and resolved.resolved_by == "auto"
        assert incident.opened_at <= resolved.mitigated_at <= resolved.resolved_at

        inbox = AlertRouter(store).inbox(asset="daily_table")
        assert len(inbox) >= 1
        alert = inbox[0].alert
        assert "daily_table:fresh_enough failed" in alert.title and "fallback launched" in alert.title
        assert "3 rows older than a day" in alert.body and "team:data" in alert.body
        assert alert.run_url and alert.run_url.endswith(f"/runs/{failed_run}")


def test_the_action_bound_stops_a_remediation_loop(tmp_path: Path) -> None:
    defs = toy_defs(tmp_path)
    with DagsterInstance.ephemeral() as instance:
        cursor = None
        launched = []
        for _ in range(4):
            toy_run(defs, instance, good=False)
            result = tick(defs, instance, cursor)
            cursor = result.cursor
            for request in result.run_requests:  # run what the daemon would launch
                launched.append(request.run_key)
                defs.resolve_job_def("toy_job").execute_in_process(
                    instance=instance, tags=request.tags, asset_selection=request.asset_selection
                )
        assert len(launched) == 2  # max_actions=2 in the window; the 3rd and 4th failures only alert
        store = ReliabilityStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
        titles = [e.alert.title for e in AlertRouter(store).inbox(asset="daily_table", limit=50)]
        assert any("NOT launched: 2 automatic actions" in t for t in titles)


def test_policy_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="rollback_job"):
        reliability_policy(on_check_failure="rollback")
    with pytest.raises(ValueError, match="on_check_failure"):
        reliability_policy(on_check_failure="reboot")


def test_drifted_inputs_roll_the_model_back_to_the_champion_before_the_drift(tmp_path: Path) -> None:
    store = ReliabilityStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
    registry = ModelRegistry(store)
    with DagsterInstance.ephemeral() as instance:
        clean = run_reference("clean", tmp_path, instance)
        clean_model = registry.champion(MODEL_NAME).version
        cursor = tick(build_defs(reference_resources("clean", tmp_path)), instance, None).cursor

        drifted = run_reference("drifted", tmp_path, instance)
        assert clean.success and drifted.success
        drifted_model = registry.champion(MODEL_NAME).version
        assert drifted_model != clean_model  # the drifted model passed its own checks and was promoted

        defs = build_defs(reference_resources("drifted", tmp_path))
        result = tick(defs, instance, cursor)
        rollbacks = [r for r in result.run_requests if r.tags[ACTION_TAG] == "rollback"]
        assert [r.tags[TRIGGER_CHECK_TAG] for r in rollbacks] == ["customer_features:drift"]
        (request,) = rollbacks
        assert request.job_name == "churn_model_rollback"

        rolled = defs.resolve_job_def("churn_model_rollback").execute_in_process(
            instance=instance, tags=request.tags
        )
        assert rolled.success
        assert registry.champion(MODEL_NAME).version == clean_model
        last = registry.history(MODEL_NAME)[-1]
        assert (last.kind, last.from_version, last.run_id) == ("rollback", drifted_model, rolled.run_id)
        assert "customer_features:drift failed" in last.reason

        alerts = [e.alert for e in AlertRouter(store).inbox(asset="customer_features")]
        drift_alert = next(a for a in alerts if a.check == "drift")
        assert "rollback launched (churn_model_rollback)" in drift_alert.title
        assert "| return_rate | numerical | wasserstein |" in drift_alert.body  # per-column evidence
        assert drift_alert.run_url and drift_alert.run_url.endswith(f"/runs/{drifted.run_id}")


def test_corrupted_sources_fall_back_to_the_last_good_data(tmp_path: Path) -> None:
    store = ReliabilityStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
    with DagsterInstance.ephemeral() as instance:
        clean = run_reference("clean", tmp_path, instance)
        cursor = tick(build_defs(reference_resources("clean", tmp_path)), instance, None).cursor
        corrupted = run_reference("corrupted", tmp_path, instance)
        assert clean.success and not corrupted.success

        defs = build_defs(reference_resources("corrupted", tmp_path))
        result = tick(defs, instance, cursor)
        (request,) = result.run_requests  # one fallback run for every failed source of that run
        assert request.run_key == f"fallback:{corrupted.run_id}:customers+orders"
        assert request.tags[REMEDIATES_TAG] == "customers,orders"
        selected = {k.to_user_string() for k in request.asset_selection}
        assert {"customers", "orders", "churn_scores", "executive_summary"} <= selected

        fallback = defs.resolve_job_def("reference_pipeline").execute_in_process(
            instance=instance,
            tags=request.tags,
            asset_selection=request.asset_selection,
            raise_on_error=False,
        )
        assert fallback.success
        served = {
            e.asset_key.to_user_string(): e.materialization.metadata
            for e in fallback.get_asset_materialization_events()
        }
        assert served["customers"]["degraded"].value is True
        assert served["customers"]["last_good_run_id"].value == clean.run_id
        assert served["orders"]["dagster/row_count"].value == materialized_rows(clean, "orders")
        assert "executive_summary" in served  # downstream refreshed from the last good data

        tick(defs, instance, result.cursor)
        incidents = IncidentLog(store)
        gate = incidents.open_for(asset="customers", check="gx_suite")
        assert gate is not None and gate.status == "mitigated"
        assert any("fallback launched" in a.get("action", "") for a in gate.actions)


def materialized_rows(result: Any, asset_name: str) -> int:
    (event,) = [
        e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset_name
    ]
    return int(event.materialization.metadata["dagster/row_count"].value)
