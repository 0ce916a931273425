"""Evidently drift reports as Dagster asset checks (there is no Dagster integration for Evidently).

``build_drift_check`` compares each materialization with a reference: by default the last materialization
whose checks all passed (stored by the framework, see ``kept_frames``), or a pinned baseline until
there is one; with ``reference="baseline"`` always the baseline. The check fails (ERROR by default) when
Evidently would call it dataset drift: the share of drifted columns reaches ``drift_share``. Columns that
drift below that share are named in a passing check's description, so they are visible without paging.

Verdicts are Evidently's on every row (see ``drift_eval``): methods are chosen as Evidently chooses them
(missing values dropped first), a large frame is compared on a sample, and any column whose sampled score
lands within the measured sampling error's margin of its threshold is recomputed on every row (named in
the ``recomputed_on_all_rows`` metadata). The reference keeps every row of the passing materialization,
so that recomputation compares what Evidently would.

Datetime columns are skipped, as Evidently's preset skips them, and named in the description and in the
``skipped_columns`` metadata. To watch a date, derive in the asset a number that stays put while nothing
changes and check that column (the datetime column itself can stay; it is skipped): an age against the
batch's own as-of date, ``df["account_age_days"] = (as_of - df["signup_at"]).dt.days``, or a gap between
two dates, ``(df["shipped_at"] - df["ordered_at"]).dt.total_seconds()``. Not raw epoch seconds: every
batch is later than the last, so they drift on every run.

Bad input is reported once, with its cause, never retried (a retry reads the same data):

- the data under check is at fault (no rows, a column missing from it or new in it, a column that is all
  null or of a type drift cannot compare): the check *fails* (ERROR, whatever ``severity`` says, since
  drift could not be judged at all), with the cause in its description and ``input_problems`` metadata.
  That is a finding about the data, so it is an evaluation like any other: blocking stops downstream, the
  check-failure sensor and the asset's remediation policy see it.
- the reference or the check's own options are at fault (a pinned baseline with an empty column, only
  datetime columns to compare): the step raises ``dagster.Failure(allow_retries=False)``, which Dagster
  shows as an execution failure with the cause and does not retry, since no data verdict exists.

Anything else (the store unreachable, an Evidently crash) is retried by ``COMPUTE_RETRY`` as before.

Evidence leads a compared evaluation's metadata, passing or failing: ``picture``, each column's
distribution, reference vs current, drifted columns first (``drift_picture``: a PNG in markdown, which the
UI opens with one click), and ``report``, Evidently's HTML report as an ``http://`` link under
``RELIABILITY_REPORTS_URL`` (default ``http://127.0.0.1:8766``, where ``reliability reports serve`` serves
the reports directory); ``report_file`` is the file itself, ``columns`` the per-column table.
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
    Failure,
    MetadataValue,
    get_dagster_logger,
    multi_asset_check,
)

from reliability_assets.checks.drift_eval import (
    DEFAULT_SAMPLE_SIZE,
    ColumnOverride,
    DriftInputError,
    DriftResult,
    InputProblem,
    evaluate_drift,
    frame_problems,
)
from reliability_assets.checks.severity import SeverityLike, check_severity
from reliability_assets.defaults import COMPUTE_RETRY
from reliability_assets.incidents.modes import mode_metadata
from reliability_assets.resources.redaction import redact, redact_metadata
from reliability_assets.resources.store_resource import ReliabilityStoreResource

#: A pinned baseline: a frame, a Parquet/CSV file, or a function of the check's context returning a frame.
Baseline: TypeAlias = pd.DataFrame | str | Path | Callable[[AssetCheckExecutionContext], pd.DataFrame]
RESOURCE_KEY = "reliability"


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


def _notes(result: DriftResult) -> str:
    parts = []
    if result.recomputed:
        parts.append(
            f"recomputed on every row (sampled score near its threshold): {', '.join(result.recomputed)}"
        )
    if result.skipped:
        parts.append(
            f"skipped datetime column(s) {', '.join(result.skipped)}, as Evidently's preset does; to watch "
            "one, derive a number that stays put while nothing changes (e.g. age in days against the batch's "
            "as-of date) in the asset and check that column"
        )
    return "".join(f". {p}" for p in parts)


def _evidence(
    current: pd.DataFrame, reference: pd.DataFrame, result: DriftResult, label: str, root: Path, *, seed: int
) -> dict[str, Any]:
    """What a person opens first, so it leads the metadata: the picture (reference vs current per column,
    drifted first) and the HTML report as an http:// link served by ``reliability reports serve``
    (``report_file`` keeps the path; ``report`` stays a path when the file lies outside the served root)."""
    from reliability_assets.checks.drift_picture import render
    from reliability_assets.reports import report_url

    meta: dict[str, Any] = {}
    try:
        picture = render(current, reference, result.columns, seed=seed)
        meta["picture"] = MetadataValue.md(picture.markdown(reference=label))
    except Exception as error:  # a plotting problem must not turn a drift verdict into a step failure
        meta["picture_error"] = f"{type(error).__name__}: {error}"
        get_dagster_logger().warning(redact(f"drift picture not drawn: {meta['picture_error']}"))
    if result.report_path is not None:
        url = report_url(result.report_path, root)
        meta["report"] = MetadataValue.url(url) if url else MetadataValue.path(result.report_path)
        meta["report_file"] = MetadataValue.path(result.report_path)
        urls = [report_url(p, root) for p in result.report_paths]
        meta["report_urls"] = MetadataValue.json([u for u in urls if u])
    return meta


def _input_failure(
    problems: Sequence[InputProblem], reference: str, check_name: str, ref_meta: Mapping[str, Any]
) -> AssetCheckResult:
    """The data under check cannot be compared: a failed evaluation naming each cause, run once."""
    columns = list(dict.fromkeys(p.column for p in problems if p.column is not None))
    missing = [p.column for p in problems if p.reason == "missing"]
    extra = [p.column for p in problems if p.reason == "extra"]
    fixes = []
    if missing or extra:
        fixes.append(
            "a changed schema never becomes the reference, so this fails until the columns return or "
            "`columns=[...]` names the ones to compare"
        )
    if any(p.reason in ("no_rows", "empty") for p in problems):
        fixes.append("fix the data upstream and materialize again")
    causes = "; ".join(p.cause.split(": drift needs")[0] for p in problems)
    return AssetCheckResult(
        check_name=check_name,
        passed=False,
        severity=AssetCheckSeverity.ERROR,
        description=redact(
            f"drift cannot be judged vs {reference}: {causes}" + (f" ({'; '.join(fixes)})" if fixes else "")
        ),
        metadata=redact_metadata(
            {
                **ref_meta,
                "input_problems": MetadataValue.json([p.cause for p in problems]),
                "problem_columns": MetadataValue.json(columns),
                "missing_columns": MetadataValue.json(missing),
                "extra_columns": MetadataValue.json(extra),
            }
        ),
    )


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
    severity: SeverityLike = AssetCheckSeverity.ERROR,
    blocking: bool = False,
    sample_size: int | None = DEFAULT_SAMPLE_SIZE,
    seed: int = 0,
    failure_mode: str | None = None,
) -> AssetChecksDefinition:
    """A drift check on ``asset`` (a DataFrame), needing the ``reliability`` resource for its references.

    ``overrides`` maps a column to ``{"method": ..., "threshold": ...}`` (Evidently's stattest names);
    ``sample_size=None`` compares every row (see ``drift_eval`` for the sampling policy).
    ``failure_mode``: what a failure is, in a person's terms (incident reviews; default: data drift).
    """
    key = AssetKey.from_coercible(asset)
    where = f"drift check {name!r} on {key.to_user_string()}"
    level = check_severity(severity, where=where)
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
                metadata=mode_metadata(failure_mode, builder="drift"),
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
        from reliability_assets.check_events import lineage_passed, upstream_of

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
        problems = frame_problems(table, compared, categorical)
        if problems:  # checked before anything is kept: bad data never becomes a candidate reference
            yield _input_failure(problems, label, name, ref_meta)
            return
        # Every row is kept, so a column near its threshold is recomputed against the whole reference.
        kept_frames.save_candidate(
            store,
            asset=asset_name,
            purpose=purpose,
            run_id=run_id,
            frame=table[compared],
            source_rows=len(table),
        )
        if ref_frame is None:
            yield AssetCheckResult(
                check_name=name,
                passed=True,
                description="no reference yet: this materialization becomes the reference once its checks "
                "pass",
                metadata=redact_metadata({"reference": "none yet", "current_rows": len(table)}),
            )
            return
        if wanted is None:  # every column of either side: one missing from the current table is named
            compared = [c for c in ref_frame.columns if c != "index"]
            compared += [c for c in table.columns if c not in ref_frame.columns and c != "index"]
        report = reliability.report_path("drift", *key.path, name, f"{run_id}.html")
        try:
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
        except DriftInputError as exc:
            if exc.in_current_data:
                yield _input_failure(exc.problems, label, name, ref_meta)
                return
            at_fault = (
                f"{label} is unusable"
                if any(p.where == "reference" for p in exc.problems)
                else "the check's options leave nothing to compare"
            )
            raise Failure(
                description=redact(
                    f"{where}: drift cannot be judged, {at_fault}: {exc}. Fix the reference "
                    "(a pinned baseline) or `columns=` (compare only usable columns); retrying would read "
                    "the same data, so this step is not retried"
                ),
                metadata=redact_metadata(
                    {"input_problems": MetadataValue.json([p.cause for p in exc.problems])}
                ),
                allow_retries=False,
            ) from None
        yield AssetCheckResult(
            check_name=name,
            passed=not result.dataset_drift,
            severity=level,
            description=redact(_describe(result, label) + _notes(result)),
            metadata=redact_metadata(
                {
                    **_evidence(table, ref_frame, result, label, reliability.report_path(), seed=seed),
                    **ref_meta,
                    "drifted_share": round(result.drifted_share, 4),
                    "drift_share_threshold": drift_share,
                    "drifted_columns": MetadataValue.json([c.column for c in result.drifted]),
                    "columns": MetadataValue.md(result.markdown()),
                    "reports": MetadataValue.json(result.report_paths),
                    "reference_rows": result.reference_rows,
                    "current_rows": result.current_rows,
                    "sampled": result.sampled,
                    "recomputed_on_all_rows": MetadataValue.json(result.recomputed),
                    "recheck_margins": MetadataValue.json(result.margins),
                    "skipped_columns": MetadataValue.json(result.skipped),
                    "evidently_version": result.evidently_version,
                }
            ),
        )

    return _drift
