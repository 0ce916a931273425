"""What the Dagster instance knows about asset-check evaluations, in one place.

Dagster OSS has no public API that lists check evaluations over time; everything here that leans on
Dagster's internals is confined to this module and pinned by ``tests/test_check_history.py``, which fails
loudly when a Dagster upgrade changes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dagster import AssetCheckKey, AssetKey, DagsterEventType, DagsterInstance


@dataclass(frozen=True)
class Evaluation:
    asset: str
    check: str
    passed: bool
    severity: str  # "ERROR" | "WARN"
    run_id: str
    timestamp: float
    description: str | None = None
    metadata: dict[str, object] | None = None


def run_evaluations(
    instance: DagsterInstance, run_id: str, asset: AssetKey
) -> tuple[set[str], list[Evaluation]]:
    """The checks planned on ``asset`` in ``run_id`` and the evaluations recorded so far."""
    planned: set[str] = set()
    evaluations = []
    kinds = {DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED, DagsterEventType.ASSET_CHECK_EVALUATION}
    for entry in instance.all_logs(run_id, of_type=kinds):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED:
            data = event.event_specific_data
            if data is not None and data.asset_key == asset:  # type: ignore[union-attr]
                planned.add(data.check_name)  # type: ignore[union-attr]
            continue
        evaluation = event.asset_check_evaluation_data
        if evaluation.asset_key == asset:
            evaluations.append(
                Evaluation(
                    asset=asset.to_user_string(),
                    check=evaluation.check_name,
                    passed=evaluation.passed,
                    severity=evaluation.severity.value,
                    run_id=run_id,
                    timestamp=entry.timestamp,
                )
            )
    return planned, evaluations


def all_checks_passed(instance: DagsterInstance, run_id: str, asset: AssetKey) -> bool | None:
    """True when the run is over and every check it planned on ``asset`` was evaluated and passed;
    False when one failed or never reported; None while the run is still going."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        return False
    planned, evaluations = run_evaluations(instance, run_id, asset)
    if any(not e.passed for e in evaluations):
        return False
    if not run.is_finished:
        return None
    return planned <= {e.check for e in evaluations}


def executions_since(
    instance: DagsterInstance, keys: Iterable[AssetCheckKey], cursor: Mapping[str, int], *, page: int = 100
) -> tuple[list[tuple[int, Evaluation]], dict[str, int]]:
    """Every evaluation of ``keys`` recorded since ``cursor`` (check -> last execution id seen), oldest
    first, each with its execution id, and the advanced cursor.

    It reads the instance's check-execution table (one row per planned check, updated in place when the
    check reports). That table lives in the index shard, so this works on every storage, including the
    default SQLite one, whose event log is sharded per run (a single event id cannot be a cursor there).
    A check still running holds its key's cursor back, so its result is read when it arrives."""
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

    found: list[tuple[float, int, Evaluation]] = []
    advanced = dict(cursor)
    storage = instance.event_log_storage
    for key in keys:
        name = key.to_user_string()
        after = cursor.get(name, 0)
        records, before = [], None
        while True:  # newest first, paged back until the cursor
            batch = storage.get_asset_check_execution_history(key, limit=page, cursor=before)
            records += [r for r in batch if r.id > after]
            if len(batch) < page or batch[-1].id <= after:
                break
            before = batch[-1].id
        horizon = after
        for record in sorted(records, key=lambda r: r.id):
            if record.status == AssetCheckExecutionRecordStatus.PLANNED:
                run = instance.get_run_by_id(record.run_id)
                if run is not None and not run.is_finished:
                    break  # not reported yet: read it (and what follows) next time
                horizon = record.id  # the run ended without a result: nothing to read
                continue
            event = record.event.dagster_event if record.event else None
            data = event.asset_check_evaluation_data if event else None
            horizon = record.id
            if data is None:
                continue
            evaluation = Evaluation(
                asset=data.asset_key.to_user_string(),
                check=data.check_name,
                passed=data.passed,
                severity=data.severity.value,
                run_id=record.run_id,
                timestamp=record.event.timestamp if record.event else record.create_timestamp,
                description=data.description,
                metadata={k: getattr(v, "value", v) for k, v in data.metadata.items()},
            )
            found.append((evaluation.timestamp, record.id, evaluation))
        advanced[name] = horizon
    found.sort(key=lambda item: (item[0], item[1]))
    return [(execution_id, evaluation) for _, execution_id, evaluation in found], advanced
