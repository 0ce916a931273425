"""What the Dagster instance knows about asset-check evaluations, in one place.

Dagster OSS has no public API that lists check evaluations over time; everything here that leans on
Dagster's internals is confined to this module and pinned by ``tests/test_check_events.py``, which fails
loudly when a Dagster upgrade changes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

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
    instance: DagsterInstance, run_id: str, asset: AssetKey | Iterable[AssetKey] | None = None
) -> tuple[set[str], list[Evaluation]]:
    """The checks planned in ``run_id`` and the evaluations recorded so far: on ``asset`` (one key or
    several; planned names are then "asset:check"), or on every asset when None."""
    one = isinstance(asset, AssetKey)
    wanted = None if asset is None else ({asset} if isinstance(asset, AssetKey) else set(asset))
    planned: set[str] = set()
    evaluations = []
    kinds = {DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED, DagsterEventType.ASSET_CHECK_EVALUATION}
    for entry in instance.all_logs(run_id, of_type=kinds):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED:
            data = event.event_specific_data
            if data is not None and (wanted is None or data.asset_key in wanted):  # type: ignore[union-attr]
                name = data.check_name  # type: ignore[union-attr]
                planned.add(name if one else f"{data.asset_key.to_user_string()}:{name}")  # type: ignore[union-attr]
            continue
        evaluation = event.asset_check_evaluation_data
        if wanted is None or evaluation.asset_key in wanted:
            evaluations.append(
                Evaluation(
                    asset=evaluation.asset_key.to_user_string(),
                    check=evaluation.check_name,
                    passed=evaluation.passed,
                    severity=evaluation.severity.value,
                    run_id=run_id,
                    timestamp=entry.timestamp,
                    description=evaluation.description,
                    metadata={k: getattr(v, "value", v) for k, v in evaluation.metadata.items()},
                )
            )
    return planned, evaluations


def all_checks_passed(instance: DagsterInstance, run_id: str, asset: AssetKey) -> bool | None:
    """True when the run is over and every check it planned on ``asset`` was evaluated and passed;
    False when one failed or never reported; None while the run is still going."""
    return lineage_passed(instance, run_id, asset, upstream=())


@dataclass(frozen=True)
class Lineage:
    """The verdict of ``lineage`` and what it rests on (for the sentence a person reads)."""

    passed: bool | None
    planned: frozenset[str] = frozenset()  # "asset:check" planned on the asset and upstream
    failed: tuple[str, ...] = ()  # the asset's failed checks, then upstream ERROR ones "(upstream)"
    missing: tuple[str, ...] = ()  # planned, never reported


def lineage(
    instance: DagsterInstance, run_id: str, asset: AssetKey, *, upstream: Iterable[AssetKey]
) -> Lineage:
    """May the materialization of ``asset`` in ``run_id`` move state (become a drift reference, last-good
    data, a champion)? Passed when every check planned on it in that run passed and no ERROR check failed on
    an ``upstream`` asset in the same run (non-blocking ones included: a drifted input poisons what is
    built from it). Not passed as soon as one of those failed, or when the run ended with a check
    unreported; ``passed`` is None while the run is still going and a verdict is pending."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        return Lineage(False)
    upstream = set(upstream) - {asset}
    planned, evaluations = run_evaluations(instance, run_id, {asset, *upstream})
    name = asset.to_user_string()
    failed = sorted(f"{e.asset}:{e.check}" for e in evaluations if e.asset == name and not e.passed)
    failed += [
        f"{e.asset}:{e.check} (upstream)"
        for e in evaluations
        if e.asset != name and not e.passed and e.severity == "ERROR"
    ]
    missing = tuple(sorted(planned - {f"{e.asset}:{e.check}" for e in evaluations}))
    if failed:
        passed: bool | None = False
    elif not missing:  # planned checks are logged when the run is created: this is final
        passed = True
    elif not run.is_finished:
        passed = None
    else:  # the run is over: an unreported check (its step skipped or died) cannot vouch for the data
        passed = False
    return Lineage(passed, frozenset(planned), tuple(failed), missing)


def lineage_passed(
    instance: DagsterInstance, run_id: str, asset: AssetKey, *, upstream: Iterable[AssetKey]
) -> bool | None:
    """``lineage(...).passed``: the verdict alone."""
    return lineage(instance, run_id, asset, upstream=upstream).passed


def upstream_of(context: Any, asset: AssetKey) -> set[AssetKey]:
    """Every asset upstream of ``asset`` in the job of an execution ``context`` (its asset layer holds
    the whole graph of the code location, also when the run selects a subset)."""
    graph = context.job_def.asset_layer.asset_graph
    return set(graph.get_ancestor_asset_keys(asset))


@dataclass
class CheckCursor:
    """Where the check-failure sensor stands: per check, the newest execution id read, and the ids of
    executions that were still running when read (re-read each tick until they report or their run ends).
    Nothing waits behind a running check: later executions of the same check are read at once."""

    read: dict[str, int] = field(default_factory=dict)
    waiting: dict[str, list[int]] = field(default_factory=dict)


def executions_since(
    instance: DagsterInstance, keys: Iterable[AssetCheckKey], cursor: CheckCursor, *, page: int = 100
) -> tuple[list[tuple[int, Evaluation]], CheckCursor]:
    """Every evaluation of ``keys`` recorded since ``cursor``, oldest first, each with its execution id,
    and the advanced cursor.

    It reads the instance's check-execution table (one row per planned check, updated in place when the
    check reports). That table lives in the index shard, so this works on every storage, including the
    default SQLite one, whose event log is sharded per run (a single event id cannot be a cursor there).
    An execution still running is remembered in ``waiting``; one whose run ended (or was marked failed by
    run monitoring) without a result is dropped."""
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

    found: list[tuple[float, int, Evaluation]] = []
    advanced = CheckCursor()
    storage = instance.event_log_storage
    finished: dict[str, bool] = {}

    def run_finished(run_id: str) -> bool:
        if run_id not in finished:
            run = instance.get_run_by_id(run_id)
            finished[run_id] = run is None or run.is_finished
        return finished[run_id]

    for key in keys:
        name = key.to_user_string()
        after = cursor.read.get(name, 0)
        records, before = [], None
        while True:  # newest first, paged back until the cursor
            batch = storage.get_asset_check_execution_history(key, limit=page, cursor=before)
            records += [r for r in batch if r.id > after]
            if len(batch) < page or batch[-1].id <= after:
                break
            before = batch[-1].id
        for waiting_id in cursor.waiting.get(name, []):  # re-read what was still running
            again = storage.get_asset_check_execution_history(key, limit=1, cursor=waiting_id + 1)
            records += [r for r in again if r.id == waiting_id]
        still: list[int] = []
        for record in sorted(records, key=lambda r: r.id):
            if record.status == AssetCheckExecutionRecordStatus.PLANNED:
                if not run_finished(record.run_id):
                    still.append(record.id)  # not reported yet: read it again next tick
                continue
            event = record.event.dagster_event if record.event else None
            data = event.asset_check_evaluation_data if event else None
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
        advanced.read[name] = max([after, *(r.id for r in records)])
        if still:
            advanced.waiting[name] = still
    found.sort(key=lambda item: (item[0], item[1]))
    return [(execution_id, evaluation) for _, execution_id, evaluation in found], advanced


#: Check metadata key: a degraded state that is not a failure (e.g. no model configured). The check passes
#: and says so; the remediation sensor keeps one standing inbox entry per (asset, check) while it lasts.
STANDING_KEY = "reliability/standing"


def standing_notice(evaluation: Evaluation) -> str | None:
    """The standing degraded state an evaluation declares, if any."""
    value = (evaluation.metadata or {}).get(STANDING_KEY)
    return str(value) if value else None


def latest_evaluations(instance: DagsterInstance, keys: Iterable[AssetCheckKey]) -> dict[str, Evaluation]:
    """Each check's latest completed evaluation ("asset:check" -> evaluation; never-evaluated checks are
    absent): one indexed query per check, on the same check-execution table as ``executions_since``."""
    from dagster._core.storage.asset_check_execution_record import (
        COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES,
    )

    latest: dict[str, Evaluation] = {}
    storage = instance.event_log_storage
    for key in keys:
        records = storage.get_asset_check_execution_history(
            key, limit=1, status=set(COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES)
        )
        event = records[0].event if records else None
        data = event.dagster_event.asset_check_evaluation_data if event and event.dagster_event else None
        if event is None or data is None:
            continue
        latest[key.to_user_string()] = Evaluation(
            asset=data.asset_key.to_user_string(),
            check=data.check_name,
            passed=data.passed,
            severity=data.severity.value,
            run_id=records[0].run_id,
            timestamp=event.timestamp,
            description=data.description,
            metadata={k: getattr(v, "value", v) for k, v in data.metadata.items()},
        )
    return latest
