"""What the Dagster instance knows about asset-check evaluations, in one place.

Dagster OSS has no public API that lists check evaluations over time; everything here that leans on
Dagster's internals is confined to this module and pinned by ``tests/test_check_history.py``, which fails
loudly when a Dagster upgrade changes them.
"""

from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetKey, DagsterEventType, DagsterInstance, EventRecordsFilter


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


def evaluations_after(
    instance: DagsterInstance, cursor: int, *, limit: int = 200
) -> list[tuple[int, Evaluation]]:
    """Every check evaluation recorded after event-log id ``cursor``, oldest first, with its id: one query
    for all checks of all assets, so a sensor can keep a single integer cursor."""
    records = instance.event_log_storage.get_event_records(
        EventRecordsFilter(event_type=DagsterEventType.ASSET_CHECK_EVALUATION, after_cursor=cursor),
        limit=limit,
        ascending=True,
    )
    out = []
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is None:
            continue
        data = event.asset_check_evaluation_data
        out.append(
            (
                record.storage_id,
                Evaluation(
                    asset=data.asset_key.to_user_string(),
                    check=data.check_name,
                    passed=data.passed,
                    severity=data.severity.value,
                    run_id=record.run_id,
                    timestamp=record.timestamp,
                    description=data.description,
                    metadata={k: getattr(v, "value", v) for k, v in data.metadata.items()},
                ),
            )
        )
    return out
