"""The data-quality gates against the libraries used raw, in the same run, on 100k and 1M rows x 10 columns.

Drift: Evidently's ``DataDriftPreset`` (the documented way: every row, each column's drift computed twice)
against our ``evaluate_drift``, which is what ``build_drift_check`` runs. Ours is given the reference the
framework keeps: every row of the reference materialization (``kept_frames.save_candidate`` stores the
whole table, so a column near its threshold can be recomputed against all of it). The timed call samples
both frames (50,000 values per column and side), runs one ``ValueDrift`` per column, recomputes on every
row any column whose sampled score is within the measured margin of its threshold, and writes the HTML
report (the check does; the preset's time includes none). The verdicts must be equal: each column's test
status and the dataset verdict (drifted share >= 0.5). The score error is our sampled score against the
preset's full-data score, column by column (before any recomputation), shown for the timed seed and over
5 seeds. Ours: median of 3 runs per size, then one more under
``tracemalloc`` for the peak (numpy and pandas report their buffers to it). RSS growth is the peak RSS
above the RSS at the start of the call; it undercounts memory the allocator already held. The preset:
3 runs at 100k, 1 at 1M (~36 s, ~1 GB). Both are warmed once on 20k rows first.

The data: 7 numeric and 3 categorical columns (strings, 10 values), reference and current drawn
independently (numpy default_rng, fixed seeds). The current drifts in 5 columns: n0 shifted by 0.5 sd,
n1 (log-normal) by 0.3 sd, n2 by 0.15 sd (normed Wasserstein ~0.15, near the 0.1 threshold), n3's spread
x1.4 and c0's mix (Jensen-Shannon ~0.25); the other 5 do not, so a false negative anywhere flips the
dataset verdict, and one false positive is visible in the per-column verdicts.

Knife edge: 10 seeds x 1M rows x 10 columns (normal, log-normal, heavy-tailed log-normal, scaled
exponential, Poisson counts, 70% NaN, whole years with ties; categoricals of 10, 50 and 3 values), each
shifted so that its full-data score sits within +/-10% of the 0.1 threshold (``knife_edge_frames``), so
about half drift and the dataset verdict itself sits at the 0.5 share. The preset on every row against ours
(timed, one run per seed) and against the sample alone (``recheck=False``: what the gate did before it
recomputed near-threshold columns). ``knife_edge_agreement`` is the share of seeds whose dataset verdict
equals the preset's (target 1.0). This part takes ~10 minutes (the preset: ~40 s per seed).

The recomputation margin itself is measured by ``--sampling-error`` (about 8 minutes, not run by default):
18 column shapes at 1M rows with full-data scores within +/-10% of the threshold, 12 data seeds x 8 sample
seeds; it prints the error distribution per shape and per method (quoted in ``drift_eval``'s docstring).

GX: a 4-expectation suite validated by GX alone (ephemeral context, pandas data source, whole-frame batch,
``result_format="SUMMARY"``, progress bars off; context and suite built before timing: the timed part is
``get_batch`` + ``validate``) against our whole check from ``build_gx_checks``, run by direct invocation
of the AssetChecksDefinition, ``list(check(table=df))``: Dagster's invocation (which builds an ephemeral
instance per call, ~50 ms), the GX expectation objects built from the suite, GX, and the check results
with their markdown tables. A second row times the check's body without the Dagster invocation. All are
warmed once; median of 3 interleaved runs per size.

    .venv/bin/python benchmarks/gates.py                    # about 13 minutes, progress on stderr
    .venv/bin/python benchmarks/gates.py --sampling-error   # the margin's measurement, about 8 minutes

The last line is machine-readable: preset_1m_s ours_1m_s drift_ratio (ours/preset at 1M), verdicts_equal
(at 1M), ours_peak_mb (tracemalloc, at 1M), gx_ratio (our direct-invoked check / raw GX at 1M),
knife_edge_agreement (dataset verdicts equal to the preset's, share of seeds), knife_edge_columns_agreement
(every column's verdict equal), knife_edge_sample_alone_agreement (the same without recomputation).
"""

from __future__ import annotations

import os

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import re
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from tabulate import tabulate  # noqa: E402

SIZES = (100_000, 1_000_000)
NUMERIC = [f"n{i}" for i in range(7)]
CATEGORICAL = ["c0", "c1", "c2"]
DRIFTED = {"n0", "n1", "n2", "n3", "c0"}
REFERENCE_SEED, CURRENT_SEED = 20240601, 20240602
RUNS = 3
SPREAD_SEEDS = 5
PRESET_RUNS = {100_000: 3, 1_000_000: 1}
TARGETS = {"drift_ratio": 0.1, "ours_peak_mb": 300, "gx_ratio": 1.2}
STARTED = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- data


def _mix(n: int, skew: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** skew
    return weights / weights.sum()


def make_frame(rows: int, seed: int, *, drift: bool) -> pd.DataFrame:
    """Deterministic; ``drift=True`` moves the columns in ``DRIFTED`` and leaves the others alone."""
    rng = np.random.default_rng(seed)
    shift = (lambda sd: sd) if drift else (lambda sd: 0.0)
    sigma = 0.5  # n1 is log-normal: its sd is sqrt((e^s2 - 1) e^s2) for mu = 0
    n1_sd = float(np.sqrt((np.exp(sigma**2) - 1) * np.exp(sigma**2)))
    values = [f"v{i}" for i in range(10)]
    frame = {
        "n0": rng.normal(50.0, 10.0, rows) + shift(0.5) * 10.0,
        "n1": rng.lognormal(0.0, sigma, rows) + shift(0.3) * n1_sd,
        "n2": rng.normal(0.0, 1.0, rows) + shift(0.15),
        "n3": rng.normal(100.0, 15.0 * (1.4 if drift else 1.0), rows),
        "n4": rng.exponential(3.0, rows),
        "n5": rng.uniform(-5.0, 5.0, rows),
        "n6": rng.poisson(20.0, rows).astype("int64"),
        # c0: a flatter mix in the current (Jensen-Shannon distance ~0.25); c1, c2 unchanged
        "c0": rng.choice(values, rows, p=_mix(10, 0.3 if drift else 1.2)),
        "c1": rng.choice(values, rows, p=_mix(10, 1.0)),
        "c2": rng.choice(values, rows, p=_mix(10, 0.0)),
    }
    out = pd.DataFrame(frame)
    for column in CATEGORICAL:
        out[column] = out[column].astype(object)
    return out


# -------------------------------------------------------------------------- knife-edge columns
#
# Column shapes shifted so that Evidently's full-data score lands at ``target`` (drawn within +/-10% of the
# 0.1 threshold of both default methods): normed Wasserstein for numbers, Jensen-Shannon for categories and
# a number with 4 values. Each returns (reference, current) for ``rows`` rows.

Shape = Callable[[int, np.random.Generator, float], tuple[pd.Series, pd.Series]]


def _shifted(draw: Callable[[np.random.Generator, int], np.ndarray]) -> Shape:
    """A location shift of ``target`` reference standard deviations: the normed Wasserstein distance."""

    def make(rows: int, rng: np.random.Generator, target: float) -> tuple[pd.Series, pd.Series]:
        ref = draw(rng, rows)
        finite = ref[np.isfinite(ref)]
        return pd.Series(ref), pd.Series(draw(rng, rows) + target * float(np.std(finite)))

    return make


def _with_gaps(draw: Callable[[np.random.Generator, int], np.ndarray], share: float, fill: float) -> Callable:
    def gapped(rng: np.random.Generator, rows: int) -> np.ndarray:
        values = draw(rng, rows)
        gaps = rng.random(rows) < share
        values[gaps] = fill if fill != np.inf else rng.choice([np.inf, -np.inf], int(gaps.sum()))
        return values

    return gapped


def _js(p: np.ndarray, q: np.ndarray) -> float:
    from scipy.spatial import distance

    return float(distance.jensenshannon(p, q))  # Evidently: scipy, natural log


def _mixed(labels: list[Any], skew: float, *, gaps: float = 0.0, astype: str = "object") -> Shape:
    """A categorical mix moved toward the reversed mix until the Jensen-Shannon distance is ``target``."""

    def make(rows: int, rng: np.random.Generator, target: float) -> tuple[pd.Series, pd.Series]:
        p = _mix(len(labels), skew)
        q = p[::-1] if skew else np.r_[0.7, np.full(len(labels) - 1, 0.3 / (len(labels) - 1))]
        lo, hi = 0.0, 1.0
        for _ in range(60):  # bisect the mixing weight
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if _js(p, (1 - mid) * p + mid * q) < target else (lo, mid)
        current = (1 - lo) * p + lo * q
        series = []
        for mix in (p, current):
            codes = rng.choice(len(labels), rows, p=mix)
            values = pd.Series(np.asarray(labels, dtype=object)[codes])
            if gaps:
                values[rng.random(rows) < gaps] = None
            series.append(values if astype == "object" else values.astype(astype))
        return series[0], series[1]

    return make


def _scaled(rows: int, rng: np.random.Generator, target: float) -> tuple[pd.Series, pd.Series]:
    """Exponential durations stretched by 1 + target (the quantiles move by target x sd)."""
    return pd.Series(rng.exponential(3.0, rows)), pd.Series(rng.exponential(3.0 * (1 + target), rows))


def _counts(rows: int, rng: np.random.Generator, target: float) -> tuple[pd.Series, pd.Series]:
    """Poisson counts whose mean moves by target x sd (integers, many ties)."""
    lam = 20.0
    return pd.Series(rng.poisson(lam, rows)), pd.Series(rng.poisson(lam + target * np.sqrt(lam), rows))


def _rounded(rows: int, rng: np.random.Generator, target: float) -> tuple[pd.Series, pd.Series]:
    """Ages in whole years: a rounded normal (ties), shifted by target x sd before rounding."""
    return (
        pd.Series(np.round(rng.normal(45.0, 12.0, rows))),
        pd.Series(np.round(rng.normal(45.0 + target * 12.0, 12.0, rows))),
    )


LETTERS = [f"v{i}" for i in range(200)]
SHAPES: dict[str, Shape] = {
    "normal": _shifted(lambda rng, n: rng.normal(50.0, 10.0, n)),
    "lognormal s=0.5": _shifted(lambda rng, n: rng.lognormal(0.0, 0.5, n)),
    "lognormal s=1 (heavy tail)": _shifted(lambda rng, n: rng.lognormal(0.0, 1.0, n)),
    "pareto a=3 (heavy tail)": _shifted(lambda rng, n: rng.pareto(3.0, n) + 1.0),
    "uniform": _shifted(lambda rng, n: rng.uniform(-5.0, 5.0, n)),
    "bimodal": _shifted(lambda rng, n: rng.normal(0.0, 1.0, n) + 5.0 * (rng.random(n) < 0.5)),
    "exponential, scaled": _scaled,
    "poisson counts": _counts,
    "whole years (ties)": _rounded,
    "normal, 70% NaN": _shifted(_with_gaps(lambda rng, n: rng.normal(0.0, 1.0, n), 0.7, np.nan)),
    "normal, 1% +/-inf": _shifted(_with_gaps(lambda rng, n: rng.normal(0.0, 1.0, n), 0.01, np.inf)),
    "categorical, 2 values": _mixed(["yes", "no"], 0.0),
    "categorical, 3 values": _mixed(LETTERS[:3], 1.0),
    "categorical, 10 values": _mixed(LETTERS[:10], 1.0),
    "categorical, 10 values, 50% null": _mixed(LETTERS[:10], 1.0, gaps=0.5),
    "categorical, 50 values": _mixed(LETTERS[:50], 1.0, astype="category"),
    "categorical, 200 values": _mixed(LETTERS, 0.8),
    "number with 4 values": _mixed([0, 1, 2, 3], 1.0, astype="int64"),
}
#: The knife-edge case's 10 columns (7 numerical, 3 categorical), one shape each.
KNIFE_COLUMNS = {
    "k0": "normal",
    "k1": "lognormal s=0.5",
    "k2": "lognormal s=1 (heavy tail)",
    "k3": "exponential, scaled",
    "k4": "poisson counts",
    "k5": "normal, 70% NaN",
    "k6": "whole years (ties)",
    "k7": "categorical, 10 values",
    "k8": "categorical, 50 values",
    "k9": "categorical, 3 values",
}
KNIFE_CATEGORICAL = ["k7", "k8", "k9"]
KNIFE_SEEDS = 10
KNIFE_ROWS = 1_000_000


def knife_edge_frames(rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current whose every column's full-data score is within +/-10% of the threshold."""
    rng = np.random.default_rng([seed, 1])
    ref, cur = {}, {}
    for column, shape in KNIFE_COLUMNS.items():
        ref[column], cur[column] = SHAPES[shape](rows, rng, 0.1 * rng.uniform(0.9, 1.1))
    return pd.DataFrame(ref), pd.DataFrame(cur)


def sampling_error_study(data_seeds: int = 12, sample_seeds: int = 8, rows: int = 1_000_000) -> None:
    """The sampling error of a distance at the default sample size, measured where it matters: columns whose
    full-data score is within +/-10% of the threshold. The full-data score and the sampled one come from
    the same Evidently function (the one ``ValueDrift`` calls); samples are drawn as ``evaluate_drift``
    draws them (``sample_values``: missing values dropped, then a uniform sample per side)."""
    from reliability_assets.checks import evidently_adapter
    from reliability_assets.checks.drift_eval import DEFAULT_SAMPLE_SIZE, RECHECK_MARGINS, sample_values

    errors: dict[str, list[float]] = {}
    method_of: dict[str, str] = {}
    full_scores: list[float] = []
    for data_seed in range(data_seeds):
        log(f"sampling error: data seed {data_seed + 1}/{data_seeds} ({len(SHAPES)} shapes x {rows:,} rows)")
        for index, (name, shape) in enumerate(SHAPES.items()):
            rng = np.random.default_rng([data_seed, index])
            ref, cur = shape(rows, rng, 0.1 * rng.uniform(0.9, 1.1))
            numeric = pd.api.types.is_float_dtype(ref.dtype) or (
                pd.api.types.is_integer_dtype(ref.dtype) and ref.nunique() > 5
            )
            kind = "numerical" if numeric else "categorical"
            method_of[name] = "wasserstein" if numeric else "jensenshannon"
            full_ref, full_cur = sample_values(ref, None, rng), sample_values(cur, None, rng)
            full = evidently_adapter.run_test(full_ref, full_cur, kind, method_of[name]).score
            full_scores.append(full)
            for sample_seed in range(sample_seeds):
                sampler = np.random.default_rng([data_seed, index, sample_seed])
                score = evidently_adapter.run_test(
                    sample_values(ref, DEFAULT_SAMPLE_SIZE, sampler),
                    sample_values(cur, DEFAULT_SAMPLE_SIZE, sampler),
                    kind,
                    method_of[name],
                ).score
                errors.setdefault(name, []).append(abs(score - full))
    table = [
        [name, method_of[name], f"{np.median(v):.4f}", f"{np.quantile(v, 0.99):.4f}", f"{max(v):.4f}"]
        for name, v in errors.items()
    ]
    headers = ["shape", "method", "median", "p99", "max"]
    print(tabulate(table, headers=headers, tablefmt="github", disable_numparse=True))
    every = np.concatenate([np.asarray(v) for v in errors.values()])
    print(
        f"\n{len(every):,} column-runs ({data_seeds} data seeds x {sample_seeds} sample seeds x "
        f"{len(SHAPES)} shapes), {DEFAULT_SAMPLE_SIZE:,} values per side, full-data scores "
        f"{min(full_scores):.4f}..{max(full_scores):.4f}"
    )
    line = []
    for method in sorted(set(method_of.values())):
        mine = np.concatenate([np.asarray(v) for n, v in errors.items() if method_of[n] == method])
        q = {k: float(np.quantile(mine, p)) for k, p in (("median", 0.5), ("p99", 0.99), ("p999", 0.999))}
        margin = RECHECK_MARGINS[method]
        print(
            f"{method} ({len(mine):,} runs): |sampled - full| median {q['median']:.4f}, p99 {q['p99']:.4f}, "
            f"p99.9 {q['p999']:.4f}, max {mine.max():.4f}; margin {margin} = "
            f"{margin / mine.max():.1f}x the max"
        )
        line.append(f"{method}_max={mine.max():.4f} {method}_p99={q['p99']:.4f} {method}_margin={margin}")
    print(" ".join(line) + f" column_runs={len(every)}")


# ----------------------------------------------------------------------------------------- helpers


def _status_mb() -> dict[str, float]:
    text = Path("/proc/self/status").read_text()
    return {k: int(re.search(rf"{k}:\s+(\d+)", text).group(1)) / 1024 for k in ("VmRSS", "VmHWM")}  # type: ignore[union-attr]


def rss_growth(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, seconds, peak RSS above the RSS at the start in MB); Linux only, else NaN."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM) to the current RSS
        before = _status_mb()["VmRSS"]
    except OSError:
        before = float("nan")
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    try:
        growth = _status_mb()["VmHWM"] - before
    except OSError:
        growth = float("nan")
    return result, seconds, growth


def traced_peak_mb(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


# ------------------------------------------------------------------------------------------- drift


def run_preset(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    numerical: list[str] = NUMERIC,
    categorical: list[str] = CATEGORICAL,
) -> dict[str, Any]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    snapshot = Report([DataDriftPreset(drift_share=0.5)], include_tests=True).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )
    return snapshot.dict()


def preset_verdicts(
    snapshot: dict[str, Any], columns: list[str] = NUMERIC + CATEGORICAL
) -> tuple[dict[str, bool], bool, dict[str, float]]:
    """Per-column verdicts and scores, and the dataset verdict, read from the preset's tests."""
    status = {t["metric_config"]["metric_id"]: t["status"] for t in snapshot["tests"]}
    verdicts, scores, dataset = {}, {}, None
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":ValueDrift"):
            verdicts[config["column"]] = status[metric["id"]] == "FAIL"
            scores[config["column"]] = float(metric["value"])
        elif config["type"].endswith(":DriftedColumnsCount"):
            dataset = status[metric["id"]] == "FAIL"
    if dataset is None or set(verdicts) != set(columns):
        raise RuntimeError(f"unexpected preset output: {sorted(verdicts)}, dataset verdict {dataset}")
    return verdicts, dataset, scores


def run_ours(current: pd.DataFrame, reference: pd.DataFrame, report: Path) -> Any:
    from reliability_assets.checks.drift_eval import evaluate_drift

    return evaluate_drift(current, reference, categorical=CATEGORICAL, report_path=report)


def drift_gate(rows: int, reference: pd.DataFrame, current: pd.DataFrame, tmp: Path) -> dict[str, Any]:
    report = tmp / f"drift_{rows}.html"
    preset_s, ours_s, preset_rss, ours_rss = [], [], [], []
    snapshot = result = None
    for i in range(RUNS):
        if i < PRESET_RUNS[rows]:
            log(f"drift {rows:,} rows: preset run {i + 1}/{PRESET_RUNS[rows]}")
            snapshot, seconds, growth = rss_growth(lambda: run_preset(current, reference))
            preset_s.append(seconds)
            preset_rss.append(growth)
            log(f"  preset {seconds:.2f} s, RSS +{growth:.0f} MB")
        log(f"drift {rows:,} rows: ours run {i + 1}/{RUNS}")
        result, seconds, growth = rss_growth(lambda: run_ours(current, reference, report))
        ours_s.append(seconds)
        ours_rss.append(growth)
        log(f"  ours {seconds:.3f} s, RSS +{growth:.0f} MB")
    log(f"drift {rows:,} rows: ours under tracemalloc")
    peak = traced_peak_mb(lambda: run_ours(current, reference, report))
    assert snapshot is not None and result is not None
    verdicts, dataset, scores = preset_verdicts(snapshot)
    if {c for c, drifted in verdicts.items() if drifted} != DRIFTED:
        found = sorted(c for c, drifted in verdicts.items() if drifted)
        log(f"  note: the preset finds drift in {found}; the data was built to drift in {sorted(DRIFTED)}")
    columns = {c.column: c for c in result.columns}
    errors = {c: abs(sampled_score(columns[c]) - scores[c]) for c in scores}
    return {
        "preset_s": statistics.median(preset_s),
        "ours_s": statistics.median(ours_s),
        "columns_equal": verdicts == result.verdicts(),
        "dataset_equal": dataset == result.dataset_drift,
        "preset_dataset": dataset,
        "ours_dataset": result.dataset_drift,
        "peak_mb": peak,
        "ours_rss_mb": max(ours_rss),
        "preset_rss_mb": max(preset_rss),
        "errors": errors,
        "per_column": [
            (
                c,
                columns[c].method,
                scores[c],
                sampled_score(columns[c]),
                errors[c],
                verdicts[c],
                columns[c].drifted,
                columns[c].recomputed,
            )
            for c in NUMERIC + CATEGORICAL
        ],
        "rows_compared": {c.rows_compared for c in result.columns if not c.recomputed},
        "recomputed": result.recomputed,
        "report_mb": report.stat().st_size / 2**20,
        "seeds": seed_spread(rows, reference, current, result, verdicts, dataset, scores),
    }


def seed_spread(
    rows: int,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    first: Any,
    verdicts: dict[str, bool],
    dataset: bool,
    scores: dict[str, float],
) -> dict[str, Any]:
    """The sampling error over ``SPREAD_SEEDS`` seeds (both samples), the timed one included: one seed's
    max over 10 columns is a single draw. The error is the sampled score's (before any recomputation);
    the verdicts are the final ones."""
    from reliability_assets.checks.drift_eval import evaluate_drift

    log(f"drift {rows:,} rows: sampling error over {SPREAD_SEEDS} seeds (no report, not timed)")
    results = [first]
    for seed in range(1, SPREAD_SEEDS):
        results.append(evaluate_drift(current, reference, categorical=CATEGORICAL, seed=seed))
    by_method: dict[str, list[float]] = {}
    for result in results:
        for c in result.columns:
            by_method.setdefault(c.method, []).append(abs(sampled_score(c) - scores[c.column]))
    agree = sum(r.verdicts() == verdicts and r.dataset_drift == dataset for r in results)
    return {
        "max": {m: max(v) for m, v in by_method.items()},
        "median": {m: statistics.median(v) for m, v in by_method.items()},
        "agree": agree,
        "n": len(results),
    }


def sampled_score(column: Any) -> float:
    """A column's score from its sample (a recomputed column keeps it beside its full-data score)."""
    return column.sampled_score if column.recomputed else column.score


def knife_edge_case() -> dict[str, Any]:
    """``KNIFE_SEEDS`` pairs of 1M-row frames whose 10 columns all have full-data scores within +/-10% of
    their thresholds: the preset on every row against ours (sample, then recomputation near the
    threshold), and against the sample alone (``recheck=False``) to show what recomputation changes."""
    from reliability_assets.checks.drift_eval import evaluate_drift

    columns = list(KNIFE_COLUMNS)
    numerical = [c for c in columns if c not in KNIFE_CATEGORICAL]
    runs = []
    for seed in range(KNIFE_SEEDS):
        log(f"knife edge {seed + 1}/{KNIFE_SEEDS}: generating {KNIFE_ROWS:,} rows x {len(columns)} columns")
        reference, current = knife_edge_frames(KNIFE_ROWS, seed)
        log("  preset on every row")
        started = time.perf_counter()
        snapshot = run_preset(current, reference, numerical, KNIFE_CATEGORICAL)
        preset_s = time.perf_counter() - started
        verdicts, dataset, scores = preset_verdicts(snapshot, columns)
        del snapshot
        log("  ours")
        started = time.perf_counter()
        ours = evaluate_drift(current, reference, categorical=KNIFE_CATEGORICAL, seed=seed)
        ours_s = time.perf_counter() - started
        alone = evaluate_drift(current, reference, categorical=KNIFE_CATEGORICAL, seed=seed, recheck=False)
        within = sum(0.09 <= scores[c] <= 0.11 for c in columns)
        runs.append(
            {
                "preset_s": preset_s,
                "ours_s": ours_s,
                "dataset_equal": ours.dataset_drift == dataset,
                "columns_equal": ours.verdicts() == verdicts,
                "alone_dataset_equal": alone.dataset_drift == dataset,
                "alone_columns_equal": alone.verdicts() == verdicts,
                "preset_dataset": dataset,
                "recomputed": len(ours.recomputed),
                "within": within,
                "drifted": sum(verdicts.values()),
                "errors": [abs(sampled_score(c) - scores[c.column]) for c in ours.columns],
            }
        )
        log(
            f"  preset {preset_s:.1f} s (dataset drift {dataset}, {sum(verdicts.values())} of 10 drifted, "
            f"{within} of 10 scores within +/-10%), ours {ours_s:.2f} s, {len(ours.recomputed)} recomputed, "
            f"dataset equal {runs[-1]['dataset_equal']}, sample alone {runs[-1]['alone_dataset_equal']}"
        )
        del reference, current
    n = len(runs)
    return {
        "runs": runs,
        "agreement": sum(r["dataset_equal"] for r in runs) / n,
        "columns_agreement": sum(r["columns_equal"] for r in runs) / n,
        "alone_agreement": sum(r["alone_dataset_equal"] for r in runs) / n,
        "alone_columns_agreement": sum(r["alone_columns_equal"] for r in runs) / n,
        "preset_s": statistics.median(r["preset_s"] for r in runs),
        "ours_s": statistics.median(r["ours_s"] for r in runs),
        "recomputed": sum(r["recomputed"] for r in runs),
        "within": sum(r["within"] for r in runs),
        "max_error": max(max(r["errors"]) for r in runs),
    }


# ---------------------------------------------------------------------------------------------- GX

SUITE = [
    {"expectation": "expect_column_values_to_not_be_null", "kwargs": {"column": "n0"}},
    {"expectation": "expect_column_values_to_not_be_null", "kwargs": {"column": "c1"}},
    {
        "expectation": "expect_column_values_to_be_between",
        "kwargs": {"column": "n3", "min_value": 40, "max_value": 160},
    },
    {
        "expectation": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "c0", "value_set": [f"v{i}" for i in range(10)]},
    },
]


def raw_gx() -> Callable[[pd.DataFrame], tuple[bool, int]]:
    """GX alone: everything but the validation itself is built here, outside the timer."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.registry import get_expectation_impl

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (
        context.data_sources.add_pandas("raw")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("all")
    )
    suite = gx.ExpectationSuite(
        name="raw", expectations=[get_expectation_impl(e["expectation"])(**e["kwargs"]) for e in SUITE]
    )

    def validate(frame: pd.DataFrame) -> tuple[bool, int]:
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite, result_format="SUMMARY")
        return bool(result.success), sum(not r.success for r in result.results)

    return validate


def ours_gx() -> tuple[
    Callable[[pd.DataFrame], tuple[bool, int]], Callable[[pd.DataFrame], tuple[bool, int]]
]:
    """Our check by direct invocation, and (to show what that invocation adds) the check's body alone."""
    from reliability_assets.checks.gx import build_gx_checks

    check = build_gx_checks("frame", SUITE)
    body = check.op.compute_fn.decorated_fn  # the function under @multi_asset_check

    def invoke(frame: pd.DataFrame) -> tuple[bool, int]:
        (result,) = list(check(table=frame))  # every expectation is critical: one check result
        return bool(result.passed), int(result.metadata["failed"].value)

    def body_only(frame: pd.DataFrame) -> tuple[bool, int]:
        (result,) = list(body(table=frame))
        return bool(result.passed), int(result.metadata["failed"].value)

    return invoke, body_only


def gx_gate(rows: int, frame: pd.DataFrame, variants: dict[str, Callable]) -> dict[str, Any]:
    log(f"GX {rows:,} rows: warming each, then {RUNS} interleaved runs")
    outcomes = {name: fn(frame) for name, fn in variants.items()}
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(RUNS):
        for name, fn in variants.items():
            started = time.perf_counter()
            fn(frame)
            seconds[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    log("  " + ", ".join(f"{name} {s:.3f} s" for name, s in medians.items()))
    return {**medians, "equal": len(set(outcomes.values())) == 1, "outcome": outcomes["raw"]}


# -------------------------------------------------------------------------------------------- main


def yes(value: bool) -> str:
    return "yes" if value else "NO"


def main() -> None:
    log("importing Evidently and GX (not timed)")
    import evidently  # noqa: F401
    import great_expectations  # noqa: F401
    from evidently.presets import DataDriftPreset  # noqa: F401

    log(f"generating reference and current, {SIZES[-1]:,} rows x 10 columns")
    reference_full = make_frame(SIZES[-1], REFERENCE_SEED, drift=False)
    current_full = make_frame(SIZES[-1], CURRENT_SEED, drift=True)
    frames = {
        rows: (reference_full.iloc[:rows].copy(), current_full.iloc[:rows].copy()) for rows in SIZES[:-1]
    }
    frames[SIZES[-1]] = (reference_full, current_full)

    drift: dict[int, dict[str, Any]] = {}
    gx_results: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        log("warming Evidently on 20k rows (first runs load templates and registries)")
        small_ref, small_cur = reference_full.iloc[:20_000], current_full.iloc[:20_000]
        run_preset(small_cur, small_ref)
        run_ours(small_cur, small_ref, Path(tmp) / "warm.html")
        for rows in SIZES:
            drift[rows] = drift_gate(rows, frames[rows][0], frames[rows][1], Path(tmp))
        invoke, body = ours_gx()
        variants = {"raw": raw_gx(), "ours": invoke, "body": body}
        for rows in SIZES:
            gx_results[rows] = gx_gate(rows, frames[rows][1], variants)
    del frames, reference_full, current_full
    knife = knife_edge_case()

    table = []
    for rows, d in drift.items():
        table.append(
            [
                "drift",
                f"{rows:,}",
                f"{d['preset_s']:.2f}",
                f"{d['ours_s']:.3f}",
                f"{d['ours_s'] / d['preset_s']:.3f}",
                f"columns {yes(d['columns_equal'])}, dataset {yes(d['dataset_equal'])}",
                f"{d['peak_mb']:.0f}",
                f"{d['ours_rss_mb']:.0f} / {d['preset_rss_mb']:.0f}",
                f"{max(d['errors'].values()):.4f}",
            ]
        )
    runs = knife["runs"]
    table.append(
        [
            "drift, knife edge",
            f"{KNIFE_ROWS:,} x {len(runs)} seeds",
            f"{knife['preset_s']:.2f}",
            f"{knife['ours_s']:.3f}",
            f"{knife['ours_s'] / knife['preset_s']:.3f}",
            f"dataset {sum(r['dataset_equal'] for r in runs)} of {len(runs)} "
            f"(knife_edge_agreement={knife['agreement']:.2f}), columns "
            f"{sum(r['columns_equal'] for r in runs)} of {len(runs)}",
            "",
            "",
            f"{knife['max_error']:.4f} (sampled)",
        ]
    )
    for label, key in (("GX check", "ours"), ("GX check body", "body")):
        for rows, g in gx_results.items():
            passed, failed = g["outcome"]
            outcome = f"{'pass' if passed else 'fail'}, {failed} of {len(SUITE)} failed"
            table.append(
                [
                    label,
                    f"{rows:,}",
                    f"{g['raw']:.3f}",
                    f"{g[key]:.3f}",
                    f"{g[key] / g['raw']:.3f}",
                    f"{yes(g['equal'])} ({outcome})",
                    "",
                    "",
                    "",
                ]
            )
    headers = [
        "gate",
        "rows",
        "raw s",
        "ours s",
        "ours / raw",
        "verdicts equal",
        "ours peak MB (tracemalloc)",
        "RSS growth MB ours / raw",
        "max |score error|",
    ]
    print(tabulate(table, headers=headers, tablefmt="github", disable_numparse=True))
    print(
        "GX check: our AssetChecksDefinition invoked directly, check(table=df); GX check body: the same "
        "function without Dagster's direct invocation (which builds an ephemeral instance per call)"
    )

    big = drift[SIZES[-1]]
    print(
        f"\nper column at {SIZES[-1]:,} rows: the preset on every row, ours on "
        f"{', '.join(f'{r:,}' for r in sorted(big['rows_compared']))} sampled rows per side"
    )
    per_column = [
        [
            c,
            m,
            f"{p:.4f}",
            f"{o:.4f}",
            f"{e:.4f}",
            "DRIFT" if pv else "ok",
            ("DRIFT" if ov else "ok") + (" (recomputed on every row)" if r else ""),
        ]
        for c, m, p, o, e, pv, ov, r in big["per_column"]
    ]
    headers = ["column", "method", "preset score", "ours sampled score", "|error|", "preset", "ours"]
    print(tabulate(per_column, headers=headers, tablefmt="github", disable_numparse=True))
    print()
    for rows, d in drift.items():
        spread = d["seeds"]
        errors = ", ".join(
            f"{m} max {spread['max'][m]:.4f} (median {spread['median'][m]:.4f})" for m in spread["max"]
        )
        print(
            f"sampling error at {rows:,} rows over {spread['n']} seeds x 10 columns: {errors}; "
            f"verdicts equal in {spread['agree']} of {spread['n']} seeds"
        )
    print(f"HTML report {big['report_mb']:.1f} MB (written inside our timed call)")
    if big["recomputed"]:
        print(f"recomputed on every row at {SIZES[-1]:,} rows: {', '.join(big['recomputed'])}")
    print(
        f"\nknife edge: {KNIFE_ROWS:,} rows x 10 columns ({', '.join(KNIFE_COLUMNS.values())}), "
        f"{len(runs)} seeds; full-data scores within +/-10% of the threshold: {knife['within']} of "
        f"{10 * len(runs)} columns; the preset called dataset drift in "
        f"{sum(r['preset_dataset'] for r in runs)} of {len(runs)} runs ("
        + ", ".join(str(r["drifted"]) for r in runs)
        + " columns drifted). Ours recomputed "
        f"{knife['recomputed']} of {10 * len(runs)} columns on every row; its dataset verdict equals the "
        f"preset's in {sum(r['dataset_equal'] for r in runs)} of {len(runs)} runs, every column's in "
        f"{sum(r['columns_equal'] for r in runs)}. The sample alone (no recomputation) would have agreed "
        f"on the dataset in {sum(r['alone_dataset_equal'] for r in runs)} of {len(runs)}, on every column in "
        f"{sum(r['alone_columns_equal'] for r in runs)}."
    )

    gx_big = gx_results[SIZES[-1]]
    drift_ratio = big["ours_s"] / big["preset_s"]
    gx_ratio = gx_big["ours"] / gx_big["raw"]
    equal = big["columns_equal"] and big["dataset_equal"]
    met = {
        "drift_ratio": drift_ratio <= TARGETS["drift_ratio"],
        "verdicts equal": equal,
        "ours_peak_mb": big["peak_mb"] <= TARGETS["ours_peak_mb"],
        "gx_ratio": gx_ratio <= TARGETS["gx_ratio"],
        "knife_edge_agreement": knife["agreement"] == 1.0,
    }
    limits = {
        **{k: f" <= {v}" for k, v in TARGETS.items()},
        "verdicts equal": "",
        "knife_edge_agreement": " = 1",
    }
    print("targets: " + ", ".join(f"{k}{limits[k]} {'met' if ok else 'MISSED'}" for k, ok in met.items()))
    print(
        f"preset_1m_s={big['preset_s']:.3f} ours_1m_s={big['ours_s']:.3f} drift_ratio={drift_ratio:.4f} "
        f"verdicts_equal={str(equal).lower()} ours_peak_mb={big['peak_mb']:.1f} gx_ratio={gx_ratio:.3f} "
        f"knife_edge_agreement={knife['agreement']:.2f} knife_edge_columns_agreement="
        f"{knife['columns_agreement']:.2f} knife_edge_sample_alone_agreement={knife['alone_agreement']:.2f}"
    )


if __name__ == "__main__":
    if "--sampling-error" in sys.argv[1:]:
        sampling_error_study()
    else:
        main()
