"""Volume and schema checks against the asset's own history, through real runs on one instance."""

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    AssetSelection,
    Config,
    DagsterInstance,
    FilesystemIOManager,
    Output,
    RunConfig,
    asset,
    materialize,
)
from dagster_duckdb_pandas import DuckDBPandasIOManager

from reliability_assets.checks.volume_schema import build_schema_check, build_volume_check
from reliability_assets.metadata import table_metadata

COLUMNS = {"id": "int64", "amount": "float64", "region": "object"}


class Frame(Config):
    rows: int = 100
    columns: dict[str, str] = COLUMNS


def frame(config: Frame) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(range(config.rows)).astype(t) for c, t in config.columns.items()})


@asset
def toy(config: Frame) -> Output[pd.DataFrame]:
    """Metadata as the raw assets write it (the DuckDB IO manager would add the row count)."""
    table = frame(config)
    return Output(table, metadata={"dagster/row_count": len(table), **table_metadata(table)})


@asset
def stored(config: Frame) -> Output[pd.DataFrame]:
    """As the raw assets: the column schema from table_metadata, the row count from the DuckDB IO manager."""
    return Output(frame(config), metadata=table_metadata(frame(config)))


@asset
def unrecorded(config: Frame) -> Output[pd.DataFrame]:
    """No dagster/column_schema: the schema check falls back on the loaded frame."""
    return Output(frame(config), metadata={"dagster/row_count": config.rows})


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as instance:
        yield instance


class Runner:
    def __init__(self, instance: DagsterInstance, base_dir: Path, check: AssetChecksDefinition) -> None:
        self.instance, self.base_dir, self.check = instance, base_dir, check

    def __call__(
        self, rows: int = 100, columns: dict[str, str] = COLUMNS, *, check_only: bool = False
    ) -> AssetCheckEvaluation:
        result = materialize(
            [toy, self.check],
            instance=self.instance,
            resources={"io_manager": FilesystemIOManager(base_dir=str(self.base_dir))},
            run_config=None if check_only else RunConfig({"toy": Frame(rows=rows, columns=columns)}),
            selection=AssetSelection.checks_for_assets(toy) if check_only else None,
            raise_on_error=False,
        )
        [evaluation] = result.get_asset_check_evaluations()
        assert evaluation.asset_key == AssetKey("toy")
        return evaluation

    def series(self, counts: Sequence[int]) -> list[AssetCheckEvaluation]:
        return [self(n) for n in counts]


def meta(evaluation: AssetCheckEvaluation) -> dict[str, Any]:
    return {k: v.value for k, v in evaluation.metadata.items()}


@pytest.fixture
def volume(instance: DagsterInstance, tmp_path: Path) -> Runner:
    return Runner(instance, tmp_path, build_volume_check("toy", max_change=0.3, history=5))


@pytest.fixture
def schema(instance: DagsterInstance, tmp_path: Path) -> Runner:
    return Runner(instance, tmp_path, build_schema_check("toy"))


# -- volume ------------------------------------------------------------------------------------------------


def test_volume_passes_until_there_is_enough_history(volume: Runner) -> None:
    first, second, third = volume.series([100, 10, 100])  # a 90% drop, but only 1 earlier count
    for evaluation, size in ((first, 0), (second, 1), (third, 2)):
        assert evaluation.passed
        assert "not enough history yet" in (evaluation.description or "")
        assert meta(evaluation)["history_size"] == size
    assert meta(third)["history"] == [100, 10]  # this run's own materialization is not history


def test_volume_passes_on_a_stable_series(volume: Runner) -> None:
    *_, last = volume.series([100, 104, 97, 101, 110])
    assert last.passed, last.description
    assert meta(last)["baseline_median"] == 100.5
    assert meta(last)["change"] == pytest.approx(110 / 100.5 - 1, abs=1e-4)
    assert last.description == "toy: 110 rows is 9% above the median 100.5 of the last 4 materializations"


def test_volume_fails_on_a_40_percent_drop(volume: Runner) -> None:
    *_, drop = volume.series([100, 100, 100, 60])
    assert not drop.passed
    assert drop.severity == AssetCheckSeverity.WARN
    assert drop.description == "toy: 60 rows is 40% below the median 100 of the last 3 materializations"
    assert meta(drop) == {
        "rows": 60,
        "baseline_median": 100.0,
        "change": -0.4,
        "history": [100, 100, 100],
        "history_size": 3,
        "max_change": 0.3,
    }


def test_volume_description_reads_like_a_sentence(instance: DagsterInstance, tmp_path: Path) -> None:
    run = Runner(instance, tmp_path, build_volume_check("toy", max_change=0.25))  # history=10
    *_, drop = run.series([4_000, 6_000] + [5_000] * 9 + [3_500])  # the 4,000 rolls off
    assert not drop.passed
    assert drop.description == "toy: 3,500 rows is 30% below the median 5,000 of the last 10 materializations"


def test_volume_baseline_is_the_median_of_the_last_history_runs(volume: Runner) -> None:
    *_, last = volume.series([1000, 1000, 100, 100, 100, 100, 100, 100])  # history=5: old 1000s roll off
    assert last.passed and meta(last)["history"] == [100] * 5


def test_volume_check_only_run_compares_with_the_runs_before_the_loaded_one(volume: Runner) -> None:
    volume.series([100, 100, 100, 60])
    rerun = volume(check_only=True)  # loads the 60-row materialization: not compared with itself
    assert not rerun.passed and meta(rerun)["history"] == [100, 100, 100]


def test_volume_error_severity(instance: DagsterInstance, tmp_path: Path) -> None:
    run = Runner(instance, tmp_path, build_volume_check("toy", min_history=1, severity="ERROR"))
    assert not run.series([100, 10])[-1].passed
    assert run(10).severity == AssetCheckSeverity.ERROR


# -- schema ------------------------------------------------------------------------------------------------


def test_schema_passes_on_the_first_run_and_when_unchanged(schema: Runner) -> None:
    first = schema()
    assert first.passed and first.description == "toy: first materialization: schema recorded"
    again = schema(rows=5)
    assert again.passed and (again.description or "").startswith("toy: schema unchanged since run ")
    assert meta(again)["removed"] == meta(again)["added"] == 0


@pytest.mark.parametrize(
    ("columns", "change", "named"),
    [
        ({"id": "int64", "amount": "float64"}, {"removed": 1}, "region removed"),
        ({"id": "int64", "total": "float64", "region": "object"}, {"renamed": 1}, "amount renamed to total"),
        ({"id": "int64", "amount": "object", "region": "object"}, {"retyped": 1}, "amount float64 -> object"),
    ],
    ids=["removed", "renamed", "retyped"],
)
def test_schema_fails_on_a_breaking_change(
    schema: Runner, columns: dict[str, str], change: dict[str, int], named: str
) -> None:
    schema()
    evaluation = schema(columns=columns)
    assert not evaluation.passed
    assert evaluation.severity == AssetCheckSeverity.ERROR
    assert named in (evaluation.description or "")
    counts = {k: meta(evaluation)[k] for k in ("removed", "renamed", "retyped", "added")}
    assert counts == {"removed": 0, "renamed": 0, "retyped": 0, "added": 0} | change
    assert named.split()[0] in meta(evaluation)["differences"]


def test_schema_names_every_changed_column(schema: Runner) -> None:
    schema()
    evaluation = schema(columns={"id": "float64", "region": "object", "note": "object"})
    assert not evaluation.passed
    assert evaluation.description == (
        "toy: schema changed since run "
        + meta(evaluation)["compared_with_run"][:8]
        + ": amount removed; id int64 -> float64; note added"
    )


def test_schema_compares_with_the_materialization_before_this_runs(schema: Runner) -> None:
    schema()
    schema(columns={"id": "int64"})  # fails: two columns removed
    assert schema(columns={"id": "int64"}).passed  # compared with the previous run, not the first


@pytest.mark.parametrize("allow_added", [True, False])
def test_schema_added_column(instance: DagsterInstance, tmp_path: Path, allow_added: bool) -> None:
    run = Runner(instance, tmp_path, build_schema_check("toy", allow_added=allow_added, severity="WARN"))
    run()
    evaluation = run(columns={**COLUMNS, "note": "object"})
    assert evaluation.passed is allow_added
    assert "note added" in (evaluation.description or "")
    assert meta(evaluation)["added"] == 1


# -- definition time ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("build", [build_volume_check, build_schema_check])
def test_bad_severity_fails_at_definition_time(build: Any) -> None:
    with pytest.raises(ValueError, match=r"severity='critical' is not valid; pass severity='ERROR'"):
        build("toy", severity="critical")


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"history": 0}, "history=0"),
        ({"min_history": 11}, "min_history=11"),
        ({"max_change": 0}, "max_change"),
    ],
)
def test_bad_volume_options_fail_at_definition_time(options: dict[str, Any], option: str) -> None:
    with pytest.raises(ValueError, match=option):
        build_volume_check("toy", **options)


def test_specs_carry_description_blocking_and_retry_policy() -> None:
    volume, schema = build_volume_check(["raw", "orders"]), build_schema_check("orders")
    [volume_spec], [schema_spec] = volume.check_specs, schema.check_specs
    assert volume_spec.key.name == "volume" and not volume_spec.blocking
    assert schema_spec.key.name == "schema_unchanged" and schema_spec.blocking
    assert "median of the last 10" in (volume_spec.description or "")
    assert volume.op.retry_policy is not None and volume.op.retry_policy.max_retries == 1
    assert volume.op.name == "raw_orders_volume"


# -- through the DuckDB IO manager, and without a recorded schema -----------------------------------------


def test_schema_sees_a_rename_the_duckdb_io_manager_hides(instance: DagsterInstance, tmp_path: Path) -> None:
    checks = [build_schema_check("stored"), build_volume_check("stored", min_history=1)]
    database = str(tmp_path / "db.duckdb")

    def run(columns: dict[str, str]) -> dict[str, AssetCheckEvaluation]:
        result = materialize(
            [stored, *checks],
            instance=instance,
            resources={"io_manager": DuckDBPandasIOManager(database=database, schema="analytics")},
            run_config=RunConfig({"stored": Frame(columns=columns)}),
            raise_on_error=False,
        )
        return {e.check_name: e for e in result.get_asset_check_evaluations()}

    run({"id": "int64", "amount": "float64"})
    evaluations = run({"id": "int64", "total": "float64"})
    with duckdb.connect(database) as connection:  # appended by position: the loaded frame says "amount"
        assert [c[0] for c in connection.execute("describe analytics.stored").fetchall()] == ["id", "amount"]
    schema = evaluations["schema_unchanged"]
    assert not schema.passed and "amount renamed to total" in (schema.description or "")
    assert meta(schema)["current_schema"] == "recorded on the materialization"
    volume = evaluations["volume"]  # the row count the DuckDB IO manager records is the history
    assert volume.passed and meta(volume)["history"] == [100]


def test_schema_without_recorded_schemas_says_so(instance: DagsterInstance, tmp_path: Path) -> None:
    check = build_schema_check("unrecorded")
    for expected in ("first materialization", "nothing to compare with: no dagster/column_schema"):
        result = materialize(
            [unrecorded, check],
            instance=instance,
            resources={"io_manager": FilesystemIOManager(base_dir=str(tmp_path))},
        )
        [evaluation] = result.get_asset_check_evaluations()
        assert evaluation.passed and expected in (evaluation.description or "")
        assert meta(evaluation)["current_schema"] == "loaded DataFrame"
