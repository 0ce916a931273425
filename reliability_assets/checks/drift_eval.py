"""Column drift with Evidently, computed once per column and on a sample when the frame is large.

Evidently's ``DataDriftPreset`` computes every column's drift twice (once for the drifted-column count,
once per column): 36 s and ~1 GB on 1M rows x 10 columns here. This runs one ``ValueDrift`` per column, so
each is computed once, and reads each column's verdict from Evidently's own test (a score is a p-value for
some methods and a distance for others, so comparing scores here would be wrong half the time).

Sampling policy. A column whose method is a *distance* (normed Wasserstein, Jensen-Shannon, PSI, KL,
Hellinger, energy distance: what Evidently picks when the reference has more than 1,000 rows) is compared
on a uniform random sample of at most ``sample_size`` rows per side (default 50,000). A distance estimates
a population quantity, and its sampling error shrinks as 1/sqrt(n): at 50,000 rows ``benchmarks/gates.py``
measured a median error of 0.006 (Wasserstein) and 0.005 (Jensen-Shannon) against the full-data score,
0.015 at worst over 5 seeds x 10 columns, against thresholds of 0.1. So a verdict can differ from the
full-data one only for a column within ~0.015 of its threshold; columns within ``NEAR_THRESHOLD`` are
flagged ``near_threshold`` in the result. A *p-value* method's verdict depends on the sample size itself
(more rows, more power), so those columns always use every row. The method is resolved as on the full
data, before sampling, so a sample never changes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, field_validator

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
#: A sampled score this close to its threshold is reported as ``near_threshold``: twice the worst sampling
#: error measured at the default sample size (0.015).
NEAR_THRESHOLD = 0.03


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
class ColumnDrift:
    column: str
    kind: str  # "numerical" | "categorical"
    method: str
    score: float
    threshold: float
    drifted: bool
    rows_compared: int
    near_threshold: bool = False


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

    @property
    def drifted(self) -> list[ColumnDrift]:
        return [c for c in self.columns if c.drifted]

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
            if c.near_threshold:
                verdict += " (near threshold)"
            rows.append(
                f"| {c.column} | {c.kind} | {c.method} | {c.score:.4g} | {c.threshold:.4g} | {verdict} "
                f"| {c.rows_compared:,} |"
            )
        return "\n".join(rows)


def column_kinds(
    frame: pd.DataFrame, columns: Sequence[str], categorical: Sequence[str] = ()
) -> dict[str, str]:
    """Numbers are numerical unless named in ``categorical``; strings, categories and booleans are
    categorical. Anything else (dates, objects of mixed type) must be named or left out."""
    kinds = {}
    for column in columns:
        dtype = frame[column].dtype
        if (
            column in categorical
            or isinstance(dtype, pd.CategoricalDtype)
            or pd.api.types.is_bool_dtype(dtype)
        ):
            kinds[column] = "categorical"
        elif pd.api.types.is_numeric_dtype(dtype):
            kinds[column] = "numerical"
        elif pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
            kinds[column] = "categorical"
        else:
            raise ValueError(
                f"column {column!r} has dtype {dtype}, which drift cannot compare; leave it out of "
                "`columns` or name it in `categorical`"
            )
    return kinds


def sample_rows(frame: pd.DataFrame, size: int, *, seed: int = 0) -> pd.DataFrame:
    """A uniform random sample without replacement; the frame itself when it is small enough."""
    return frame if len(frame) <= size else frame.sample(n=size, random_state=seed)


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
) -> DriftResult:
    """Compare ``current`` with ``reference`` column by column. ``sample_size=None`` never samples."""
    from evidently import DataDefinition, Dataset, Report
    from evidently import __version__ as evidently_version
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType
    from evidently.metrics import ValueDrift

    columns = list(columns if columns is not None else [c for c in reference.columns if c in current.columns])
    missing = [c for c in columns if c not in current.columns or c not in reference.columns]
    if missing:
        where = ["current" if c not in current.columns else "reference" for c in missing]
        raise ValueError(
            "drift columns missing: "
            + ", ".join(f"{c} (not in {w})" for c, w in zip(missing, where, strict=True))
        )
    options = {c: ColumnOverride.model_validate(o) for c, o in (overrides or {}).items()}
    unknown = sorted(set(options) - set(columns))
    if unknown:
        raise ValueError(f"drift overrides name columns that are not compared: {', '.join(unknown)}")
    kinds = column_kinds(reference, columns, categorical)

    sampled = sample_size is not None and max(len(current), len(reference)) > sample_size
    if sampled:
        assert sample_size is not None
        cur_sample = sample_rows(current, sample_size, seed=seed)[columns]
        ref_sample = sample_rows(reference, sample_size, seed=seed + 1)[columns]
    else:  # no copy of a large frame when nothing is sampled
        cur_sample, ref_sample = current, reference

    # Resolve each method as Evidently would on the full data, so sampling cannot change it. Its rule
    # reads the reference size (kept above 1,000 by any sample that size) and whether the union has more
    # than 5 distinct values: if the samples have more, so has the full data; otherwise ask the full data.
    methods: dict[str, str] = {}
    for column in columns:
        kind = ColumnType.Numerical if kinds[column] == "numerical" else ColumnType.Categorical
        method = options.get(column, ColumnOverride()).method
        ref_values, cur_values = ref_sample[column], cur_sample[column]
        if sampled and method is None and pd.concat([ref_values, cur_values]).nunique() <= 5:
            ref_values, cur_values = reference[column], current[column]
        methods[column] = get_stattest(ref_values, cur_values, kind, method).name

    groups: dict[bool, list[str]] = {True: [], False: []}
    for column in columns:
        groups[sampled and methods[column] in DISTANCE_METHODS].append(column)

    results: list[ColumnDrift] = []
    report_html: list[Any] = []
    for use_sample, group in groups.items():
        if not group:
            continue
        cur, ref = (cur_sample, ref_sample) if use_sample else (current, reference)
        cur, ref = cur[group], ref[group]
        definition = DataDefinition(
            numerical_columns=[c for c in group if kinds[c] == "numerical"],
            categorical_columns=[c for c in group if kinds[c] == "categorical"],
        )
        metrics = [
            ValueDrift(column=c, method=methods[c], threshold=options.get(c, ColumnOverride()).threshold)
            for c in group
        ]
        snapshot = Report(metrics, include_tests=True).run(
            current_data=Dataset.from_pandas(cur, data_definition=definition),
            reference_data=Dataset.from_pandas(ref, data_definition=definition),
        )
        report_html.append(snapshot)
        results += _column_results(snapshot.dict(), kinds, len(cur), use_sample)

    path = None
    if report_path is not None:
        path = Path(report_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        report_html[0].save_html(str(tmp))  # the sampled group holds every distance column
        if len(report_html) > 1:
            extra = path.with_name(path.stem + "_full_rows.html")
            report_html[1].save_html(str(extra))
        tmp.replace(path)
    order = {c: i for i, c in enumerate(columns)}
    return DriftResult(
        columns=sorted(results, key=lambda c: order[c.column]),
        drift_share=drift_share,
        reference_rows=len(reference),
        current_rows=len(current),
        sampled=sampled,
        evidently_version=evidently_version,
        report_path=str(path) if path else None,
    )


def _column_results(
    snapshot: Mapping[str, Any], kinds: Mapping[str, str], rows: int, sampled: bool
) -> list[ColumnDrift]:
    """Pair each ValueDrift metric with its test (matched by metric id): the test's status is the verdict."""
    status = {t["metric_config"]["metric_id"]: t["status"] for t in snapshot["tests"]}
    out = []
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if metric["id"] not in status:
            name = metric["metric_name"]
            raise RuntimeError(f"Evidently returned no test for {name}; cannot give a verdict")
        score, threshold = float(metric["value"]), float(config["threshold"])
        out.append(
            ColumnDrift(
                column=config["column"],
                kind=kinds[config["column"]],
                method=config["method"],
                score=score,
                threshold=threshold,
                drifted=status[metric["id"]] == "FAIL",
                rows_compared=rows,
                near_threshold=sampled and abs(score - threshold) < NEAR_THRESHOLD,
            )
        )
    return out
