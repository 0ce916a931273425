"""Table contracts: a typed description of a table's columns and key, turned into blocking asset checks.

One contract gives three checks that run in one step (the table is loaded once):
``schema`` (columns present with the right kind), ``unique_key`` and ``valid_values`` (nulls, ranges,
allowed values). A failed check's description names the column and the rule; its metadata carries the
counts and a sample of offending values.
"""

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any, Literal

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetIn,
    AssetKey,
    MetadataValue,
    multi_asset_check,
)
from pydantic import BaseModel, ConfigDict

from reliability_assets.policy import COMPUTE_RETRY

ColumnKind = Literal["integer", "float", "datetime", "string", "boolean"]
SAMPLE_SIZE = 5

_KIND_TESTS = {
    "integer": pd.api.types.is_integer_dtype,
    "float": pd.api.types.is_numeric_dtype,
    "datetime": pd.api.types.is_datetime64_any_dtype,
    "string": lambda dtype: pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype),
    "boolean": pd.api.types.is_bool_dtype,
}


class Column(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    kind: ColumnKind
    nullable: bool = False
    min: float | date | None = None
    max: float | date | None = None
    allowed: tuple[str, ...] | None = None


class TableContract(BaseModel):
    model_config = ConfigDict(frozen=True)

    columns: tuple[Column, ...]
    unique_key: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]


def _sample(values: pd.Series) -> list[str]:
    return [str(v) for v in values.head(SAMPLE_SIZE).tolist()]


def _bound(column: Column, value: float | date) -> Any:
    return pd.Timestamp(value) if column.kind == "datetime" else value


def check_schema(df: pd.DataFrame, contract: TableContract) -> AssetCheckResult:
    missing = [name for name in contract.names if name not in df.columns]
    unexpected = [str(name) for name in df.columns if name not in contract.names]
    wrong_kind = [
        f"{c.name} is {df[c.name].dtype}, expected {c.kind}"
        for c in contract.columns
        if c.name in df.columns and not _KIND_TESTS[c.kind](df[c.name].dtype)
    ]
    problems = [f"missing column {name}" for name in missing]
    problems += [f"unexpected column {name}" for name in unexpected]
    problems += wrong_kind
    return AssetCheckResult(
        check_name="schema",
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        description="; ".join(problems) or None,
        metadata={
            "missing_columns": MetadataValue.json(missing),
            "unexpected_columns": MetadataValue.json(unexpected),
            "wrong_kind": MetadataValue.json(wrong_kind),
        },
    )


def check_unique_key(df: pd.DataFrame, contract: TableContract) -> AssetCheckResult:
    key = list(contract.unique_key)
    absent = [name for name in key if name not in df.columns]
    if absent:
        return AssetCheckResult(
            check_name="unique_key",
            passed=False,
            description=f"key column(s) {', '.join(absent)} missing: uniqueness cannot be verified",
        )
    duplicated = df[df.duplicated(subset=key, keep=False)]
    n_keys = int(df.duplicated(subset=key).sum())
    return AssetCheckResult(
        check_name="unique_key",
        passed=n_keys == 0,
        description=f"{n_keys} duplicate value(s) of key ({', '.join(key)})" if n_keys else None,
        metadata={
            "duplicate_keys": n_keys,
            "duplicate_rows": len(duplicated),
            "sample": MetadataValue.json(
                [
                    "|".join(map(str, row))
                    for row in duplicated[key].drop_duplicates().head(SAMPLE_SIZE).itertuples(index=False)
                ]
            ),
        },
    )


def _violations(df: pd.DataFrame, column: Column) -> Iterator[tuple[str, pd.Series]]:
    values = df[column.name]
    present = values.dropna()
    if not column.nullable:
        yield "not null", values[values.isna()]
    if column.min is not None:
        yield f">= {column.min}", present[present < _bound(column, column.min)]
    if column.max is not None:
        yield f"<= {column.max}", present[present > _bound(column, column.max)]
    if column.allowed is not None:
        yield f"in {list(column.allowed)}", present[~present.isin(column.allowed)]


def check_values(df: pd.DataFrame, contract: TableContract) -> AssetCheckResult:
    rows = []
    failed = []
    unchecked = [column.name for column in contract.columns if column.name not in df.columns]
    for column in contract.columns:
        if column.name in unchecked:
            continue  # the schema check fails on it; say here that its rules were not evaluated
        for rule, bad in _violations(df, column):
            rows.append((column.name, rule, len(bad), _sample(bad)))
            if len(bad):
                failed.append(f"{column.name}: {len(bad)} row(s) violate {rule}")
    table = "| column | rule | violations | sample |\n| --- | --- | ---: | --- |\n" + "\n".join(
        f"| {name} | {rule} | {count} | {', '.join(sample)} |" for name, rule, count, sample in rows
    )
    return AssetCheckResult(
        check_name="valid_values",
        passed=not failed,
        description="; ".join(
            failed + [f"not checked (column missing): {', '.join(unchecked)}"] * bool(unchecked)
        )
        or None,
        metadata={
            "rules": MetadataValue.md(table),
            "unchecked_columns": MetadataValue.json(unchecked),
            "violating_rows": sum(count for _, _, count, _ in rows),
            "rows_checked": len(df),
        },
    )


def build_contract_checks(
    asset: str | Sequence[str] | AssetKey, contract: TableContract, *, blocking: bool = True
) -> AssetChecksDefinition:
    """Blocking by default: a table that breaks its contract stops everything downstream of it."""
    key = AssetKey.from_coercible(asset)
    op_name = "_".join(key.path) + "_contract"
    descriptions = {
        "schema": f"Columns {', '.join(contract.names)} are present with the expected kinds.",
        "unique_key": f"No two rows share ({', '.join(contract.unique_key)}).",
        "valid_values": "No nulls in required columns; values within their ranges and allowed sets.",
    }
    specs = [
        AssetCheckSpec(name, asset=key, blocking=blocking, description=text)
        for name, text in descriptions.items()
        if name != "unique_key" or contract.unique_key
    ]

    @multi_asset_check(
        name=op_name,
        specs=specs,
        ins={"table": AssetIn(key=key)},
        retry_policy=COMPUTE_RETRY,
        description=f"Contract checks of {key.to_user_string()}",
    )
    def _contract(table: pd.DataFrame) -> Iterator[AssetCheckResult]:
        yield check_schema(table, contract)
        if contract.unique_key:
            yield check_unique_key(table, contract)
        yield check_values(table, contract)

    return _contract
