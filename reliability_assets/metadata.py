"""Asset metadata a data engineer expects in the UI: schema, a preview, basic profile."""

from __future__ import annotations

from typing import Any

import pandas as pd
from dagster import MetadataValue, TableColumn, TableSchema

PREVIEW_ROWS = 10


def column_schema(df: pd.DataFrame) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(name=str(name), type=str(dtype), description=f"{int(df[name].isna().sum())} nulls")
            for name, dtype in df.dtypes.items()
        ]
    )


def table_metadata(df: pd.DataFrame, **extra: Any) -> dict[str, Any]:
    """Column schema (shown in the asset's Columns tab) and a markdown preview.

    The DuckDB IO manager already records ``dagster/row_count``; this adds what it does not.
    """
    return {
        "dagster/column_schema": column_schema(df),
        "preview": MetadataValue.md(df.head(PREVIEW_ROWS).to_markdown(index=False)),
        **extra,
    }
