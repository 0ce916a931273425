"""Evidently drift reports as Dagster asset checks (there is no Dagster integration for Evidently).

``build_drift_check`` compares each materialization with a reference: by default the last materialization
whose checks all passed (stored by the framework, see ``kept_frames``), or a pinned baseline until
there is one; with ``reference="baseline"`` always the baseline. The check fails (ERROR by default) when
Evidently would call it dataset drift: the share of drifted columns reaches ``drift_share``. Columns that
drift below that share are named in a passing check's description, so they are visible without paging.
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeAlias

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetIn,
    AssetKey,
    MetadataValue,
    multi_asset_check,
)

from reliability_assets.checks.drift_eval import (
    DEFAULT_SAMPLE_SIZE,
    ColumnOverride,
    DriftResult,
    evaluate_drift,
    sample_rows,
)
from reliability_assets.policy import COMPUTE_RETRY
from resources.reliability import ReliabilityStoreResource

#: A pinned baseline: a frame, a Parquet/CSV file, or a function of the check's context returning a frame.
Baseline: TypeAlias = pd.DataFrame | str | Path | Callable[[AssetCheckExecutionContext], pd.DataFrame]
RESOURCE_KEY = "reliability"
_SEVERITIES = {"error": AssetCheckSeverity.ERROR, "warn": AssetCheckSeverity.WARN}


def _load_baseline(baseline: Baseline, context: AssetCheckExecutionContext) -> pd.DataFrame:
    if isinstance(baseline, pd.DataFrame):
        return baseline
    if isinstance(baseline, str | Path):
        path = Path(baseline)
        return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    return baseline(context)


def _describe(result: DriftResult, reference: str) -> str:
    def column(c: Any) -> str:
        return f"{c.column} ({c.method} {c.score:.3g}, threshold {c.threshold:.3g})"

    drifted = result.drifted
    share = f"{len(drifted)} of {len(result.columns)} columns drifted ({result.drifted_share:.0%}"
    if result.dataset_drift:
        return f"dataset drift vs {reference}: {share} >= {result.drift_share:.0%}): " + ", ".join(
            map(column, drifted)
        )
    if drifted:
        return f"{share}, below the {result.drift_share:.0%} share) vs {reference}: " + ", ".join(
            map(column, drifted)
        )
    return f"no column drifted vs {reference}"


def build_drift_check(
    asset: str | Sequence[str] | AssetKey,
    *,
    name: str = "drift",
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] = (),
    overrides: Mapping[str, ColumnOverride | Mapping[str, Any]] | None = None,
    reference: Literal["last_passing", "baseline"] = "last_passing",
    baseline: Baseline | None = None,
    drift_share: float = 0.5,
    severity: Literal["error", "warn"] = "error",
    blocking: bool = False,
    sample_size: int | None = DEFAULT_SAMPLE_SIZE,
    seed: int = 0,
) -> AssetChecksDefinition:
    """A drift check on ``asset`` (a DataFrame), needing the ``reliability`` resource for its references.

    ``overrides`` maps a column to ``{"method": ..., "threshold": ...}`` (Evidently's stattest names);
    ``sample_size=None`` compares every row (see ``drift_eval`` for the sampling policy).
    """
    key = AssetKey.from_coercible(asset)
    where = f"drift check {name!r} on {key.to_user_string()}"
    if severity not in _SEVERITIES:
        raise ValueError(f"{where}: severity {severity!r} must be 'error' or 'warn'")
    if reference not in ("last_passing", "baseline"):
        raise ValueError(f"{where}: reference {reference!r} must be 'last_passing' or 'baseline'")
    if reference == "baseline" and baseline is None:
        raise ValueError(f"{where}: reference='baseline' needs `baseline=` (a frame, a file or a function)")
    if not 0 < drift_share <= 1:
        raise ValueError(f"{where}: drift_share {drift_share} must be in (0, 1], e.g. 0.5")
    if sample_size is not None and sample_size <= 1000:
        raise ValueError(f"{where}: sample_size {sample_size} must be above 1,000 (or None: every row)")
    try:
        options = {c: ColumnOverride.model_validate(o) for c, o in (overrides or {}).items()}
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    wanted = list(columns) if columns is not None else None
    if wanted is not None and set(options) - set(wanted):
        extra = ", ".join(sorted(set(options) - set(wanted)))
        raise ValueError(f"{where}: overrides for columns not in `columns`: {extra}")
    asset_name = key.to_user_string()
    purpose = f"drift:{name}"
    against = "the pinned baseline" if reference == "baseline" else "the last passing materialization"

    @multi_asset_check(
        name=f"{'_'.join(key.path)}_{name}",
        specs=[
            AssetCheckSpec(
                name,
                asset=key,
                blocking=blocking,
                description=f"Evidently drift vs {against}: fails when {drift_share:.0%} or more of the "
                "columns drift.",
            )
        ],
        ins={"table": AssetIn(key=key)},
        retry_policy=COMPUTE_RETRY,
        description=f"Evidently drift check {name!r} on {asset_name}",
    )
    def _drift(
        context: AssetCheckExecutionContext, reliability: ReliabilityStoreResource, table: pd.DataFrame
    ) -> Iterator[AssetCheckResult]:
        from reliability_assets import kept_frames
        from reliability_assets.check_history import lineage_passed, upstream_of

        store, run_id = reliability.store, context.run.run_id
        ref_frame: pd.DataFrame | None = None
        label = "the pinned baseline"
        ref_meta: dict[str, Any] = {"reference": "pinned baseline"}
        if reference == "last_passing":
            upstream = upstream_of(context, key)
            kept_frames.settle_candidates(
                store,
                asset=asset_name,
                purpose=purpose,
                current_run_id=run_id,
                verdict=lambda r: lineage_passed(context.instance, r, key, upstream=upstream),
            )
            found = kept_frames.active_frame(store, asset=asset_name, purpose=purpose)
            if found is not None:
                ref_frame, label = found.frame, f"run {found.run_id[:8]}"
                ref_meta = {
                    "reference": f"last passing materialization (run {found.run_id})",
                    "reference_run_id": found.run_id,
                }
        if ref_frame is None and baseline is not None:
            ref_frame = _load_baseline(baseline, context)
        compared = wanted if wanted is not None else [c for c in table.columns if c != "index"]
        kept_frames.save_candidate(
            store,
            asset=asset_name,
            purpose=purpose,
            run_id=run_id,
            frame=sample_rows(table[compared], sample_size or len(table), seed=seed),
            source_rows=len(table),
        )
        if ref_frame is None:
            yield AssetCheckResult(
                check_name=name,
                passed=True,
                description="no reference yet: this materialization becomes the reference once its checks "
                "pass",
                metadata={"reference": "none yet", "current_rows": len(table)},
            )
            return
        report = reliability.report_path("drift", *key.path, name, f"{run_id}.html")
        result = evaluate_drift(
            table,
            ref_frame,
            columns=compared,
            categorical=categorical,
            overrides=options,
            drift_share=drift_share,
            sample_size=sample_size,
            seed=seed,
            report_path=report,
        )
        yield AssetCheckResult(
            check_name=name,
            passed=not result.dataset_drift,
            severity=_SEVERITIES[severity],
            description=_describe(result, label),
            metadata={
                **ref_meta,
                "drifted_share": round(result.drifted_share, 4),
                "drift_share_threshold": drift_share,
                "drifted_columns": MetadataValue.json([c.column for c in result.drifted]),
                "columns": MetadataValue.md(result.markdown()),
                "report": MetadataValue.path(str(report)),
                "reference_rows": result.reference_rows,
                "current_rows": result.current_rows,
                "sampled": result.sampled,
                "evidently_version": result.evidently_version,
            },
        )

    return _drift
