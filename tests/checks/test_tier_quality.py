"""Quality per tier: accuracy per serving tier on a labelled sample, and the check that fails when a tier
serving many rows is below its floor. Through the public API; the builder through a real materialize."""

import pandas as pd
import pytest
from dagster import AssetCheckSeverity, Config, FilesystemIOManager, asset, materialize

from reliability_assets import (
    FAILURE_MODE_KEY,
    build_tier_quality_check,
    tier_accuracy,
    tier_quality_result,
    tier_quality_spec,
)

FLOORS = {"primary": 0.85, "deterministic": 0.70}


def labelled(tiers: dict[str, tuple[int, int, int]]) -> pd.DataFrame:
    """Per tier (rows, labelled rows, correct among them): a frame with tier, predicted and truth."""
    rows = []
    for tier, (n, labelled_n, correct) in tiers.items():
        for i in range(n):
            truth = "billing" if i < labelled_n else None
            rows.append({"tier": tier, "topic": "billing" if i < correct else "pricing", "truth": truth})
    return pd.DataFrame(rows)


def test_accuracy_is_measured_per_tier_on_the_labelled_rows_only() -> None:
    frame = labelled({"deterministic": (150, 100, 60), "primary": (40, 20, 19), "human_review": (10, 5, 0)})
    accuracy = tier_accuracy(frame, predicted_col="topic", truth_col="truth")
    assert list(accuracy) == ["deterministic", "primary", "human_review"]  # busiest first
    assert accuracy["deterministic"] == {"rows": 150, "share": 0.75, "labelled": 100, "accuracy": 0.6}
    assert accuracy["primary"] == {"rows": 40, "share": 0.2, "labelled": 20, "accuracy": 0.95}
    assert accuracy["human_review"]["accuracy"] == 0.0
    unlabelled = tier_accuracy(frame.assign(truth=None), predicted_col="topic", truth_col="truth")
    assert unlabelled["primary"]["accuracy"] is None
    with pytest.raises(ValueError, match="column 'label' is not in the frame"):
        tier_accuracy(frame, predicted_col="label", truth_col="truth")


def test_fails_when_the_deterministic_tier_serves_most_rows_below_its_floor() -> None:
    accuracy = tier_accuracy(
        labelled({"deterministic": (150, 100, 60), "primary": (50, 50, 48)}),
        predicted_col="topic",
        truth_col="truth",
    )
    result = tier_quality_result(accuracy, floors=FLOORS)
    assert not result.passed and result.severity == AssetCheckSeverity.ERROR
    assert result.description == (
        "tier below its accuracy floor while serving many rows: deterministic 60.0% < 70% on 100 labelled "
        "rows (75% of rows)"
    )
    assert result.metadata["below_floor"].value == ["deterministic"]
    table = result.metadata["tiers"].value
    assert "| deterministic | 150 | 75.0% | 100 | 60.0% | 70% | BELOW FLOOR |" in table
    assert result.metadata["per_tier"].value["primary"]["floor"] == 0.85


def test_passes_when_the_model_tier_serves_and_a_weak_fallback_serves_few_rows() -> None:
    accuracy = tier_accuracy(
        labelled({"primary": (180, 100, 95), "deterministic": (20, 20, 5), "cache": (5, 5, 0)}),
        predicted_col="topic",
        truth_col="truth",
    )
    result = tier_quality_result(accuracy, floors=FLOORS, min_share=0.2)
    assert result.passed
    assert (
        result.description
        == "no tier serving more than 20% of the rows is below its floor; at or above: primary"
    )
    table = result.metadata["tiers"].value
    assert "| deterministic | 20 | 9.8% | 20 | 25.0% | 70% | not gated: served 10%, at most 20% |" in table
    assert "| cache | 5 | 2.4% | 5 | 0.0% | - | no floor |" in table  # reported, never judged


def test_too_few_labels_are_named_instead_of_judged() -> None:
    accuracy = tier_accuracy(
        labelled({"deterministic": (100, 10, 1)}), predicted_col="topic", truth_col="truth"
    )
    result = tier_quality_result(accuracy, floors=FLOORS, min_labelled=20)
    assert result.passed and "not judged (too few labels): deterministic" in result.description
    assert tier_quality_result(accuracy, floors=FLOORS, min_labelled=10).passed is False


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"floors": {"primary": 85}}, "must be accuracies in \\[0, 1\\]"),
        ({"floors": FLOORS, "min_share": 1.5}, "min_share=1.5 must be in \\[0, 1\\)"),
        ({"floors": FLOORS, "severity": "fatal"}, "severity='fatal' is not valid"),
    ],
)
def test_wrong_options_fail_when_the_check_is_built(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_tier_quality_check("labels", predicted_col="topic", truth_col="truth", **options)


class Mix(Config):
    deterministic_correct: int = 60


@asset
def labels(config: Mix) -> pd.DataFrame:
    return labelled({"deterministic": (150, 100, config.deterministic_correct), "primary": (50, 50, 50)})


def test_the_built_check_loads_the_asset_and_judges_it(tmp_path) -> None:
    check = build_tier_quality_check(
        "labels", floors=FLOORS, predicted_col="topic", truth_col="truth", failure_mode="labels got worse"
    )
    spec = next(iter(check.check_specs))
    assert spec.name == "tier_quality" and not spec.blocking
    assert spec.metadata[FAILURE_MODE_KEY] == "labels got worse"
    assert tier_quality_spec("labels", floors=FLOORS).description == (
        "A tier serving more than 20% of the rows is at or above its accuracy floor on the labelled sample "
        "(primary 85%, deterministic 70%)."
    )
    resources = {"io_manager": FilesystemIOManager(base_dir=str(tmp_path))}
    outcomes = {}
    for correct in (60, 90):
        result = materialize(
            [labels, check],
            resources=resources,
            run_config={"ops": {"labels": {"config": {"deterministic_correct": correct}}}},
            raise_on_error=False,
        )
        (evaluation,) = result.get_asset_check_evaluations()
        outcomes[correct] = evaluation.passed
    assert outcomes == {60: False, 90: True}
