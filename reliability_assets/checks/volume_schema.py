"""Checks against the asset's own history: row volume and schema, read from past materializations.

A source that silently halves, or renames a column, passes every per-row expectation. Both checks compare
the asset with the metadata of its previous materializations (``dagster/row_count`` and
``dagster/column_schema``, see reliability_assets/metadata.py), read through the instance's event log.

"Previous" means before the materialization under check: this run's when the asset ran in the same run
(it is already recorded when the check starts), else the newest one, which is the data a check-only run or
a re-execution loads. Comparing with that one would compare the data with itself.
"""

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetIn,
    AssetKey,
    EventLogRecord,
    MetadataValue,
    TableSchema,
    multi_asset_check,
)

from reliability_assets.checks.severity import SeverityLike, check_severity
from reliability_assets.defaults import COMPUTE_RETRY
from reliability_assets.incidents.modes import mode_metadata
from reliability_assets.metadata import column_schema
from reliability_assets.resources.redaction import redact, redact_metadata

ROW_COUNT, COLUMN_SCHEMA = "dagster/row_count", "dagster/column_schema"
#: How far back the schema check looks for a materialization that recorded a column schema.
SCHEMA_LOOKBACK = 10


def _history(
    context: AssetCheckExecutionContext, key: AssetKey, limit: int
) -> tuple[EventLogRecord | None, list[EventLogRecord]]:
    """The materialization under check and up to ``limit`` before it, newest first."""
    records = context.instance.fetch_materializations(key, limit=limit + 2).records  # newest first
    if not records:
        return None, []
    current = next((r for r in records if r.run_id == context.run.run_id), records[0])
    return current, [r for r in records if r.storage_id < current.storage_id][:limit]


def _metadata(record: EventLogRecord | None, entry: str) -> Any:
    materialization = record.asset_materialization if record else None
    value = (materialization.metadata if materialization else {}).get(entry)
    return getattr(value, "value", value)


def _spec(key: AssetKey, name: str, blocking: bool, description: str, metadata: dict) -> AssetCheckSpec:
    return AssetCheckSpec(name, asset=key, blocking=blocking, description=description, metadata=metadata)


def build_volume_check(
    asset: str | Sequence[str] | AssetKey,
    *,
    name: str = "volume",
    history: int = 10,
    min_history: int = 3,
    max_change: float = 0.5,
    severity: SeverityLike = AssetCheckSeverity.WARN,
    blocking: bool = False,
    failure_mode: str | None = None,
) -> AssetChecksDefinition:
    """Fails when the row count moves more than ``max_change`` (a ratio) from the median of the last
    ``history`` materializations: the median, so one bad day does not become tomorrow's baseline.

    Passes until ``min_history`` earlier materializations recorded ``dagster/row_count``.
    """
    key = AssetKey.from_coercible(asset)
    level = check_severity(severity, where=f"check {name!r}")
    if history < 1 or not 1 <= min_history <= history:
        raise ValueError(
            f"check {name!r}: history={history}, min_history={min_history}; pass history >= 1 and "
            "1 <= min_history <= history (e.g. history=10, min_history=3)"
        )
    if max_change <= 0:
        raise ValueError(f"check {name!r}: max_change={max_change}; pass a ratio > 0 (0.5 allows +-50%)")
    label = key.to_user_string()

    @multi_asset_check(
        name=f"{'_'.join(key.path)}_{name}",
        specs=[
            _spec(
                key,
                name,
                blocking,
                f"Row count within +-{max_change:.0%} of the median of the last {history} materializations.",
                mode_metadata(failure_mode, builder="volume"),
            )
        ],
        ins={"table": AssetIn(key=key)},
        retry_policy=COMPUTE_RETRY,
        description=f"Row volume of {label} against its history",
    )
    def _volume(context: AssetCheckExecutionContext, table: pd.DataFrame) -> AssetCheckResult:
        counts = [_metadata(r, ROW_COUNT) for r in _history(context, key, history)[1]]
        counts = [int(c) for c in counts if c is not None][::-1]  # oldest first
        rows = len(table)
        metadata: dict[str, Any] = {
            "rows": rows,
            "history": MetadataValue.json(counts),
            "history_size": len(counts),
            "max_change": max_change,
        }
        if len(counts) < min_history:
            return AssetCheckResult(
                asset_key=key,
                check_name=name,
                passed=True,
                severity=level,
                description=redact(
                    f"{label}: not enough history yet ({len(counts)} previous materialization(s) "
                    f"with {ROW_COUNT}, {min_history} needed)"
                ),
                metadata=redact_metadata(metadata),
            )
        median = statistics.median(counts)
        change = rows / median - 1 if median else (float("inf") if rows else 0.0)
        direction = "below" if change < 0 else "above"
        baseline = f"{median:,.0f}" if median == int(median) else f"{median:,.1f}"
        return AssetCheckResult(
            asset_key=key,
            check_name=name,
            passed=abs(change) <= max_change,
            severity=level,
            description=redact(
                f"{label}: {rows:,} rows is {abs(change):.0%} {direction} the median {baseline} "
                f"of the last {len(counts)} materializations"
            ),
            metadata=redact_metadata(
                {**metadata, "baseline_median": float(median), "change": round(change, 4)}
            ),
        )

    return _volume


def _diff(before: Mapping[str, str], after: Mapping[str, str]) -> list[tuple[str, str, str, str]]:
    """(column, before, after, change) rows. A removed column whose position and dtype an added column
    takes is reported as renamed."""
    removed = [c for c in before if c not in after]
    added = [c for c in after if c not in before]
    rows = []
    positions = {i: c for i, c in enumerate(after)}
    for column in removed:
        twin = positions.get(list(before).index(column))
        if twin in added and after[twin] == before[column]:
            added.remove(twin)
            rows.append((f"{column} -> {twin}", before[column], after[twin], "renamed"))
        else:
            rows.append((column, before[column], "", "removed"))
    rows += [(c, before[c], after[c], "retyped") for c in before if c in after and before[c] != after[c]]
    return rows + [(c, "", after[c], "added") for c in added]


def _sentence(column: str, was: str, now: str, change: str) -> str:
    if change == "renamed":
        return "{} renamed to {}".format(*column.split(" -> "))
    return f"{column} {was} -> {now}" if change == "retyped" else f"{column} {change}"


def build_schema_check(
    asset: str | Sequence[str] | AssetKey,
    *,
    name: str = "schema_unchanged",
    severity: SeverityLike = AssetCheckSeverity.ERROR,
    blocking: bool = True,
    allow_added: bool = True,
    failure_mode: str | None = None,
) -> AssetChecksDefinition:
    """Fails when a column is removed, renamed or changes dtype since the last materialization whose checks
    all passed (so a fallback that restores the good schema is not a change):
    downstream code and SQL break on those, usually far from the cause. Added columns pass if allowed.

    The current schema is the one recorded on the materialization under check, so both sides are the
    pandas dtype strings reliability_assets.metadata writes from the asset's own frame: the DuckDB IO
    manager appends to the existing table by position, so a frame loaded back keeps the old column names.
    Without a recorded schema, the loaded DataFrame's, computed the same way.
    """
    key = AssetKey.from_coercible(asset)
    level = check_severity(severity, where=f"check {name!r}")
    label = key.to_user_string()
    added_text = "added columns allowed" if allow_added else "no added columns"

    @multi_asset_check(
        name=f"{'_'.join(key.path)}_{name}",
        specs=[
            _spec(
                key,
                name,
                blocking,
                f"Columns and dtypes match the last passing materialization ({added_text}).",
                mode_metadata(failure_mode, builder="schema"),
            )
        ],
        ins={"table": AssetIn(key=key)},
        retry_policy=COMPUTE_RETRY,
        description=f"Schema of {label} against its last passing materialization",
    )
    def _schema(context: AssetCheckExecutionContext, table: pd.DataFrame) -> AssetCheckResult:
        current, before = _history(context, key, SCHEMA_LOOKBACK)
        recorded = _metadata(current, COLUMN_SCHEMA)
        now = recorded if isinstance(recorded, TableSchema) else column_schema(table)
        after = {c.name: c.type for c in now.columns}
        source = "recorded on the materialization" if now is recorded else "loaded DataFrame"
        from reliability_assets.check_events import all_checks_passed

        previous = [(r, s) for r in before if isinstance(s := _metadata(r, COLUMN_SCHEMA), TableSchema)]
        if not previous:
            return AssetCheckResult(
                asset_key=key,
                check_name=name,
                passed=True,
                severity=level,
                description=redact(
                    f"{label}: first materialization: schema recorded"
                    if not before
                    else f"{label}: nothing to compare with: no {COLUMN_SCHEMA} on the last {len(before)} "
                    "materialization(s); record it with reliability_assets.metadata.table_metadata"
                ),
                metadata=redact_metadata(
                    {
                        "columns": len(after),
                        "schema": MetadataValue.json(after),
                        "current_schema": source,
                    }
                ),
            )
        # Unchanged means: like the previous materialization (a change seen twice is the new normal), or
        # like the last one whose checks all passed (a fallback restoring the good schema after a bad one
        # is not a change).
        passing = next(
            (p for p in previous if all_checks_passed(context.instance, p[0].run_id, key) is not False), None
        )
        pairs = [previous[0]] + ([passing] if passing is not None and passing != previous[0] else [])
        compared = []
        for earlier, schema in pairs:
            diff = _diff({c.name: c.type for c in schema.columns}, after)
            compared.append((earlier, diff, [r for r in diff if r[3] != "added" or not allow_added]))
        record, rows, failing = next((c for c in compared if not c[2]), compared[0])
        counts = {c: sum(r[3] == c for r in rows) for c in ("removed", "renamed", "retyped", "added")}
        table_md = "\n".join(
            ["| column | before | after | change |", "| --- | --- | --- | --- |"]
            + ["| " + " | ".join(r) + " |" for r in rows]
        )
        changes = "; ".join(_sentence(*r) for r in rows)
        since = f"since run {record.run_id[:8]}"
        return AssetCheckResult(
            asset_key=key,
            check_name=name,
            passed=not failing,
            severity=level,
            description=redact(
                f"{label}: schema changed {since}: {changes}"
                if failing
                else f"{label}: schema unchanged {since}" + (f" ({changes})" if rows else "")
            ),
            metadata=redact_metadata(
                {
                    "differences": MetadataValue.md(table_md if rows else "no differences"),
                    **counts,
                    "columns": len(after),
                    "compared_with_run": record.run_id,
                    "current_schema": source,
                }
            ),
        )

    return _schema
