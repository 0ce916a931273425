"""The Evidently drift check: verdicts agree with Evidently's preset, references follow passing runs."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import PIL.Image
import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    DagsterEventType,
    DagsterInstance,
    FilesystemIOManager,
    RetryPolicy,
    asset,
    asset_check,
    materialize,
)

from reliability_assets.checks import drift_picture
from reliability_assets.checks.drift import build_drift_check
from reliability_assets.checks.drift_eval import (
    DATETIME_NOTE,
    METHODS,
    DriftInputError,
    evaluate_drift,
    finite_mask,
    recheck_margin,
)
from reliability_assets.resources.store_resource import ReliabilityStoreResource


def frame(n: int, *, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Two numeric columns (one shifted by ``shift`` standard deviations), one categorical."""
    rng = np.random.default_rng(seed)
    mix = [0.5, 0.3, 0.2] if not shift else [0.2, 0.3, 0.5]
    return pd.DataFrame(
        {
            "amount": rng.normal(shift, 1.0, n),
            "tenure": rng.normal(0.0, 1.0, n),
            "plan": rng.choice(["free", "basic", "pro"], n, p=mix),
        }
    )


def preset(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    numerical: list[str] | None = None,
    categorical: list[str] | None = None,
    datetime: list[str] | None = None,
) -> tuple[dict[str, bool], bool, dict[str, str]]:
    """What Evidently's own DataDriftPreset says on every row: per-column verdicts, the dataset verdict,
    and each column's method (its display name, e.g. "K-S p_value")."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=["amount", "tenure"] if numerical is None else numerical,
        categorical_columns=["plan"] if categorical is None else categorical,
        datetime_columns=datetime or [],
    )
    snapshot = Report([DataDriftPreset(drift_share=0.5)], include_tests=True).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )
    data = snapshot.dict()
    by_id = {m["id"]: m for m in data["metrics"]}
    columns: dict[str, bool] = {}
    methods: dict[str, str] = {}
    dataset = False
    for test in data["tests"]:
        metric = by_id[test["metric_config"]["metric_id"]]
        if "column" in metric["config"]:
            columns[metric["config"]["column"]] = test["status"] == "FAIL"
            methods[metric["config"]["column"]] = metric["config"]["method"]
        else:
            dataset = test["status"] == "FAIL"
    return columns, dataset, methods


def preset_verdicts(current: pd.DataFrame, reference: pd.DataFrame) -> tuple[dict[str, bool], bool]:
    columns, dataset, _ = preset(current, reference)
    return columns, dataset


def display_name(method: str) -> str:
    """Evidently's display name for a stattest, as the preset's metric config reports it."""
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests

    return next(iter(_registered_stat_tests[method].values())).display_name


def test_method_list_matches_evidently() -> None:
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests

    assert set(METHODS) == set(_registered_stat_tests)


@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_sampled_verdicts_equal_the_preset_on_every_row(shift: float) -> None:
    reference, current = frame(20_000, seed=1), frame(20_000, shift=shift, seed=2)
    ours = evaluate_drift(current, reference, categorical=["plan"], sample_size=5_000)
    columns, dataset = preset_verdicts(current, reference)
    assert ours.sampled
    assert ours.verdicts() == columns
    assert ours.dataset_drift == dataset == (shift > 0)
    assert {c.method for c in ours.columns} == {"wasserstein", "jensenshannon"}


def test_p_value_methods_use_every_row_and_overrides_apply() -> None:
    reference, current = frame(20_000, seed=1), frame(20_000, shift=0.05, seed=2)
    result = evaluate_drift(
        current,
        reference,
        sample_size=5_000,
        overrides={
            "amount": {"method": "ks", "threshold": 0.01},
            "plan": {"method": "psi", "threshold": 0.2},
        },
    )
    by_column = {c.column: c for c in result.columns}
    assert (by_column["amount"].method, by_column["amount"].threshold) == ("ks", 0.01)
    assert by_column["amount"].rows_compared == 20_000  # a p-value's power depends on n: never sampled
    assert by_column["amount"].drifted  # 0.05 sd over 20k rows is significant for KS
    assert (by_column["plan"].method, by_column["plan"].rows_compared) == ("psi", 5_000)


def test_bad_options_fail_when_definitions_load() -> None:
    with pytest.raises(ValueError, match="unknown drift method 'wassersteen'"):
        build_drift_check("t", overrides={"amount": {"method": "wassersteen"}})
    with pytest.raises(ValueError, match="needs `baseline=`"):
        build_drift_check("t", reference="baseline")
    with pytest.raises(ValueError, match="severity='fatal' is not valid; pass severity='ERROR'"):
        build_drift_check("t", severity="fatal")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="columns not in `columns`"):
        build_drift_check("t", columns=["amount"], overrides={"plan": {"threshold": 0.2}})


# --- the check on a real instance ---------------------------------------------------------------------

STATE: dict[str, Any] = {"shift": 0.0, "seed": 0, "valid": True, "transform": None}


#: A retry policy on the asset, as users set them: bad input must still be reported once, not retried.
@asset(retry_policy=RetryPolicy(max_retries=2))
def table() -> pd.DataFrame:
    data = frame(3_000, shift=STATE["shift"], seed=STATE["seed"])
    return STATE["transform"](data) if STATE["transform"] else data


@asset_check(asset=table, name="valid")
def table_valid() -> AssetCheckResult:
    return AssetCheckResult(passed=STATE["valid"], severity=AssetCheckSeverity.ERROR)


def run(instance: DagsterInstance, tmp_path: Path, check: Any, **state: Any) -> dict[str, Any]:
    STATE.update({"shift": 0.0, "valid": True, "transform": None, **state})
    STATE["seed"] += 1  # every run draws fresh data
    result = materialize(
        [table, table_valid, check],
        instance=instance,
        resources={
            "io_manager": FilesystemIOManager(base_dir=str(tmp_path / "io")),
            "reliability": ReliabilityStoreResource(
                store_url=f"sqlite:///{tmp_path / 'store.sqlite'}", reports_dir=str(tmp_path / "reports")
            ),
        },
        raise_on_error=False,
    )
    evaluations = [e for e in result.get_asset_check_evaluations() if e.check_name == "drift"]
    retries = [
        e
        for e in result.all_events
        if e.event_type in (DagsterEventType.STEP_UP_FOR_RETRY, DagsterEventType.STEP_RESTARTED)
    ]
    failures = [e.step_failure_data for e in result.get_step_failure_events()]
    if not evaluations:  # the check's step failed: no evaluation, the failure says why
        return {"evaluations": 0, "retries": len(retries), "failures": failures}
    (evaluation,) = evaluations
    return {
        "passed": evaluation.passed,
        "severity": evaluation.severity,
        "description": evaluation.description,
        "evaluations": len(evaluations),
        "retries": len(retries),
        "failures": failures,
        **evaluation.metadata,
    }


def test_reference_is_the_last_materialization_whose_checks_all_passed(tmp_path: Path) -> None:
    check = build_drift_check("table", categorical=["plan"])
    with DagsterInstance.ephemeral() as instance:
        first = run(instance, tmp_path, check)
        assert first["passed"] and first["description"].startswith("no reference yet")

        second = run(instance, tmp_path, check)  # judged against the first run, which passed
        assert second["passed"]
        first_run = second["reference_run_id"].value

        drifted = run(instance, tmp_path, check, shift=0.6)
        assert not drifted["passed"] and drifted["severity"] == AssetCheckSeverity.ERROR
        assert drifted["drifted_columns"].value == ["amount", "plan"]
        assert "dataset drift" in drifted["description"] and "amount (wasserstein" in drifted["description"]
        table_md = drifted["columns"].value
        assert "| amount | numerical | wasserstein |" in table_md and "DRIFT" in table_md
        report = Path(drifted["report_file"].value)
        assert report.is_file() and report.stat().st_size > 100_000  # Evidently's self-contained HTML
        # The evidence a person opens first: the picture (drifted columns first) and the report's link.
        assert picture_columns(drifted) == [("amount", "DRIFT"), ("plan", "DRIFT"), ("tenure", "ok")]
        assert picture_columns(second) == [("amount", "ok"), ("tenure", "ok"), ("plan", "ok")]  # passing too
        assert list(drifted)[list(drifted).index("picture") + 1] == "report"  # leading the metadata
        assert drifted["report"].value.endswith("/" + report.relative_to(tmp_path / "reports").as_posix())

        # The drifted run failed its drift check, the invalid one its other check: neither becomes the
        # reference; the clean run after them is compared with the second run.
        run(instance, tmp_path, check, valid=False)
        after = run(instance, tmp_path, check)
        assert after["passed"]
        assert after["reference_run_id"].value != first_run  # the second run superseded the first
        assert after["reference_run_id"].value == run_id_before_latest(instance, 3)


def picture_columns(evaluation: dict[str, Any]) -> list[tuple[str, str]]:
    """The picture's panels in order, from its alt text, after checking it is a PNG of bounded size."""
    markdown = evaluation["picture"].value
    match = re.match(r"!\[drift: (.*?)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert match, markdown[:200]
    png = base64.b64decode(match[2], validate=True)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(match[2]) < 150_000
    with PIL.Image.open(io.BytesIO(png)) as image:
        image.verify()  # a whole, decodable PNG
        assert image.format == "PNG" and image.width >= 300
    return re.findall(r"(\w+) \((DRIFT|ok)\)", match[1])


def test_the_picture_draws_drifted_columns_first_and_names_those_left_out() -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({f"c{i}": rng.normal(0, 1, 4_000) for i in range(10)})
    current = pd.DataFrame({f"c{i}": rng.normal(1.0 if i >= 8 else 0, 1, 4_000) for i in range(10)})
    current.loc[rng.random(4_000) < 0.9, "c0"] = np.nan  # sparse: drawn from its values only
    current["c1"] = current["c1"].round().astype("int64")  # a few distinct numbers
    result = evaluate_drift(current, reference)
    drifted = [c.column for c in result.columns if c.drifted]
    assert drifted == ["c1", "c8", "c9"]
    picture = drift_picture.render(current, reference, result.columns)
    expected = drifted + [c.column for c in result.columns if not c.drifted]
    assert picture.shown == expected[: drift_picture.MAX_COLUMNS] and picture.omitted == expected[8:]
    markdown = picture.markdown(reference="run 1234")
    assert markdown.startswith("![drift: c1 (DRIFT), c8 (DRIFT), c9 (DRIFT), c0 (ok), c2 (ok)")
    assert f"Not drawn (2): {', '.join(expected[8:])}." in markdown and "Grey: run 1234" in markdown


def run_id_before_latest(instance: DagsterInstance, skip: int) -> str:
    """The run id of the materialization ``skip`` runs before the latest one."""
    runs = instance.get_runs(limit=skip + 1)  # newest first
    return runs[skip].run_id


def test_warn_severity_and_pinned_baseline(tmp_path: Path) -> None:
    check = build_drift_check(
        "table", categorical=["plan"], reference="baseline", baseline=frame(3_000, seed=99), severity="WARN"
    )
    with DagsterInstance.ephemeral() as instance:
        drifted = run(instance, tmp_path, check, shift=0.6)
        assert not drifted["passed"] and drifted["severity"] == AssetCheckSeverity.WARN
        assert drifted["reference"].value == "pinned baseline"
        clean = run(instance, tmp_path, check)
        assert clean["passed"] and clean["description"] == "no column drifted vs the pinned baseline"


# --- issue 13: verdicts equal Evidently's ---------------------------------------------------------------


def sparse(n: int, *, shift: float, seed: int, gaps: float = 0.7) -> pd.DataFrame:
    """A numeric column with ``gaps`` of its rows NaN and a few +/-inf, beside a full one."""
    rng = np.random.default_rng(seed)
    values = rng.normal(shift, 1.0, n)
    values[rng.random(n) < gaps] = np.nan
    values[rng.random(n) < 0.01] = np.inf
    return pd.DataFrame({"amount": values, "tenure": rng.normal(0.0, 1.0, n)})


@pytest.mark.parametrize(
    "series",
    [
        pd.Series([1.0, np.inf, np.nan, -np.inf, 2.0]),
        pd.Series(["a", None, np.inf, "b", np.nan], dtype=object),
        pd.Series(["a", None, "b"], dtype=object),
        pd.Series([1.0, np.inf, None], dtype="Float64"),
        pd.Series([1, None, 3], dtype="Int64"),
        pd.Series(["a", None, "b"], dtype="category"),
        pd.Series([True, False]),
        pd.Series(["a", None], dtype="string"),
    ],
    ids=lambda s: str(s.dtype),
)
def test_missing_values_are_dropped_as_evidently_drops_them(series: pd.Series) -> None:
    evidently_keeps = series.replace([-np.inf, np.inf], np.nan).notna().to_numpy()  # data_drift.py
    assert finite_mask(series).tolist() == evidently_keeps.tolist()


@pytest.mark.parametrize("seed", range(5))
def test_a_nan_heavy_column_gets_evidentlys_method_and_verdict(seed: int) -> None:
    # 3,000 rows, 70% NaN: ~900 values in the reference, so Evidently picks K-S (<= 1,000), not the
    # normed Wasserstein that the raw 3,000 rows would suggest.
    reference = sparse(3_000, shift=0.0, seed=seed)
    current = sparse(3_000, shift=0.12, seed=100 + seed)
    ours = evaluate_drift(current, reference)
    columns, dataset, methods = preset(current, reference, numerical=["amount", "tenure"], categorical=[])
    by_column = {c.column: c for c in ours.columns}
    assert by_column["amount"].method == "ks"
    assert {c: display_name(by_column[c].method) for c in by_column} == methods
    assert ours.verdicts() == columns and ours.dataset_drift == dataset
    assert by_column["amount"].rows_compared == int(np.isfinite(current["amount"]).sum())


def test_a_column_missing_from_the_current_table_is_named(tmp_path: Path) -> None:
    reference = frame(3_000, seed=1)
    with pytest.raises(DriftInputError, match="'tenure' is in the reference but missing from the current"):
        evaluate_drift(frame(3_000, seed=2).drop(columns="tenure"), reference, categorical=["plan"])

    check = build_drift_check("table", categorical=["plan"])
    with DagsterInstance.ephemeral() as instance:
        assert run(instance, tmp_path, check)["passed"]  # the reference: amount, tenure, plan
        missing = run(instance, tmp_path, check, transform=lambda df: df.drop(columns="tenure"))
        assert not missing["passed"] and missing["severity"] == AssetCheckSeverity.ERROR
        assert "'tenure' is in the reference but missing from the current table" in missing["description"]
        assert missing["missing_columns"].value == ["tenure"]
        extra = run(instance, tmp_path, check, transform=lambda df: df.assign(region="EU"))
        assert not extra["passed"] and extra["extra_columns"].value == ["region"]
        assert "'region' is in the current table but not in the reference" in extra["description"]
        # Neither changed schema became the reference: the original columns still pass.
        assert run(instance, tmp_path, check)["passed"]


def with_signups(df: pd.DataFrame, *, as_of: str, newer_by_days: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """A ``signup_at`` timestamp: customers who signed up on average 400 days before ``as_of``."""
    rng = np.random.default_rng(seed)
    age = rng.gamma(4.0, 100.0, len(df)) - newer_by_days
    return df.assign(signup_at=pd.Timestamp(as_of) - pd.to_timedelta(age.clip(0), unit="D"))


def with_account_age(df: pd.DataFrame, *, as_of: str) -> pd.DataFrame:
    """The README's recipe: watch a date as a number that stays put when nothing changes."""
    return df.assign(account_age_days=(pd.Timestamp(as_of) - df["signup_at"]).dt.days)


def test_datetime_columns_are_skipped_with_a_note(tmp_path: Path) -> None:
    reference = with_signups(frame(3_000, seed=1), as_of="2026-01-01", seed=1)
    current = with_signups(frame(3_000, seed=2), as_of="2026-02-01", seed=2)  # a month later
    ours = evaluate_drift(current, reference, categorical=["plan"])
    columns, dataset, _ = preset(current, reference, datetime=["signup_at"])
    assert ours.skipped == {"signup_at": DATETIME_NOTE}
    assert ours.verdicts() == columns and ours.dataset_drift == dataset is False
    assert "| signup_at | datetime |" in ours.markdown()
    with pytest.raises(DriftInputError, match="no column to compare: signup_at is a datetime column") as info:
        evaluate_drift(current, reference, columns=["signup_at"])
    assert not info.value.in_current_data  # the check's options are at fault: Failure, not a data verdict

    check = build_drift_check("table", categorical=["plan"])
    with DagsterInstance.ephemeral() as instance:
        run(instance, tmp_path, check, transform=lambda df: with_signups(df, as_of="2026-01-01"))
        later = run(instance, tmp_path, check, transform=lambda df: with_signups(df, as_of="2026-02-01"))
        assert later["passed"], later["description"]
        assert "skipped datetime column(s) signup_at" in later["description"]
        assert "age in days" in later["skipped_columns"].value["signup_at"]


def test_the_datetime_recipe_catches_real_change_and_only_that() -> None:
    def month(as_of: str, seed: int, newer_by_days: float = 0.0) -> pd.DataFrame:
        data = with_signups(frame(3_000, seed=seed), as_of=as_of, newer_by_days=newer_by_days, seed=seed)
        return with_account_age(data, as_of=as_of)

    january = month("2026-01-01", seed=1)
    for february, drifts in ((month("2026-02-01", seed=2), False), (month("2026-02-01", 2, 150.0), True)):
        ours = evaluate_drift(february, january, categorical=["plan"])
        columns, dataset, _ = preset(
            february, january, numerical=["amount", "tenure", "account_age_days"], datetime=["signup_at"]
        )
        assert ours.verdicts() == columns and ours.dataset_drift == dataset
        assert ours.verdicts()["account_age_days"] is drifts  # same population a month later: no drift
    # Why not epoch seconds: the same population a month later drifts (every batch is later than the last).
    epoch = {"signup_epoch": lambda df: df["signup_at"].astype("int64") // 10**9}
    later = month("2026-02-01", seed=2).assign(**epoch)
    assert evaluate_drift(later, january.assign(**epoch), columns=["signup_epoch"]).verdicts() == {
        "signup_epoch": True
    }
    # What the old advice did: the timestamp as a category drifts on the same population.
    same = with_signups(frame(3_000, seed=2), as_of="2026-01-01", seed=2)
    as_text = {"signup_at": lambda df: df["signup_at"].astype(str)}
    ours = evaluate_drift(same.assign(**as_text), january.assign(**as_text), columns=["signup_at"])
    assert ours.verdicts() == {"signup_at": True}


def test_bad_current_data_fails_once_with_its_cause(tmp_path: Path) -> None:
    check = build_drift_check("table", categorical=["plan"])
    with DagsterInstance.ephemeral() as instance:
        empty = run(instance, tmp_path, check, transform=lambda df: df.iloc[:0])  # no reference yet
        assert (empty["evaluations"], empty["retries"], empty["passed"]) == (1, 0, False)
        assert "the current table has no rows" in empty["description"]

        assert run(instance, tmp_path, check)["passed"]  # the reference
        nulls = run(instance, tmp_path, check, transform=lambda df: df.assign(tenure=np.nan))
        assert (nulls["evaluations"], nulls["retries"], nulls["passed"]) == (1, 0, False)
        assert nulls["severity"] == AssetCheckSeverity.ERROR
        assert (
            "column 'tenure' is null or infinite in all 3,000 rows of the current table"
            in (nulls["description"])
        )
        assert nulls["problem_columns"].value == ["tenure"]


def test_an_unusable_baseline_fails_the_step_once_with_its_cause(tmp_path: Path) -> None:
    baseline = frame(3_000, seed=99).assign(tenure=np.nan)
    check = build_drift_check("table", categorical=["plan"], reference="baseline", baseline=baseline)
    with DagsterInstance.ephemeral() as instance:
        outcome = run(instance, tmp_path, check)
    assert (outcome["evaluations"], outcome["retries"]) == (0, 0)  # COMPUTE_RETRY did not retry it
    (failure,) = outcome["failures"]
    description = failure.user_failure_data.description
    assert "the pinned baseline is unusable" in description
    assert "column 'tenure' is null or infinite in all 3,000 rows of the reference table" in description


def knife_edge(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Numeric columns shifted by ~0.1 sd (normed Wasserstein ~0.1, the threshold) and one far from it."""
    rng = np.random.default_rng(seed)
    shifts = {f"edge{i}": 0.1 * rng.uniform(0.9, 1.1) for i in range(5)} | {"far": 0.5}
    reference = pd.DataFrame({c: rng.normal(0.0, 1.0, n) for c in shifts})
    current = pd.DataFrame({c: rng.normal(shift, 1.0, n) for c, shift in shifts.items()})
    return reference, current


@pytest.mark.parametrize("seed", [3, 7])
def test_knife_edge_columns_are_recomputed_and_agree_with_evidently(seed: int) -> None:
    reference, current = knife_edge(60_000, seed)
    columns, dataset, _ = preset(current, reference, numerical=list(reference.columns), categorical=[])
    sampled_only = evaluate_drift(current, reference, sample_size=10_000, recheck=False)
    assert sampled_only.verdicts() != columns  # the sample alone flips a knife-edge column here

    ours = evaluate_drift(current, reference, sample_size=10_000)
    assert ours.verdicts() == columns and ours.dataset_drift == dataset
    assert ours.margins == {"wasserstein": pytest.approx(recheck_margin(10_000, "wasserstein"))}
    assert set(ours.recomputed) == {f"edge{i}" for i in range(5)}  # "far" (0.5) is decided by its sample
    by_column = {c.column: c for c in ours.columns}
    assert by_column["edge0"].rows_compared == 60_000 and by_column["far"].rows_compared == 10_000
    assert "recomputed on every row" in ours.markdown()


def test_a_small_table_of_flags_and_ratings_gets_evidentlys_methods_and_verdicts() -> None:
    # <= 1,000 reference rows and <= 5 values: Evidently picks Z (2 values) or chi-square (3-5) for a number,
    # methods it registers for categories only, so asking ValueDrift for them by name fails on a number.
    rng = np.random.default_rng(3)

    def table(n: int, p: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "is_active": rng.choice([0, 1], n, p=[1 - p, p]),
                "rating": rng.choice([1, 2, 3, 4], n, p=[0.1, 0.2, 0.3, 0.4] if p == 0.5 else [0.25] * 4),
                "amount": rng.normal(0.0, 1.0, n),
            }
        )

    reference, current = table(800, 0.5), table(900, 0.62)
    ours = evaluate_drift(current, reference)
    columns, dataset, methods = preset(
        current, reference, numerical=["is_active", "rating", "amount"], categorical=[]
    )
    by_column = {c.column: c for c in ours.columns}
    assert {c: by_column[c].method for c in by_column} == {
        "is_active": "z",
        "rating": "chisquare",
        "amount": "ks",
    }
    assert {c: display_name(by_column[c].method) for c in by_column} == methods
    assert ours.verdicts() == columns == {"is_active": True, "rating": True, "amount": False}
    assert ours.dataset_drift == dataset
