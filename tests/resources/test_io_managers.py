"""The DuckDB IO manager stores what the asset returned, even after a run stored other columns."""

from pathlib import Path

import duckdb
import pandas as pd
from dagster import Config, asset, materialize

from reliability_assets.resources.io_managers import TABLE_SCHEMA, storage_resources


class Columns(Config):
    name: str


@asset
def orders(config: Columns) -> pd.DataFrame:
    return pd.DataFrame({"order_id": [1, 2, 3], config.name: [10.0, 20.0, 30.0]})


def _stored(path: Path) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(f"select * from {TABLE_SCHEMA}.orders").fetchdf()


def test_a_renamed_column_is_stored_under_its_new_name_and_back(tmp_path: Path) -> None:
    resources = storage_resources(duckdb_path=tmp_path / "t.duckdb", artifacts_dir=tmp_path / "a")
    for name in ("order_total", "amount"):  # a corrupted run renames amount; the next clean run does not
        config = {"ops": {"orders": {"config": {"name": name}}}}
        assert materialize([orders], resources=resources, run_config=config).success
        stored = _stored(tmp_path / "t.duckdb")
        assert list(stored.columns) == ["order_id", name], stored.columns
        assert stored[name].tolist() == [10.0, 20.0, 30.0] and len(stored) == 3
