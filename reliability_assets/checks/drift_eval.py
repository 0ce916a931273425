"""Column drift with Evidently, computed once per column, on a sample when the frame is large, with
verdicts equal to Evidently's on every row.

Evidently's ``DataDriftPreset`` computes every column's drift twice (once for the drifted-column count,
once per column): 36 s and ~1 GB on 1M rows x 10 columns here. This runs one ``ValueDrift`` per column, so
each is computed once, and reads each column's verdict from Evidently's own test (a score is a p-value for
some methods and a distance for others, so comparing scores here would be wrong half the time).

What is compared, as Evidently's preset does it:

- **Columns**: by default every column of either frame. A column in one frame but not the other is an
  input problem (``DriftInputError``) naming the column, whichever frame lacks it: a column that
  disappears must not shrink the drifted share's denominator unseen.
- **Datetime columns** (datetime64, with or without a time zone, periods, timedeltas, and object columns
  holding dates) are skipped, as the preset skips them, and listed in ``DriftResult.skipped``. A timestamp
  compared as a category drifts on every run (each new day is a new category), and so does a raw epoch
  number (every batch is later than the last). To watch a date, derive in the asset a number that stays
  put while nothing changes, and check that column: an age against the batch's own as-of date,
  ``(as_of - frame["signup_at"]).dt.days``, or a gap between two dates,
  ``(frame["shipped_at"] - frame["ordered_at"]).dt.total_seconds()``.
- **Missing values**: NaN, None and +/-inf are dropped column by column before anything else, as Evidently
  does, so a column's method is chosen on its values, not on its gaps (3,000 rows with 70% NaN: Evidently
  has 900 reference values and picks K-S; the raw column's 3,000 rows would say normed Wasserstein). A column
  with no values left in either frame, or a frame with no rows, is an input problem.
- **Methods** are Evidently's own choice (its ``get_stattest``, through ``evidently_adapter``) on those
  cleaned values of every row, so a sample never changes a method.

Sampling policy. A column whose method is a *distance* (normed Wasserstein, Jensen-Shannon, PSI, KL,
Hellinger, energy distance: what Evidently picks when the reference has more than 1,000 values) is first
compared on a uniform random sample of at most ``sample_size`` of its values per side (default 50,000;
sampled column by column after dropping missing values, so a sparse column keeps ``sample_size`` values).
A *p-value* method's verdict depends on the sample size itself (more rows, more power), so those columns
always use every row.

Recomputation near the threshold. A sampled distance has a sampling error, so a column whose sampled score
lands within ``recheck_margin(sample_size, method)`` of its threshold is computed again on every row, and
that full-data result is its verdict (``ColumnDrift.recomputed``). The recomputation calls the function
that ``ValueDrift``'s own test calls (``evidently_adapter.run_test`` on the cleaned columns), without
rendering another report (~0.2 s a column at 1M rows instead of ~1.5 s; the HTML report shows that
column's sample). Every other column's sample sits farther from its threshold than any sampling error
measured, so its verdict, and with them the dataset verdict, equals Evidently's on every row.

The margins come from measurement (``python benchmarks/gates.py --sampling-error``, 5-8 minutes): 1M-row
frames of 18 column shapes (normal, log-normal, heavy-tailed log-normal and Pareto, uniform, bimodal,
scaled exponential, Poisson counts, whole years, 70% NaN, 1% +/-inf; categoricals of 2, 3, 10, 10 with 50%
null, 50 and 200 values; a number with 4 values) shifted so that their full-data score sits within +/-10%
of the 0.1 threshold (measured 0.088..0.112), 12 data seeds x 8 sample seeds: 1,728 column-runs at 50,000
values per side. Absolute error of the sampled score against the full-data score:

- normed Wasserstein (1,056 runs): median 0.0046, p99 0.020, p99.9 0.033, max 0.037. Per shape the max
  is 0.014 (normal) to 0.022 (bimodal), and 0.037 for Pareto a=3: the tail decides, since the normalising
  standard deviation of a heavy-tailed sample is itself noisy. That is above the 0.015 this module quoted
  before (measured on columns far from their thresholds).
- Jensen-Shannon (672 runs): median 0.0017, p99 0.0076, max 0.0069 up to 50 categories, 0.011 for 200.

So ``RECHECK_MARGINS`` is 0.05 for normed Wasserstein (1.4x its worst error, on the Pareto tail; 2.3x the
worst of the lighter shapes) and 0.02 for Jensen-Shannon (1.8x its worst); distance methods not measured
(PSI, KL, Hellinger, energy distance, chosen by override) get the larger, 0.05. The error shrinks as
1/sqrt(n), so at another sample size the margin is ``margin * sqrt(50,000 / sample_size)``. In
``benchmarks/gates.py``'s knife-edge case (10 seeds x 1M rows x 10 columns, every full-data score within
+/-10% of its threshold) the dataset verdict equals the preset's in 10 of 10 runs (the sample alone: 7 of
10). Columns whose distances are sampled less stably than these shapes (thousands of categories, tails
heavier than Pareto a=3) can still be compared on every row with ``sample_size=None``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, field_validator

from reliability_assets.resources.redaction import RedactedMessage

#: Evidently 0.7's drift methods (``stattest`` names), so overrides are checked when Definitions load,
#: without importing Evidently (~3 s). tests/test_drift_checks.py keeps this in step with Evidently.
# fmt: off
METHODS = frozenset((
    "anderson", "chisquare", "cramer_von_mises", "ed", "empirical_mmd", "es", "fisher_exact", "g_test",
    "hellinger", "jensenshannon", "kl_div", "ks", "mannw", "psi", "t_test", "wasserstein", "z",
    "TVD", "abs_text_content_drift", "perc_text_content_drift",
))
# fmt: on
#: Evidently methods whose score is a distance (drift when score >= threshold): safe to sample.
DISTANCE_METHODS = frozenset({"wasserstein", "jensenshannon", "psi", "kl_div", "hellinger", "ed"})
DEFAULT_SAMPLE_SIZE = 50_000
#: A sampled score within this distance of its threshold is recomputed on every row, per method, at the
#: default sample size (see the module docstring for the measurement behind them).
RECHECK_MARGINS = {"wasserstein": 0.05, "jensenshannon": 0.02}
#: The margin of a distance method not measured: the largest measured.
RECHECK_MARGIN = max(RECHECK_MARGINS.values())
#: Kept for callers of the first version: the margin is now the recomputation margin.
NEAR_THRESHOLD = RECHECK_MARGIN
#: Why a datetime column is skipped, and what to do instead (the check's description quotes it).
DATETIME_NOTE = (
    "skipped: a datetime column, which Evidently's drift preset skips too (as categories or epoch numbers, "
    "timestamps drift on every run). To watch it, derive in the asset a number that stays put while nothing "
    'changes, e.g. age in days against the batch\'s as-of date `(as_of - df["col"]).dt.days` or a gap '
    'between two dates `(df["end"] - df["col"]).dt.total_seconds()`, and check that column'
)


def recheck_margin(sample_size: int, method: str = "wasserstein") -> float:
    """The recomputation margin of ``method`` for ``sample_size`` values per side (the sampling error
    shrinks as 1/sqrt(n))."""
    return RECHECK_MARGINS.get(method, RECHECK_MARGIN) * math.sqrt(DEFAULT_SAMPLE_SIZE / sample_size)


class ColumnOverride(BaseModel):
    """Per-column drift options; ``None`` keeps Evidently's default for the column."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: str | None = None
    threshold: float | None = None

    @field_validator("method")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is not None and value not in METHODS:
            known = ", ".join(sorted(METHODS))
            raise ValueError(f"unknown drift method {value!r}; use one of Evidently's: {known}")
        return value


@dataclass(frozen=True)
class InputProblem:
    """Why the frames cannot be compared. ``where``: the current data is at fault ("current": no rows, a
    column missing, extra, empty or of the wrong type), the reference is ("reference"), or the options
    leave nothing to compare ("setup")."""

    where: Literal["current", "reference", "setup"]
    cause: str
    column: str | None = None
    #: no_rows | missing (from the current table) | extra (not in the reference) | empty (no values)
    #: | dtype | nothing_to_compare
    reason: str = ""


class DriftInputError(RedactedMessage, ValueError):
    """The frames cannot be compared; ``problems`` says why, each naming its frame and column."""

    def __init__(self, problems: Sequence[InputProblem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(p.cause for p in self.problems))

    @property
    def in_current_data(self) -> bool:
        """Whether the data under check is at fault (rather than its reference or the check's options)."""
        return any(p.where == "current" for p in self.problems)

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(p.column for p in self.problems if p.column is not None))


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    kind: str  # "numerical" | "categorical"
    method: str
    score: float
    threshold: float
    drifted: bool
    rows_compared: int  # current values compared (missing values dropped; a sample's size when sampled)
    near_threshold: bool = False  # the sampled score was within the margin: ``recomputed`` on every row
    recomputed: bool = False
    sampled_score: float | None = None  # the sampled score of a recomputed column


@dataclass(frozen=True)
class DriftResult:
    columns: list[ColumnDrift]
    drift_share: float
    reference_rows: int
    current_rows: int
    sampled: bool
    evidently_version: str
    report_path: str | None = None
    notes: list[str] = field(default_factory=list)
    #: column -> why it was not compared (datetime columns)
    skipped: dict[str, str] = field(default_factory=dict)
    #: the recomputation margin of each sampled method (empty when nothing was sampled)
    margins: dict[str, float] = field(default_factory=dict)
    #: every HTML report written: the sampled columns, then the columns compared on every row (a
    #: recomputed column appears with its sample; its full-data score is in ``columns``)
    report_paths: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> list[ColumnDrift]:
        return [c for c in self.columns if c.drifted]

    @property
    def recomputed(self) -> list[str]:
        return [c.column for c in self.columns if c.recomputed]

    @property
    def drifted_share(self) -> float:
        return len(self.drifted) / len(self.columns) if self.columns else 0.0

    @property
    def dataset_drift(self) -> bool:
        """Evidently's rule for the preset: drift when the drifted share reaches ``drift_share``."""
        return bool(self.columns) and self.drifted_share >= self.drift_share

    def verdicts(self) -> dict[str, bool]:
        return {c.column: c.drifted for c in self.columns}

    def markdown(self) -> str:
        rows = ["| column | type | method | score | threshold | verdict | rows |"]
        rows.append("| --- | --- | --- | ---: | ---: | --- | ---: |")
        for c in sorted(self.columns, key=lambda c: (not c.drifted, c.column)):
            verdict = "DRIFT" if c.drifted else "ok"
            if c.recomputed:  # the HTML report shows this column's sample
                verdict += f" (near threshold: sample said {c.sampled_score:.4g}, recomputed on every row)"
            rows.append(
                f"| {c.column} | {c.kind} | {c.method} | {c.score:.4g} | {c.threshold:.4g} | {verdict} "
                f"| {c.rows_compared:,} |"
            )
        for column, why in self.skipped.items():
            rows.append(f"| {column} | datetime | - | - | - | {why.split(':')[0]} | - |")
        return "\n".join(rows)


def _datetime_like(series: pd.Series) -> bool:
    dtype = series.dtype
    if (
        pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
        or isinstance(dtype, pd.PeriodDtype)
    ):
        return True
    if pd.api.types.is_object_dtype(dtype):  # Python dates in an object column: judged on a prefix
        inferred = pd.api.types.infer_dtype(series.iloc[:1000], skipna=True)
        return inferred in {"datetime", "datetime64", "date", "timedelta", "period"}
    return False


def _kind(series: pd.Series, categorical: bool) -> str | None:
    """numerical | categorical | datetime | None (a dtype drift cannot compare)."""
    dtype = series.dtype
    if _datetime_like(series):
        return "datetime"
    if categorical or isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numerical"
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        return "categorical"
    return None


def column_kinds(
    frame: pd.DataFrame, columns: Sequence[str], categorical: Sequence[str] = ()
) -> dict[str, str]:
    """Numbers are numerical unless named in ``categorical``; strings, categories and booleans are
    categorical; datetime columns are "datetime" (skipped). Other dtypes raise ``ValueError``."""
    kinds = {}
    for column in columns:
        kind = _kind(frame[column], column in categorical)
        if kind is None:
            raise ValueError(
                f"column {column!r} has dtype {frame[column].dtype}, which drift cannot compare; leave it "
                "out of `columns` or name it in `categorical`"
            )
        kinds[column] = kind
    return kinds


def finite_mask(series: pd.Series) -> np.ndarray:
    """Values Evidently keeps: it replaces +/-inf with NaN and drops NaN (and None, NaT, pd.NA)."""
    kind = series.dtype.kind
    if kind in "iub" and not isinstance(series.dtype, pd.api.extensions.ExtensionDtype):
        return np.ones(len(series), dtype=bool)
    if kind == "f" and not isinstance(series.dtype, pd.api.extensions.ExtensionDtype):
        return np.isfinite(series.to_numpy())
    mask = series.notna().to_numpy(dtype=bool)
    if isinstance(series.dtype, pd.CategoricalDtype):
        categories = series.cat.categories
        if pd.api.types.is_numeric_dtype(categories.dtype) and not np.isfinite(categories.to_numpy()).all():
            mask &= ~series.astype(object).isin([np.inf, -np.inf]).to_numpy(dtype=bool)
    elif pd.api.types.is_numeric_dtype(series.dtype) or (
        # strings cannot be infinite: a scan of the types (~10x cheaper than comparing values) decides
        pd.api.types.is_object_dtype(series.dtype)
        and pd.api.types.infer_dtype(series, skipna=True) not in {"string", "bytes", "boolean", "empty"}
    ):
        mask &= ~series.isin([np.inf, -np.inf]).to_numpy(dtype=bool)
    return mask


def frame_problems(
    frame: pd.DataFrame, columns: Sequence[str], categorical: Sequence[str] = ()
) -> list[InputProblem]:
    """What makes a current table unusable on its own, before any reference: no rows, a named column
    missing, of a dtype drift cannot compare, or with no values. ``evaluate_drift`` finds the same."""
    if len(frame) == 0:
        return [InputProblem("current", "the current table has no rows", reason="no_rows")]
    problems = []
    for column in columns:
        if column not in frame.columns:
            cause, reason = (
                f"column {column!r} named in `columns` is missing from the current table",
                "missing",
            )
        elif (kind := _kind(frame[column], column in categorical)) is None:
            reason = "dtype"
            cause = (
                f"column {column!r} has dtype {frame[column].dtype}, which drift cannot compare; leave it "
                "out of `columns` or name it in `categorical`"
            )
        elif kind != "datetime" and not finite_mask(frame[column]).any():
            reason = "empty"
            cause = (
                f"column {column!r} is null or infinite in all {len(frame):,} rows of the current table: "
                "drift needs values on both sides; fix the data upstream or leave the column out with "
                "`columns=`"
            )
        else:
            continue
        problems.append(InputProblem("current", cause, column, reason))
    return problems


def sample_rows(frame: pd.DataFrame, size: int, *, seed: int = 0) -> pd.DataFrame:
    """A uniform random sample without replacement; the frame itself when it is small enough."""
    return frame if len(frame) <= size else frame.sample(n=size, random_state=seed)


def sample_values(series: pd.Series, size: int | None, rng: np.random.Generator) -> pd.Series:
    """The column's finite values, or a uniform random sample of ``size`` of them (without replacement),
    with a fresh RangeIndex."""
    positions = np.flatnonzero(finite_mask(series))
    if size is not None and len(positions) > size:
        positions = np.sort(rng.choice(positions, size=size, replace=False))
    return series.iloc[positions].reset_index(drop=True)


def evaluate_drift(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] = (),
    overrides: Mapping[str, ColumnOverride | Mapping[str, Any]] | None = None,
    drift_share: float = 0.5,
    sample_size: int | None = DEFAULT_SAMPLE_SIZE,
    seed: int = 0,
    report_path: str | Path | None = None,
    recheck: bool = True,
) -> DriftResult:
    """Compare ``current`` with ``reference`` column by column. ``columns=None`` compares every column of
    either frame; ``sample_size=None`` never samples; ``recheck=False`` keeps sampled verdicts near the
    threshold (for measuring the sampling error only). Raises ``DriftInputError`` when the frames cannot be
    compared (see ``InputProblem``)."""
    from reliability_assets.checks import evidently_adapter

    if sample_size is not None and sample_size <= 1000:
        raise ValueError(f"sample_size {sample_size} must be above 1,000 (or None: every row)")
    if columns is None:
        columns = [*reference.columns, *(c for c in current.columns if c not in reference.columns)]
    columns = list(dict.fromkeys(columns))
    options = {c: ColumnOverride.model_validate(o) for c, o in (overrides or {}).items()}
    unknown = sorted(set(options) - set(columns))
    if unknown:
        raise ValueError(f"drift overrides name columns that are not compared: {', '.join(unknown)}")

    problems = _column_problems(current, reference, columns)
    present = [c for c in columns if c in current.columns and c in reference.columns]
    kinds: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for column in present:
        ref_kind = _kind(reference[column], column in categorical)
        cur_kind = _kind(current[column], column in categorical)
        if "datetime" in (ref_kind, cur_kind):
            skipped[column] = DATETIME_NOTE
        elif ref_kind is None or cur_kind is None:
            dtype = reference[column].dtype if ref_kind is None else current[column].dtype
            problems.append(
                InputProblem(
                    "current",
                    f"column {column!r} has dtype {dtype}, which drift cannot compare; leave it out of "
                    "`columns` or name it in `categorical`",
                    column,
                    "dtype",
                )
            )
        elif ref_kind == "numerical" and cur_kind != "numerical":
            problems.append(
                InputProblem(
                    "current",
                    f"column {column!r} is numerical in the reference but {current[column].dtype} in the "
                    "current table",
                    column,
                    "dtype",
                )
            )
        else:
            kinds[column] = ref_kind
    if not present and not problems:
        problems.append(InputProblem("setup", "no column to compare", reason="nothing_to_compare"))
    elif present and not kinds and not problems:
        problems.append(
            InputProblem(
                "setup",
                f"no column to compare: {', '.join(skipped)} "
                + ("is a datetime column" if len(skipped) == 1 else "are datetime columns")
                + " (skipped, as Evidently's preset skips them); derive in the asset a number that stays "
                "put while nothing changes (e.g. age in days against the batch's as-of date) and compare "
                "that",
                reason="nothing_to_compare",
            )
        )

    # Drop missing values column by column, then resolve each method as Evidently does on every row:
    # its rule reads the reference's size and the number of distinct values in both. A sample of more
    # than 1,000 values keeps the first; if the samples hold more than 5 distinct values so does the
    # full data, otherwise the full data is asked. One pass per column and side keeps memory flat.
    rng = {"current": np.random.default_rng(seed), "reference": np.random.default_rng(seed + 1)}
    frames = {"current": current, "reference": reference}
    for side, frame in frames.items():
        if len(frame) == 0:
            problems.insert(0, InputProblem(_where(side), f"the {side} table has no rows", reason="no_rows"))
    empty_sides = {p.where for p in problems if p.reason == "no_rows"}
    samples: dict[str, dict[str, pd.Series]] = {"current": {}, "reference": {}}
    counts: dict[str, int] = {}
    methods: dict[str, str] = {}
    to_sample: list[str] = []
    for column in kinds:
        found: dict[str, int] = {}
        for side, frame in frames.items():
            mask = finite_mask(frame[column])
            positions = np.arange(len(mask)) if mask.all() else np.flatnonzero(mask)
            found[side] = len(positions)
            if not len(positions) and _where(side) not in empty_sides:
                problems.append(
                    InputProblem(
                        _where(side),
                        f"column {column!r} is null or infinite in all {len(frame):,} rows of the {side} "
                        "table: drift needs values on both sides; fix the data upstream or leave the column "
                        "out with `columns=`",
                        column,
                        "empty",
                    )
                )
            if sample_size is not None and len(positions) > sample_size:
                positions = np.sort(rng[side].choice(positions, size=sample_size, replace=False))
            samples[side][column] = frame[column].iloc[positions].reset_index(drop=True)
        if problems:
            continue  # keep collecting problems; nothing is computed
        counts[column] = found["current"]
        ref_s, cur_s = samples["reference"][column], samples["current"][column]
        is_sample = len(ref_s) < found["reference"] or len(cur_s) < found["current"]
        method = options.get(column, ColumnOverride()).method
        if method is None:
            if is_sample and pd.concat([ref_s, cur_s]).nunique() <= 5:
                ref_s = sample_values(reference[column], None, rng["reference"])
                cur_s = sample_values(current[column], None, rng["current"])
            method = evidently_adapter.default_method(ref_s, cur_s, _kind_name(kinds[column])).name
        methods[column] = method
        if is_sample and method in DISTANCE_METHODS:
            to_sample.append(column)
        else:  # compared on every row: Evidently cleans the full column itself
            del samples["current"][column], samples["reference"][column]
    if problems:
        raise DriftInputError(problems)

    full = [c for c in kinds if c not in to_sample]
    margins = {methods[c]: recheck_margin(sample_size, methods[c]) for c in to_sample if sample_size}

    def thresholds(column: str) -> float | None:
        return options.get(column, ColumnOverride()).threshold

    results: dict[str, ColumnDrift] = {}
    snapshots: list[tuple[str, Any]] = []
    if to_sample:
        cur = pd.DataFrame({c: samples["current"][c] for c in to_sample})  # shorter columns pad with NaN
        ref = pd.DataFrame({c: samples["reference"][c] for c in to_sample})
        snapshot = _run(cur, ref, to_sample, kinds, methods, thresholds)
        snapshots.append(("", snapshot))
        rows = {c: len(samples["current"][c]) for c in to_sample}
        for c in _column_results(snapshot.dict(), kinds, methods, rows):
            results[c.column] = c
    if full:
        # A default method on every row is left to ValueDrift, which resolves the same one on the same
        # values: by name Evidently only finds a method registered for the column's type, and its rule
        # picks Z or chi-square (registered for categories) for a number with few values and <= 1,000 rows.
        defaults = {c: None if options.get(c, ColumnOverride()).method is None else methods[c] for c in full}
        snapshot = _run(current[full], reference[full], full, kinds, defaults, thresholds)
        snapshots.append(("_full_rows", snapshot))
        for c in _column_results(snapshot.dict(), kinds, methods, counts):
            results[c.column] = c
    edge = [
        c for c in to_sample if recheck and abs(results[c].score - results[c].threshold) < margins[methods[c]]
    ]
    for column in edge:
        # Every row, through the function ValueDrift itself calls for its test (get_one_column_drift:
        # clean, get_stattest, call it), without the report's histograms: ~0.2 s a column at 1M rows
        # instead of ~1.5 s.
        ref_values = reference[column][finite_mask(reference[column])]
        cur_values = current[column][finite_mask(current[column])]
        outcome = evidently_adapter.run_test(
            ref_values, cur_values, _kind_name(kinds[column]), methods[column], thresholds(column)
        )
        results[column] = replace(
            results[column],
            score=outcome.score,
            threshold=outcome.threshold,
            drifted=outcome.drifted,
            rows_compared=len(cur_values),
            near_threshold=True,
            recomputed=True,
            sampled_score=results[column].score,
        )

    paths = _save_reports(snapshots, report_path)
    notes = [f"{c}: {why}" for c, why in skipped.items()]
    if edge:
        notes.append(
            "recomputed on every row (sampled score within its method's margin of the threshold: "
            + ", ".join(f"{m} {v:.3g}" for m, v in margins.items())
            + f"): {', '.join(edge)}"
        )
    return DriftResult(
        columns=[results[c] for c in kinds],
        drift_share=drift_share,
        reference_rows=len(reference),
        current_rows=len(current),
        sampled=bool(to_sample),
        evidently_version=evidently_adapter.version(),
        report_path=paths[0] if paths else None,
        notes=notes,
        skipped=skipped,
        margins=margins,
        report_paths=paths,
    )


def _column_problems(
    current: pd.DataFrame, reference: pd.DataFrame, columns: Sequence[str]
) -> list[InputProblem]:
    problems = []
    for column in columns:
        in_current, in_reference = column in current.columns, column in reference.columns
        if in_reference and not in_current:
            cause, reason = (
                f"column {column!r} is in the reference but missing from the current table",
                "missing",
            )
        elif in_current and not in_reference:
            cause, reason = f"column {column!r} is in the current table but not in the reference", "extra"
        elif not in_current:
            cause, reason = f"column {column!r} is in neither the current table nor the reference", "missing"
        else:
            continue
        problems.append(InputProblem("current", cause, column, reason))
    return problems


def _kind_name(kind: str) -> Literal["numerical", "categorical"]:
    return "numerical" if kind == "numerical" else "categorical"


def _where(side: str) -> Literal["current", "reference"]:
    return "current" if side == "current" else "reference"


def _run(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    group: Sequence[str],
    kinds: Mapping[str, str],
    methods: Mapping[str, str | None],
    thresholds: Any,
) -> Any:
    """One ValueDrift per column of ``group`` (a method of None: Evidently's default for the column)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    definition = DataDefinition(
        numerical_columns=[c for c in group if kinds[c] == "numerical"],
        categorical_columns=[c for c in group if kinds[c] == "categorical"],
    )
    metrics = [ValueDrift(column=c, method=methods[c], threshold=thresholds(c)) for c in group]
    return Report(metrics, include_tests=True).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )


def _save_reports(snapshots: Sequence[tuple[str, Any]], report_path: str | Path | None) -> list[str]:
    """The first snapshot at ``report_path``; the other beside it (``_full_rows``)."""
    if report_path is None or not snapshots:
        return []
    path = Path(report_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for i, (suffix, snapshot) in enumerate(snapshots):
        target = path if i == 0 else path.with_name(path.stem + suffix + path.suffix)
        tmp = target.with_suffix(".tmp")
        snapshot.save_html(str(tmp))
        tmp.replace(target)
        written.append(str(target))
    return written


def _column_results(
    snapshot: Mapping[str, Any], kinds: Mapping[str, str], methods: Mapping[str, str], rows: Mapping[str, int]
) -> list[ColumnDrift]:
    """Pair each ValueDrift metric with its test (matched by metric id): the test's status is the verdict."""
    status = {t["metric_config"]["metric_id"]: t["status"] for t in snapshot["tests"]}
    out = []
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if metric["id"] not in status:
            name = metric["metric_name"]
            raise RuntimeError(f"Evidently returned no test for {name}; cannot give a verdict")
        column = config["column"]
        out.append(
            ColumnDrift(
                column=column,
                kind=kinds[column],
                method=methods[column],  # the report says a display name when it resolved the method
                score=float(metric["value"]),
                threshold=float(config["threshold"]),
                drifted=status[metric["id"]] == "FAIL",
                rows_compared=rows[column],
            )
        )
    return out
