"""The check-failure sensor's logic on a real instance, ticked in-process (tests/e2e runs the daemon):
policies from the asset graph, one plan per ended run, idempotency across a restart, verification before
mitigation, the action bound, and the lineage gate that makes a drift rollback unnecessary."""

from pathlib import Path
from typing import Any

import pytest
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    DagsterInstance,
    Definitions,
    FilesystemIOManager,
    RunRequest,
    asset,
    asset_check,
    define_asset_job,
)

from reliability_assets.alerts import AlertRouter
from reliability_assets.incidents import IncidentLog
from reliability_assets.reference.analytics.champion import MODEL_NAME
from reliability_assets.reference.definitions import build_defs
from reliability_assets.registry import ModelRegistry
from reliability_assets.remediation import (
    ACTION_TAG,
    PLAN_TAG,
    REASON_TAG,
    REMEDIATES_TAG,
    ROLLBACK_TO_TAG,
    TRIGGER_CHECK_TAG,
    TRIGGER_RUN_TAG,
    reliability_policy,
)
from reliability_assets.remediation_plans import PlanBook
from reliability_assets.resources.store import ReliabilityStore
from reliability_assets.resources.store_resource import ReliabilityStoreResource
from reliability_assets.sensors.check_failures import build_check_failure_sensor
from tests.support import evaluate_check_sensor as tick
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


def test_failed_check_alerts_at_once_and_plans_one_fallback_once_the_run_ended(tmp_path: Path) -> None:
    defs = toy_defs(tmp_path)
    store = ReliabilityStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
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
        assert request.run_key == request.tags[PLAN_TAG] == f"fallback:{failed_run}"
        assert "failed in run" in request.tags[REASON_TAG]

        # Restart with the cursor kept: nothing new. With the cursor lost: the plan is in the store, the
        # same run_key is asked again (the daemon launches it once); no second alert.
        assert tick(defs, instance, first.cursor).run_requests == []
        again = tick(defs, instance, quiet.cursor)
        assert [r.run_key for r in again.run_requests] == [request.run_key]
        assert len(AlertRouter(store).inbox(asset="daily_table")) == 1

        incidents = IncidentLog(store)
        (incident,) = incidents.list(asset="daily_table")
        assert (incident.check, incident.status, incident.occurrences) == ("fresh_enough", "open", 1)
        assert incident.detected_at is not None and incident.detected_at >= incident.opened_at
        assert "3 rows older than a day" in incident.triage  # rule-based triage (no LLM resource)
        assert not any("launched" in a["action"] for a in incident.actions)  # no run exists yet

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

        # The next tick sees the run (launched), its success and its effect (verified): mitigated.
        after_fallback = tick(defs, instance, first.cursor)
        assert after_fallback.run_requests == []
        mitigated = incidents.get(incident.id)
        assert mitigated.status == "mitigated"
        actions = [a["action"] for a in mitigated.actions]
        assert actions.index("fallback launched") < actions.index("mitigated")
        assert [a["at"] for a in mitigated.actions] == sorted(a["at"] for a in mitigated.actions)
        (plan,) = PlanBook(store).list(trigger_run_id=failed_run)
        assert (plan.status, plan.run_id) == ("verified", result.run_id)
        tick(defs, instance, after_fallback.cursor)  # a repeat changes nothing
        assert incidents.get(incident.id).actions == mitigated.actions

        toy_run(defs, instance, good=True)
        tick(defs, instance, after_fallback.cursor)
        resolved = incidents.get(incident.id)
        assert resolved.status == "resolved" and resolved.resolved_by == "auto"
        assert incident.opened_at <= resolved.mitigated_at <= resolved.resolved_at

        alert = AlertRouter(store).inbox(asset="daily_table")[-1].alert
        assert "daily_table:fresh_enough failed" in alert.title and "fallback planned" in alert.title
        assert "3 rows older than a day" in alert.body and "team:data" in alert.body
        assert alert.run_url and alert.run_url.endswith(f"/runs/{failed_run}")


def test_a_fallback_that_fails_is_remediation_failed_not_mitigated(tmp_path: Path) -> None:
    defs = toy_defs(tmp_path)
    store = ReliabilityStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
    with DagsterInstance.ephemeral() as instance:
        failed_run = toy_run(defs, instance, good=False)
        first = tick(defs, instance, None)
        (request,) = first.run_requests
        # The fallback run fails (the asset is not even materialized by it): the effect is not there.
        result = defs.resolve_job_def("toy_job").execute_in_process(
            instance=instance,
            tags=request.tags,
            asset_selection=[AssetKey("downstream_report")],
            raise_on_error=False,
        )
        assert result.success
        tick(defs, instance, first.cursor)
        (plan,) = PlanBook(store).list(trigger_run_id=failed_run)
        assert plan.status == "failed" and "did not materialize daily_table" in plan.note
        (incident,) = IncidentLog(store).list(asset="daily_table")
        assert incident.status == "action_failed" and incident.mitigated_at is None
        titles = [e.alert.title for e in AlertRouter(store).inbox(asset="daily_table")]
        assert any("did not take effect" in t for t in titles)


def test_the_action_bound_counts_plans_exactly_and_says_it_was_hit(tmp_path: Path) -> None:
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
        statuses = sorted(p.status for p in PlanBook(store).list())
        assert statuses == ["refused", "refused", "verified", "verified"]


def test_a_remediation_runs_own_failure_is_never_remediated(tmp_path: Path) -> None:
    defs = toy_defs(tmp_path)
    store = ReliabilityStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
    with DagsterInstance.ephemeral() as instance:
        toy_run(defs, instance, good=False, tags={ACTION_TAG: "rollback"})  # a remediation that fails
        result = tick(defs, instance, None)
        assert result.run_requests == []
        assert PlanBook(store).list() == []
        (entry,) = AlertRouter(store).inbox(asset="daily_table")
        assert "is itself a rollback run" in entry.alert.title


def test_policy_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="rollback_job"):
        reliability_policy(on_check_failure="rollback")
    with pytest.raises(ValueError, match="on_check_failure"):
        reliability_policy(on_check_failure="reboot")


def test_a_drifted_run_never_promotes_so_no_rollback_is_needed(tmp_path: Path) -> None:
    store = ReliabilityStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
    registry = ModelRegistry(store)
    with DagsterInstance.ephemeral() as instance:
        clean = run_reference("clean", tmp_path, instance)
        clean_model = registry.champion(MODEL_NAME).version
        cursor = tick(build_defs(reference_resources("clean", tmp_path)), instance, None).cursor

        drifted = run_reference("drifted", tmp_path, instance)
        assert clean.success and drifted.success
        assert registry.champion(MODEL_NAME).version == clean_model  # the lineage gate kept the champion
        assert not [m for m in registry.history(MODEL_NAME) if m.run_id == drifted.run_id]

        defs = build_defs(reference_resources("drifted", tmp_path))
        result = tick(defs, instance, cursor)
        assert result.run_requests == []  # nothing to roll back
        (plan,) = PlanBook(store).list(trigger_run_id=drifted.run_id)
        assert (plan.action, plan.status) == ("rollback", "unnecessary")
        assert "promoted no churn model" in plan.note
        incident = IncidentLog(store).open_for(asset="customer_features", check="drift")
        assert incident is not None and incident.status == "mitigated"

        alerts = [e.alert for e in AlertRouter(store).inbox(asset="customer_features")]
        drift_alert = next(a for a in alerts if a.check == "drift")
        assert "rollback planned once run" in drift_alert.title
        assert "| return_rate | numerical | wasserstein |" in drift_alert.body  # per-column evidence

        # A clean run afterwards: the drifted run poisoned no reference, so nothing fails or acts.
        again = run_reference("clean", tmp_path, instance)
        assert again.success
        failed = [e for e in again.get_asset_check_evaluations() if not e.passed]
        assert [
            f"{e.asset_key.to_user_string()}:{e.check_name}" for e in failed if e.severity.value == "ERROR"
        ] == []
        assert tick(defs, instance, result.cursor).run_requests == []


def test_corrupted_sources_fall_back_to_the_last_good_data(tmp_path: Path) -> None:
    store = ReliabilityStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
    with DagsterInstance.ephemeral() as instance:
        # The baseline needs only the sources: the last good data the fallback serves.
        sources = AssetSelection.assets("customers", "orders")
        clean = run_reference("clean", tmp_path, instance, selection=sources)
        cursor = tick(build_defs(reference_resources("clean", tmp_path)), instance, None).cursor
        corrupted = run_reference("corrupted", tmp_path, instance)
        assert clean.success and not corrupted.success

        defs = build_defs(reference_resources("corrupted", tmp_path))
        result = tick(defs, instance, cursor)
        (request,) = result.run_requests  # one fallback run for every failed source of that run
        assert request.run_key == f"fallback:{corrupted.run_id}"
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
        assert gate.mitigated_at >= fallback_end(instance, fallback.run_id)


def fallback_end(instance: DagsterInstance, run_id: str) -> float:
    record = instance.get_run_record_by_id(run_id)
    assert record is not None and record.end_time is not None
    return record.end_time


def materialized_rows(result: Any, asset_name: str) -> int:
    (event,) = [
        e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset_name
    ]
    return int(event.materialization.metadata["dagster/row_count"].value)


MODEL_STATE: dict[str, Any] = {"good": True, "store": ""}


@asset(
    metadata=reliability_policy(
        on_check_failure="rollback", rollback_job="toy_rollback", rollback_model="toy", owner="team:ml"
    )
)
def toy_scores(context: AssetExecutionContext) -> str:
    """Promotes its own model version, then is checked (as churn_scores is by prediction_drift)."""
    registry = ModelRegistry(ReliabilityStore(MODEL_STATE["store"]))
    if context.run.tags.get(ACTION_TAG) == "rollback":
        target = context.run.tags.get(ROLLBACK_TO_TAG)
        registry.rollback("toy", reason="asked", run_id=context.run.run_id, to_version=target)
        return "rolled back"
    version = f"v-{context.run.run_id[:8]}"
    registry.register("toy", version, artifact=b"x", metrics={"auc": 0.8}, run_id=context.run.run_id)
    registry.record_checks("toy", version, passed=True, run_id=context.run.run_id)
    registry.promote("toy", version, reason="trained", run_id=context.run.run_id)
    return version


@asset_check(asset=toy_scores, name="prediction_drift", blocking=False)
def toy_scores_prediction_drift(context: AssetCheckExecutionContext) -> AssetCheckResult:
    rollback = context.run.tags.get(ACTION_TAG) == "rollback"
    return AssetCheckResult(passed=MODEL_STATE["good"] or rollback, severity=AssetCheckSeverity.ERROR)


toy_models = define_asset_job("toy_models", selection=[toy_scores])
toy_rollback = define_asset_job("toy_rollback", selection=[toy_scores], tags={ACTION_TAG: "rollback"})


def test_a_run_that_promoted_and_then_failed_is_rolled_back_to_exactly_the_champion_before_it(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    MODEL_STATE["store"] = url
    defs = Definitions(
        assets=[toy_scores],
        asset_checks=[toy_scores_prediction_drift],
        jobs=[toy_models, toy_rollback],
        sensors=[
            build_check_failure_sensor(
                jobs=[toy_models, toy_rollback], fallback_job="toy_models", triage_llm=False
            )
        ],
        resources={
            "io_manager": FilesystemIOManager(base_dir=str(tmp_path / "io")),
            "reliability": ReliabilityStoreResource(store_url=url),
        },
    )
    registry = ModelRegistry(ReliabilityStore(url))
    with DagsterInstance.ephemeral() as instance:
        MODEL_STATE["good"] = True
        defs.resolve_job_def("toy_models").execute_in_process(instance=instance)
        good = registry.champion("toy").version
        cursor = tick(defs, instance, None).cursor
        MODEL_STATE["good"] = False
        bad_run = defs.resolve_job_def("toy_models").execute_in_process(instance=instance).run_id
        assert registry.champion("toy").version != good  # this run promoted its model, then failed

        result = tick(defs, instance, cursor)
        (request,) = result.run_requests
        assert request.job_name == "toy_rollback" and request.tags[ROLLBACK_TO_TAG] == good
        assert request.run_key == f"rollback:{bad_run}:toy_rollback"
        assert tick(defs, instance, cursor).run_requests[0].run_key == request.run_key  # re-read: same key
        rolled = defs.resolve_job_def("toy_rollback").execute_in_process(instance=instance, tags=request.tags)
        assert rolled.success and registry.champion("toy").version == good
        tick(defs, instance, result.cursor)
        (plan,) = PlanBook(ReliabilityStore(url)).list(trigger_run_id=bad_run)
        assert (plan.action, plan.status, plan.target) == ("rollback", "verified", good)
        incident = IncidentLog(ReliabilityStore(url)).open_for(asset="toy_scores", check="prediction_drift")
        assert incident is not None and incident.status == "mitigated"

        # A failing run whose model a newer good run has already replaced: nothing to roll back.
        MODEL_STATE["good"] = False
        stale = defs.resolve_job_def("toy_models").execute_in_process(instance=instance).run_id
        MODEL_STATE["good"] = True
        defs.resolve_job_def("toy_models").execute_in_process(instance=instance)
        newest = registry.champion("toy").version
        assert tick(defs, instance, result.cursor).run_requests == []
        (plan,) = PlanBook(ReliabilityStore(url)).list(trigger_run_id=stale)
        assert plan.status == "unnecessary" and "moved on" in plan.note
        assert registry.champion("toy").version == newest
