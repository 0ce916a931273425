"""What a GX evaluation shows a person: a one-line cause per failed expectation (the check's description),
the per-expectation table (markdown, every expectation, failing first) and the failing expectations as a
Dagster table, which the UI renders inside the failing evaluation itself, without a click (a markdown value
longer than 1,000 characters hides behind ``[Show Markdown]``). Values go through ``redact_metadata`` where
the check hands them to Dagster."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dagster import MetadataValue, TableColumn, TableMetadataValue, TableRecord, TableSchema

if TYPE_CHECKING:
    from reliability_assets.checks.gx import Expectation, Outcome

#: Unexpected values shown per expectation.
SAMPLE_SIZE = 5
#: kwargs that say where an expectation looks or how GX reports, not what it expects
_NOT_EXPECTED = frozenset(
    ("column", "column_A", "column_B", "column_list", "result_format", "catch_exceptions", "meta")
)
#: The per-expectation table's columns, in the markdown table and the inline ``failed_expectations`` table.
TABLE_COLUMNS = (
    "expectation", "column", "success", "observed", "expected",
    "unexpected", "unexpected %", "examples / error",
)  # fmt: skip


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}%" if value >= 0.1 or value == 0 else f"{value:.2g}%"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")[:200]


def describe(o: Outcome) -> str:
    r = o.result
    if o.error:
        detail = o.error
    elif r.get("unexpected_count") is not None:
        detail = f"{r['unexpected_count']} unexpected, {_percent(r.get('unexpected_percent'))}"
    else:
        detail = f"observed {_cell(r['observed_value'])}" if "observed_value" in r else "not met"
    return f"{', '.join(o.entry.columns) or '(table)'}: {o.entry.expectation} ({detail})"


def _short(value: Any, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _expected(entry: Expectation) -> str:
    """What the expectation asks for, from its kwargs (``min_value=1, max_value=100``, ``mostly=0.95``)."""
    return ", ".join(f"{k}={_short(v, 60)}" for k, v in entry.kwargs.items() if k not in _NOT_EXPECTED)


def _row(o: Outcome) -> dict[str, str | int | None]:
    """One expectation's outcome; failing ones are listed first by ``_rows``."""
    r = o.result
    sample = r.get("partial_unexpected_list") or []
    count = r.get("unexpected_count")
    return {
        "expectation": o.entry.expectation,
        "column": ", ".join(o.entry.columns) or "(table)",
        "success": "pass" if o.success else "FAIL",
        "observed": _short(r["observed_value"]) if "observed_value" in r else "",
        "expected": _expected(o.entry),
        "unexpected": None if count is None else int(count),
        "unexpected %": _percent(r.get("unexpected_percent")),
        "examples / error": _short(o.error or ", ".join(map(str, sample[:SAMPLE_SIZE])), 200),
    }


def _rows(outcomes: Sequence[Outcome]) -> list[dict[str, str | int | None]]:
    return [_row(o) for o in sorted(outcomes, key=lambda o: o.success)]  # stable: failing first, in order


def markdown_table(outcomes: Sequence[Outcome]) -> str:
    lines = ["| " + " | ".join(TABLE_COLUMNS) + " |", "| --- | --- | --- | --- | --- | ---: | ---: | --- |"]
    for row in _rows(outcomes):
        cells = ["" if row[c] is None else row[c] for c in TABLE_COLUMNS]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def failed_table(outcomes: Sequence[Outcome]) -> TableMetadataValue:
    """The failing expectations, failing first, as a Dagster table (shown inline by the UI)."""
    schema = TableSchema(
        columns=[TableColumn(c, "int" if c == "unexpected" else "string") for c in TABLE_COLUMNS]
    )
    records = [TableRecord(row) for row in _rows([o for o in outcomes if not o.success])]
    return MetadataValue.table(records, schema=schema)
