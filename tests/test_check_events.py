"""Pins the Dagster event-log behaviour ``reliability_assets.check_events`` relies on: if a Dagster
upgrade changes how planned and evaluated checks are recorded, this fails before the sensors go blind."""

from __future__ import annotations

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    asset,
    asset_check,
    materialize,
)

from reliability_assets.check_events import (
    CheckCursor,
    all_checks_passed,
    executions_since,
    run_evaluations,
)

OUTCOME = {"fine": True, "picky": True}


@asset
def numbers() -> list[int]:
    return [1, 2, 3]


@asset_check(asset=numbers, name="fine")
def numbers_fine() -> AssetCheckResult:
    return AssetCheckResult(passed=OUTCOME["fine"])


@asset_check(asset=numbers, name="picky")
def numbers_picky() -> AssetCheckResult:
    return AssetCheckResult(passed=OUTCOME["picky"], severity=AssetCheckSeverity.WARN)


def _run(instance: DagsterInstance, checks: list, **outcome: bool) -> str:
    OUTCOME.update({"fine": True, "picky": True, **outcome})
    return materialize([numbers, *checks], instance=instance, raise_on_error=False).run_id


def test_planned_and_evaluated_checks_come_back_per_run() -> None:
    key = AssetKey("numbers")
    with DagsterInstance.ephemeral() as instance:
        good = _run(instance, [numbers_fine, numbers_picky])
        planned, evaluations = run_evaluations(instance, good, key)
        assert planned == {"fine", "picky"}
        assert {(e.check, e.passed, e.severity) for e in evaluations} == {
            ("fine", True, "ERROR"),
            ("picky", True, "WARN"),
        }
        assert all(e.run_id == good and e.timestamp > 0 for e in evaluations)
        assert all_checks_passed(instance, good, key) is True

        warned = _run(instance, [numbers_fine, numbers_picky], picky=False)
        assert all_checks_passed(instance, warned, key) is False  # a WARN failure is still a failure
        assert all_checks_passed(instance, "no-such-run", key) is False


@asset_check(asset=numbers, name="crashes")
def numbers_crashes() -> AssetCheckResult:
    raise RuntimeError("the check itself broke")


def test_a_planned_check_that_never_reported_is_not_a_pass() -> None:
    key = AssetKey("numbers")
    with DagsterInstance.ephemeral() as instance:
        run_id = _run(instance, [numbers_fine, numbers_crashes])
        planned, evaluations = run_evaluations(instance, run_id, key)
        assert planned == {"fine", "crashes"}
        assert [e.check for e in evaluations] == ["fine"]
        assert all_checks_passed(instance, run_id, key) is False
        kinds = {e.dagster_event.event_type for e in instance.all_logs(run_id) if e.dagster_event}
        assert DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED in kinds


def test_executions_since_reads_every_check_once_on_the_default_sharded_sqlite_storage(tmp_path) -> None:
    """The default SQLite instance shards its event log per run, so a single event id cannot be a
    cross-run cursor; the check-execution table can."""
    keys = [numbers_fine.check_key, numbers_picky.check_key]
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        assert "Consolidated" not in type(instance.event_log_storage).__name__
        first = _run(instance, [numbers_fine, numbers_picky], picky=False)
        found, cursor = executions_since(instance, keys, CheckCursor())
        assert {(e.check, e.passed, e.run_id) for _, e in found} == {
            ("fine", True, first),
            ("picky", False, first),
        }
        assert len(found) == 2
        assert executions_since(instance, keys, cursor)[0] == []  # a restart with the cursor: nothing new

        second = _run(instance, [numbers_fine, numbers_picky])
        again, _ = executions_since(instance, keys, cursor)
        assert {(e.check, e.passed, e.run_id) for _, e in again} == {
            ("fine", True, second),
            ("picky", True, second),
        }


def test_latest_evaluations_are_the_newest_completed_ones_per_check() -> None:
    from dagster import AssetCheckKey

    from reliability_assets.check_events import latest_evaluations

    fine, picky = AssetCheckKey(AssetKey("numbers"), "fine"), AssetCheckKey(AssetKey("numbers"), "picky")
    with DagsterInstance.ephemeral() as instance:
        assert latest_evaluations(instance, [fine, picky]) == {}
        _run(instance, [numbers_fine, numbers_picky])
        warned = _run(instance, [numbers_fine, numbers_picky], picky=False)
        latest = latest_evaluations(instance, [fine, picky])
        assert {name: (e.passed, e.severity, e.run_id) for name, e in latest.items()} == {
            "numbers:fine": (True, "ERROR", warned),
            "numbers:picky": (False, "WARN", warned),
        }
