"""The Evidently drift check: verdicts agree with Evidently's preset, references follow passing runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    DagsterInstance,
    FilesystemIOManager,
    asset,
    asset_check,
    materialize,
)

from reliability_assets.checks.drift import build_drift_check
from reliability_assets.checks.drift_eval import METHODS, evaluate_drift
from resources.reliability import ReliabilityStoreResource


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


def preset_verdicts(current: pd.DataFrame, reference: pd.DataFrame) -> tuple[dict[str, bool], bool]:
    """What Evidently's own DataDriftPreset says, column by column and for the dataset."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=["amount", "tenure"], categorical_columns=["plan"])
    snapshot = Report([DataDriftPreset(drift_share=0.5)], include_tests=True).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )
    data = snapshot.dict()
    by_id = {m["id"]: m for m in data["metrics"]}
    columns: dict[str, bool] = {}
    dataset = False
    for test in data["tests"]:
        metric = by_id[test["metric_config"]["metric_id"]]
        if "column" in metric["config"]:
            columns[metric["config"]["column"]] = test["status"] == "FAIL"
        else:
            dataset = test["status"] == "FAIL"
    return columns, dataset


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
    with pytest.raises(ValueError, match="severity 'fatal'"):
        build_drift_check("t", severity="fatal")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="columns not in `columns`"):
        build_drift_check("t", columns=["amount"], overrides={"plan": {"threshold": 0.2}})


# --- the check on a real instance ---------------------------------------------------------------------

STATE: dict[str, Any] = {"shift": 0.0, "seed": 0, "valid": True}


@asset
def table() -> pd.DataFrame:
    return frame(3_000, shift=STATE["shift"], seed=STATE["seed"])


@asset_check(asset=table, name="valid")
def table_valid() -> AssetCheckResult:
    return AssetCheckResult(passed=STATE["valid"], severity=AssetCheckSeverity.ERROR)


def run(instance: DagsterInstance, tmp_path: Path, check: Any, **state: Any) -> dict[str, Any]:
    STATE.update({"shift": 0.0, "valid": True, **state})
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
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "drift"]
    return {
        "passed": evaluation.passed,
        "severity": evaluation.severity,
        "description": evaluation.description,
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
        report = Path(drifted["report"].value)
        assert report.is_file() and report.stat().st_size > 100_000  # Evidently's self-contained HTML

        # The drifted run failed its drift check, the invalid one its other check: neither becomes the
        # reference; the clean run after them is compared with the second run.
        run(instance, tmp_path, check, valid=False)
        after = run(instance, tmp_path, check)
        assert after["passed"]
        assert after["reference_run_id"].value != first_run  # the second run superseded the first
        assert after["reference_run_id"].value == run_id_before_latest(instance, 3)


def run_id_before_latest(instance: DagsterInstance, skip: int) -> str:
    """The run id of the materialization ``skip`` runs before the latest one."""
    runs = instance.get_runs(limit=skip + 1)  # newest first
    return runs[skip].run_id


def test_warn_severity_and_pinned_baseline(tmp_path: Path) -> None:
    check = build_drift_check(
        "table", categorical=["plan"], reference="baseline", baseline=frame(3_000, seed=99), severity="warn"
    )
    with DagsterInstance.ephemeral() as instance:
        drifted = run(instance, tmp_path, check, shift=0.6)
        assert not drifted["passed"] and drifted["severity"] == AssetCheckSeverity.WARN
        assert drifted["reference"].value == "pinned baseline"
        clean = run(instance, tmp_path, check)
        assert clean["passed"] and clean["description"] == "no column drifted vs the pinned baseline"
