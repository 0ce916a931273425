"""The data-quality gates against the libraries used raw, in the same run, on 100k and 1M rows x 10 columns.

Drift: Evidently's ``DataDriftPreset`` (the documented way: every row, each column's drift computed twice)
against our ``evaluate_drift``, which is what ``build_drift_check`` runs. Ours is given the reference the
framework caches: ``kept_frames.save_candidate`` keeps ``sample_rows(table, DEFAULT_SAMPLE_SIZE,
seed=seed)`` of the reference materialization (50,000 rows; the check's seed, 0 by default), so that profile
is prepared before the timer; the timed call samples the current frame, runs one ``ValueDrift`` per column
and writes the HTML report (the check does; the preset's time includes none). The verdicts must be equal:
each column's test status and the dataset verdict (drifted share >= 0.5). The score error is our sampled
score against the preset's full-data score, column by column: the sampling error ``drift_eval`` quotes,
shown for the timed seed and over 5 seeds. Ours: median of 3 runs per size, then one more under
``tracemalloc`` for the peak (numpy and pandas report their buffers to it). RSS growth is the peak RSS
above the RSS at the start of the call; it undercounts memory the allocator already held. The preset:
3 runs at 100k, 1 at 1M (~36 s, ~1 GB). Both are warmed once on 20k rows first.

The data: 7 numeric and 3 categorical columns (strings, 10 values), reference and current drawn
independently (numpy default_rng, fixed seeds). The current drifts in 5 columns: n0 shifted by 0.5 sd,
n1 (log-normal) by 0.3 sd, n2 by 0.15 sd (normed Wasserstein ~0.15, near the 0.1 threshold), n3's spread
x1.4 and c0's mix (Jensen-Shannon ~0.25); the other 5 do not, so a false negative anywhere flips the
dataset verdict, and one false positive is visible in the per-column verdicts.

GX: a 4-expectation suite validated by GX alone (ephemeral context, pandas data source, whole-frame batch,
``result_format="SUMMARY"``, progress bars off; context and suite built before timing: the timed part is
``get_batch`` + ``validate``) against our whole check from ``build_gx_checks``, run by direct invocation
of the AssetChecksDefinition, ``list(check(table=df))``: Dagster's invocation (which builds an ephemeral
instance per call, ~50 ms), the GX expectation objects built from the suite, GX, and the check results
with their markdown tables. A second row times the check's body without the Dagster invocation. All are
warmed once; median of 3 interleaved runs per size.

    .venv/bin/python benchmarks/gates.py    # about 2 minutes, progress on stderr

The last line is machine-readable: preset_1m_s ours_1m_s drift_ratio (ours/preset at 1M), verdicts_equal
(at 1M), ours_peak_mb (tracemalloc, at 1M), gx_ratio (our direct-invoked check / raw GX at 1M).
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
#: kept_frames.save_candidate stores sample_rows(table, sample_size, seed=seed): the check's seed, 0
PROFILE_SEED = 0
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


def run_preset(current: pd.DataFrame, reference: pd.DataFrame) -> dict[str, Any]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    snapshot = Report([DataDriftPreset(drift_share=0.5)], include_tests=True).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )
    return snapshot.dict()


def preset_verdicts(snapshot: dict[str, Any]) -> tuple[dict[str, bool], bool, dict[str, float]]:
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
    if dataset is None or set(verdicts) != set(NUMERIC + CATEGORICAL):
        raise RuntimeError(f"unexpected preset output: {sorted(verdicts)}, dataset verdict {dataset}")
    return verdicts, dataset, scores


def run_ours(current: pd.DataFrame, profile: pd.DataFrame, report: Path) -> Any:
    from reliability_assets.checks.drift_eval import evaluate_drift

    return evaluate_drift(current, profile, categorical=CATEGORICAL, report_path=report)


def drift_gate(rows: int, reference: pd.DataFrame, current: pd.DataFrame, tmp: Path) -> dict[str, Any]:
    from reliability_assets.checks.drift_eval import DEFAULT_SAMPLE_SIZE, sample_rows

    profile = sample_rows(reference, DEFAULT_SAMPLE_SIZE, seed=PROFILE_SEED)  # what save_candidate stores
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
        result, seconds, growth = rss_growth(lambda: run_ours(current, profile, report))
        ours_s.append(seconds)
        ours_rss.append(growth)
        log(f"  ours {seconds:.3f} s, RSS +{growth:.0f} MB")
    log(f"drift {rows:,} rows: ours under tracemalloc")
    peak = traced_peak_mb(lambda: run_ours(current, profile, report))
    assert snapshot is not None and result is not None
    verdicts, dataset, scores = preset_verdicts(snapshot)
    if {c for c, drifted in verdicts.items() if drifted} != DRIFTED:
        found = sorted(c for c, drifted in verdicts.items() if drifted)
        log(f"  note: the preset finds drift in {found}; the data was built to drift in {sorted(DRIFTED)}")
    columns = {c.column: c for c in result.columns}
    errors = {c: abs(columns[c].score - scores[c]) for c in scores}
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
            (c, columns[c].method, scores[c], columns[c].score, errors[c], verdicts[c], columns[c].drifted)
            for c in NUMERIC + CATEGORICAL
        ],
        "rows_compared": {c.rows_compared for c in result.columns},
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
    """The sampling error over ``SPREAD_SEEDS`` seeds (profile and current sample), the timed one included:
    one seed's max over 10 columns is a single draw, this is what a README can quote."""
    from reliability_assets.checks.drift_eval import DEFAULT_SAMPLE_SIZE, evaluate_drift, sample_rows

    log(f"drift {rows:,} rows: sampling error over {SPREAD_SEEDS} seeds (no report, not timed)")
    results = [first]
    for seed in range(PROFILE_SEED + 1, PROFILE_SEED + SPREAD_SEEDS):
        profile = sample_rows(reference, DEFAULT_SAMPLE_SIZE, seed=seed)
        results.append(evaluate_drift(current, profile, categorical=CATEGORICAL, seed=seed))
    by_method: dict[str, list[float]] = {}
    for result in results:
        for c in result.columns:
            by_method.setdefault(c.method, []).append(abs(c.score - scores[c.column]))
    agree = sum(r.verdicts() == verdicts and r.dataset_drift == dataset for r in results)
    return {
        "max": {m: max(v) for m, v in by_method.items()},
        "median": {m: statistics.median(v) for m, v in by_method.items()},
        "agree": agree,
        "n": len(results),
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

    from reliability_assets.checks.drift_eval import DEFAULT_SAMPLE_SIZE, sample_rows

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
        run_ours(
            small_cur, sample_rows(small_ref, DEFAULT_SAMPLE_SIZE, seed=PROFILE_SEED), Path(tmp) / "warm.html"
        )
        for rows in SIZES:
            drift[rows] = drift_gate(rows, frames[rows][0], frames[rows][1], Path(tmp))
        invoke, body = ours_gx()
        variants = {"raw": raw_gx(), "ours": invoke, "body": body}
        for rows in SIZES:
            gx_results[rows] = gx_gate(rows, frames[rows][1], variants)

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
        [c, m, f"{p:.4f}", f"{o:.4f}", f"{e:.4f}", "DRIFT" if pv else "ok", "DRIFT" if ov else "ok"]
        for c, m, p, o, e, pv, ov in big["per_column"]
    ]
    headers = ["column", "method", "preset score", "ours score", "|error|", "preset", "ours"]
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

    gx_big = gx_results[SIZES[-1]]
    drift_ratio = big["ours_s"] / big["preset_s"]
    gx_ratio = gx_big["ours"] / gx_big["raw"]
    equal = big["columns_equal"] and big["dataset_equal"]
    met = {
        "drift_ratio": drift_ratio <= TARGETS["drift_ratio"],
        "verdicts equal": equal,
        "ours_peak_mb": big["peak_mb"] <= TARGETS["ours_peak_mb"],
        "gx_ratio": gx_ratio <= TARGETS["gx_ratio"],
    }
    limits = {**{k: f" <= {v}" for k, v in TARGETS.items()}, "verdicts equal": ""}
    print("targets: " + ", ".join(f"{k}{limits[k]} {'met' if ok else 'MISSED'}" for k, ok in met.items()))
    print(
        f"preset_1m_s={big['preset_s']:.3f} ours_1m_s={big['ours_s']:.3f} drift_ratio={drift_ratio:.4f} "
        f"verdicts_equal={str(equal).lower()} ours_peak_mb={big['peak_mb']:.1f} gx_ratio={gx_ratio:.3f}"
    )


if __name__ == "__main__":
    main()
