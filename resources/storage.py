"""Where asset values live: tables in DuckDB, other Python objects (models, text) as pickles."""

from __future__ import annotations

from pathlib import Path

from dagster import FilesystemIOManager
from dagster_duckdb_pandas import DuckDBPandasIOManager

TABLE_SCHEMA = "analytics"


def storage_resources(*, duckdb_path: Path, artifacts_dir: Path) -> dict[str, object]:
    """``io_manager`` (DataFrames -> DuckDB tables ``analytics.<asset>``) and ``artifact_io_manager``."""
    duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    return {
        "io_manager": DuckDBPandasIOManager(database=str(duckdb_path), schema=TABLE_SCHEMA),
        "artifact_io_manager": FilesystemIOManager(base_dir=str(artifacts_dir)),
    }
