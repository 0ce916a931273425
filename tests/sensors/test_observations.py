"""Where people look: the remediation sensor's alerts, incidents and actions on the failing asset's own
timeline (runless observations), the inbox and health views current without materializing anything, one
standing entry for a degraded state instead of an alert per run, and ticks that say why nothing launched.

Ticked in-process; the events a tick returns are written to the instance the way the daemon writes them
(``instance.report_runless_asset_event``)."""

from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    DagsterInstance,
    Definitions,
    FilesystemIOManager,
    asset,
    asset_check,
    define_asset_job,
)

from reliability_assets.alerts import AlertRouter
from reliability_assets.check_events import STANDING_KEY
from reliability_assets.incidents import IncidentLog
from reliability_assets.reference.definitions import build_defs
from reliability_assets.remediation import ACTION_TAG, reliability_policy
from reliability_assets.resources.store import ReliabilityStore
from reliability_assets.resources.store_resource import ReliabilityStoreResource
from reliability_assets.sensors.check_failures import NOTE_TAG, build_check_failure_sensor
from reliability_assets.sensors.observations import EVENT_KEY
from tests.support import evaluate_check_sensor, reference_resources, run_reference

STATE: dict[str, Any] = {"good": True, "standing": None}


@asset(metadata=reliability_policy(on_check_failure="fallback", max_actions=1, owner="team:data"))
def daily_table(context: AssetExecutionContext) -> list[str]:
    return ["last good rows"] if context.run.tags.get(ACTION_TAG) == "fallback" else ["fresh rows"]


@asset_check(asset=daily_table, name="fresh_enough")
def daily_table_fresh_enough(context: AssetCheckExecutionContext) -> AssetCheckResult:
    ok = STATE["good"] or context.run.tags.get(ACTION_TAG) == "fallback"
    meta = {STANDING_KEY: STATE["standing"]} if STATE["standing"] and ok else {}
    return AssetCheckResult(
        passed=ok,
        severity=AssetCheckSeverity.ERROR,
        description=None if ok else "3 rows older than a day",
        metadata=meta,
    )


toy_job = define_asset_job("toy_job")


def toy_defs(tmp_path: Path) -> Definitions:
    return Definitions(
        assets=[daily_table],
        asset_checks=[daily_table_fresh_enough],
        jobs=[toy_job],
        sensors=[build_check_failure_sensor(jobs=[toy_job], fallback_job="toy_job", triage_llm=False)],
        resources={
            "io_manager": FilesystemIOManager(base_dir=str(tmp_path / "io")),
            "reliability": ReliabilityStoreResource(store_url=f"sqlite:///{tmp_path / 'store.sqlite'}"),
        },
    )


def toy_run(defs: Definitions, instance: DagsterInstance, *, good: bool, **kwargs: Any) -> Any:
    STATE["good"] = good
    return defs.resolve_job_def("toy_job").execute_in_process(
        instance=instance, raise_on_error=False, **kwargs
    )


def tick(defs: Definitions, instance: DagsterInstance, cursor: str | None) -> Any:
    """One tick, its asset events written as the daemon writes them."""
    result = evaluate_check_sensor(defs, instance, cursor)
    for event in result.asset_events:
        instance.report_runless_asset_event(event)
    return result


def observed(instance: DagsterInstance, asset: str) -> list[dict[str, Any]]:
    """The asset's observations, oldest first, metadata values unwrapped."""
    records = instance.fetch_observations(AssetKey(asset), limit=200, ascending=True).records
    return [
        {k: getattr(v, "value", v) for k, v in r.asset_observation.metadata.items()}
        for r in records
        if r.asset_observation is not None
    ]


def events_of(instance: DagsterInstance, asset: str) -> list[str]:
    return [m[EVENT_KEY] for m in observed(instance, asset) if EVENT_KEY in m]


def test_alert_and_actions_land_on_the_failing_assets_timeline_once(tmp_path: Path) -> None:
    defs = toy_defs(tmp_path)
    store = ReliabilityStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
    with DagsterInstance.ephemeral() as instance:
        failed_run = toy_run(defs, instance, good=False).run_id
        first = tick(defs, instance, None)
        (request,) = first.run_requests
        assert events_of(instance, "daily_table") == ["ERROR alert: fresh_enough failed", "fallback planned"]
        alert, planned = observed(instance, "daily_table")
        (incident,) = IncidentLog(store).list(asset="daily_table")
        assert alert["checks"] == "daily_table:fresh_enough" and alert["severity"] == "ERROR"
        assert alert["incident"] == incident.id and f"opened incident {incident.id}" in alert["why"]
        assert alert["triggering_run"].endswith(f"/runs/{failed_run}")
        assert "3 rows older than a day" in alert["evidence"]
        assert alert["action"] == f"fallback planned once run {failed_run[:8]} ends"
        assert alert["alert"] == AlertRouter(store).inbox(asset="daily_table")[0].id
        assert planned["action"] == "fallback (toy_job)" and planned["incident"] == incident.id

        # A repeated tick, and a restart with the cursor lost: the store dedups, so do the observations.
        tick(defs, instance, first.cursor)
        tick(defs, instance, None)
        assert len(observed(instance, "daily_table")) == 2

        fallback = defs.resolve_job_def("toy_job").execute_in_process(
            instance=instance, tags=request.tags, asset_selection=request.asset_selection
        )
        after = tick(defs, instance, first.cursor)
        tick(defs, instance, after.cursor)
        assert events_of(instance, "daily_table") == [
            "ERROR alert: fresh_enough failed",
            "fallback planned",
            "fallback launched",
            "fallback verified: mitigated",
        ]
        verified = observed(instance, "daily_table")[-1]
        assert verified["remediation_run"].endswith(f"/runs/{fallback.run_id}")
        assert verified["triggering_run"].endswith(f"/runs/{failed_run}")
        assert "verified" in verified["why"]

        toy_run(defs, instance, good=True)
        tick(defs, instance, after.cursor)
        assert events_of(instance, "daily_table")[-1] == "incident resolved: fresh_enough"


def test_inbox_and_health_are_current_after_a_failing_run_without_materializing_anything(
    tmp_path: Path,
) -> None:
    defs = toy_defs(tmp_path)
    with DagsterInstance.ephemeral() as instance:
        quiet = tick(defs, instance, None)
        (health,) = observed(instance, "reliability_health")  # the first tick shows the board once
        assert health["checks"] == 1 and "never evaluated" in str(health["board_markdown"])
        (inbox,) = observed(instance, "alert_inbox")
        assert inbox["latest"] == "no alerts"
        tick(defs, instance, quiet.cursor)  # nothing changed: nothing observed
        assert len(observed(instance, "reliability_health")) == len(observed(instance, "alert_inbox")) == 1

        failed_run = toy_run(defs, instance, good=False).run_id
        failing = tick(defs, instance, quiet.cursor)
        inbox = observed(instance, "alert_inbox")[-1]
        assert inbox["alerts_shown"] == 1 and inbox["errors_shown"] == 1
        assert "daily_table:fresh_enough" in inbox["latest"] and failed_run[:8] in inbox["latest"]
        board = observed(instance, "reliability_health")[-1]
        assert (board["failing"], board["failing_error"]) == (1, 1)
        (row,) = [r.data for r in board["board"].records]
        assert (row["asset"], row["check"], row["result"], row["severity"]) == (
            "daily_table",
            "fresh_enough",
            "FAILED",
            "ERROR",
        )
        assert row["run"].endswith(f"/runs/{failed_run}") and row["evidence"] == "3 rows older than a day"
        assert row["incident"].endswith("(open)")
        assert instance.get_latest_materialization_event(AssetKey("alert_inbox")) is None
        counts = (len(observed(instance, "alert_inbox")), len(observed(instance, "reliability_health")))
        tick(defs, instance, failing.cursor)
        assert (
            len(observed(instance, "alert_inbox")),
            len(observed(instance, "reliability_health")),
        ) == counts


def test_a_standing_state_is_one_inbox_entry_while_it_lasts(tmp_path: Path) -> None:
    defs = toy_defs(tmp_path)
    store = ReliabilityStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
    with DagsterInstance.ephemeral() as instance:
        STATE["standing"] = "no model configured: the template wrote this"
        cursor = None
        try:
            for _ in range(3):
                toy_run(defs, instance, good=True)
                cursor = tick(defs, instance, cursor).cursor
        finally:
            STATE["standing"] = None
        (entry,) = AlertRouter(store).inbox(asset="daily_table")
        assert (entry.status, entry.alert.severity) == ("standing", "WARN")
        assert "no model configured" in entry.alert.title
        assert IncidentLog(store).list(asset="daily_table") == []  # a state, not an incident
        assert events_of(instance, "daily_table") == ["standing degraded state: fresh_enough"]
        assert observed(instance, "alert_inbox")[-1]["standing"] == 1
        board = observed(instance, "reliability_health")[-1]
        assert board["degraded"] == 1 and "passed (degraded)" in board["board_markdown"]

        toy_run(defs, instance, good=True, tags={ACTION_TAG: "fallback"})  # a remediation run: no verdict
        cursor = tick(defs, instance, cursor).cursor
        assert AlertRouter(store).inbox(asset="daily_table")[0].status == "standing"
        toy_run(defs, instance, good=True)  # the state ended
        tick(defs, instance, cursor)
        assert [e.status for e in AlertRouter(store).inbox(asset="daily_table")] == ["cleared"]
        assert events_of(instance, "daily_table")[-1] == "standing state cleared: fresh_enough"
        assert observed(instance, "alert_inbox")[-1]["standing"] == 0


def test_ticks_say_why_nothing_was_launched(tmp_path: Path) -> None:
    defs = toy_defs(tmp_path)
    with DagsterInstance.ephemeral() as instance:
        toy_run(defs, instance, good=False)
        first = tick(defs, instance, None)
        (request,) = first.run_requests
        assert first.skip_reason is None
        assert "fallback of daily_table" in request.tags[NOTE_TAG]
        defs.resolve_job_def("toy_job").execute_in_process(
            instance=instance, tags=request.tags, asset_selection=request.asset_selection
        )
        cursor = tick(defs, instance, first.cursor).cursor
        toy_run(defs, instance, good=False)  # max_actions=1: the bound is hit
        refused = tick(defs, instance, cursor)
        assert refused.run_requests == []
        reason = refused.skip_reason.skip_message
        assert reason.startswith("nothing launched: ")
        assert "fallback NOT launched: 1 automatic actions on daily_table in the last 6 h" in reason
        assert events_of(instance, "daily_table")[-1] == "fallback NOT launched (bound)"
        quiet = tick(defs, instance, refused.cursor).skip_reason.skip_message
        assert quiet.startswith("nothing launched: no new check evaluation (last decision at ")
        assert "fallback NOT launched" in quiet


def test_offline_without_a_model_two_runs_leave_one_inbox_entry_about_the_model(tmp_path: Path) -> None:
    store = ReliabilityStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
    defs = build_defs(reference_resources("clean", tmp_path))
    with DagsterInstance.ephemeral() as instance:
        cursor = None
        for _ in range(2):
            assert run_reference("clean", tmp_path, instance).success
            cursor = tick(defs, instance, cursor).cursor
        entries = AlertRouter(store).inbox(asset="executive_summary")
        assert [(e.alert.check, e.status) for e in entries] == [("served_by_model", "standing")]
        assert "no model configured" in entries[0].alert.title
        assert IncidentLog(store).list() == []  # a clean offline run opens nothing
        assert events_of(instance, "executive_summary") == ["standing degraded state: served_by_model"]
        board = observed(instance, "reliability_health")[-1]
        # Degraded by configuration, both: the summary (template) and the feedback labels (keyword rules).
        assert board["failing"] == 0 and board["degraded"] == 2 and board["checks"] == 25
        # The views are not materializable: "Materialize all" (the reference job) leaves them out.
        executable = defs.resolve_job_def("reference_pipeline").asset_layer.executable_asset_keys
        assert {AssetKey("alert_inbox"), AssetKey("reliability_health")} & executable == set()
        assert AssetKey("executive_summary") in executable
