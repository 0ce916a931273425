"""Where asset values live: tables in DuckDB, other Python objects (models, text) as pickles.

Why a type handler of our own: dagster-duckdb-pandas writes an existing table with ``insert into t select *
from df``, which is positional. Once a run stored a table whose columns differ (the corrupted scenario
renames ``amount`` to ``order_total``), every later run's rows went into the old columns under the old
names: a clean run's gate then failed on a column it never produced, and a rename could hide under the
previous name. A whole-table output replaces the table, so the stored table is exactly what the asset
returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dagster import FilesystemIOManager
from dagster_duckdb_pandas import DuckDBPandasIOManager, DuckDBPandasTypeHandler

TABLE_SCHEMA = "analytics"


class ReplacingDuckDBPandasTypeHandler(DuckDBPandasTypeHandler):
    """Stores a whole-table DataFrame as the table, replacing the old one with its columns; partitions
    (a slice of a table) are left to the stock handler."""

    def handle_output(self, context: Any, table_slice: Any, obj: Any, connection: Any) -> None:
        if not obj.empty and not table_slice.partition_dimensions:
            connection.execute(f"drop table if exists {table_slice.schema}.{table_slice.table}")
        super().handle_output(context, table_slice, obj, connection)


class DuckDBTablesIOManager(DuckDBPandasIOManager):
    """``DuckDBPandasIOManager`` whose whole-table outputs replace the table (see the module docstring)."""

    @staticmethod
    def type_handlers() -> Sequence[Any]:
        return [ReplacingDuckDBPandasTypeHandler()]


def storage_resources(*, duckdb_path: Path, artifacts_dir: Path) -> dict[str, object]:
    """``io_manager`` (DataFrames -> DuckDB tables ``analytics.<asset>``) and ``artifact_io_manager``."""
    duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    return {
        "io_manager": DuckDBTablesIOManager(database=str(duckdb_path), schema=TABLE_SCHEMA),
        "artifact_io_manager": FilesystemIOManager(base_dir=str(artifacts_dir)),
    }
