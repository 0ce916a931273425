"""Great Expectations 1.x suites as blocking Dagster asset checks (dagster-ge pins GX < 1.0).

A suite is a list of expectations (GX objects, or plain dicts inline or in a YAML/JSON file) and gives one
check per GX severity: ``<name>`` (critical: ERROR, blocking), ``<name>_warnings`` (WARN, never blocking)
and ``<name>_info`` (reported, never failing). The asset is loaded once and validated in one GX pass.

great_expectations is imported only when a check runs: the import costs ~2.5 s, which every load of the
code location would otherwise pay. Suites are therefore checked at definition time against a static list
of expectation types, so a typo fails when Definitions load, not at 3 a.m.; so does a suite file that is not
valid YAML/JSON, with a ``SuiteFileError`` naming the file, line and column and the fix.

A failing evaluation carries its evidence itself (``gx_tables``): ``failed_expectations``, a table of the
failed expectations (column, observed, expected, unexpected count and examples, redacted) that the UI shows
without a click, and ``expectations``, the markdown of every expectation, failing first.
"""

import difflib
import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetIn,
    AssetKey,
    Failure,
    MetadataValue,
    multi_asset_check,
)
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from reliability_assets.checks.gx_tables import describe, failed_table, markdown_table
from reliability_assets.defaults import COMPUTE_RETRY
from reliability_assets.incidents.modes import mode_metadata
from reliability_assets.resources.redaction import RedactedMessage, redact, redact_metadata, redact_text

Severity = Literal["critical", "warning", "info"]
RESULT_FORMATS = ("BOOLEAN_ONLY", "BASIC", "SUMMARY", "COMPLETE")
#: GX returns results in its own order; this meta key maps each one back to its entry.
_INDEX = "reliability_assets/index"
#: severity -> (check-name suffix, Dagster severity when it fails)
_GROUPS: dict[str, tuple[str, AssetCheckSeverity]] = {
    "critical": ("", AssetCheckSeverity.ERROR),
    "warning": ("_warnings", AssetCheckSeverity.WARN),
    "info": ("_info", AssetCheckSeverity.WARN),
}

#: The GX 1.24 expectation types that run on a pandas frame: the SQL-only ones (like patterns, query
#: comparison, other-table row count) are left out. tests/test_gx_checks.py keeps this in step with GX.
# fmt: off
SUPPORTED = frozenset((
    "expect_column_distinct_values_to_be_in_set", "expect_column_distinct_values_to_contain_set",
    "expect_column_distinct_values_to_equal_set", "expect_column_kl_divergence_to_be_less_than",
    "expect_column_max_to_be_between", "expect_column_mean_to_be_between",
    "expect_column_median_to_be_between", "expect_column_min_to_be_between",
    "expect_column_most_common_value_to_be_in_set", "expect_column_pair_values_a_to_be_greater_than_b",
    "expect_column_pair_values_to_be_equal", "expect_column_pair_values_to_be_in_set",
    "expect_column_proportion_of_non_null_values_to_be_between",
    "expect_column_proportion_of_unique_values_to_be_between", "expect_column_quantile_values_to_be_between",
    "expect_column_stdev_to_be_between", "expect_column_sum_to_be_between", "expect_column_to_exist",
    "expect_column_type_to_be", "expect_column_unique_value_count_to_be_between",
    "expect_column_value_lengths_to_be_between", "expect_column_value_lengths_to_equal",
    "expect_column_value_z_scores_to_be_less_than", "expect_column_values_to_be_between",
    "expect_column_values_to_be_dateutil_parseable", "expect_column_values_to_be_decreasing",
    "expect_column_values_to_be_in_set", "expect_column_values_to_be_in_type_list",
    "expect_column_values_to_be_increasing", "expect_column_values_to_be_json_parseable",
    "expect_column_values_to_be_null", "expect_column_values_to_be_of_type",
    "expect_column_values_to_be_unique", "expect_column_values_to_match_json_schema",
    "expect_column_values_to_match_regex", "expect_column_values_to_match_regex_list",
    "expect_column_values_to_match_strftime_format", "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_not_be_null", "expect_column_values_to_not_be_outliers",
    "expect_column_values_to_not_match_regex", "expect_column_values_to_not_match_regex_list",
    "expect_compound_columns_to_be_unique", "expect_multicolumn_sum_to_equal",
    "expect_multicolumn_values_to_be_equal", "expect_select_column_values_to_be_unique_within_record",
    "expect_table_column_count_to_be_between", "expect_table_column_count_to_equal",
    "expect_table_columns_to_match_ordered_list", "expect_table_columns_to_match_set",
    "expect_table_row_count_to_be_between", "expect_table_row_count_to_equal",
))
# fmt: on


class Expectation(BaseModel):
    """One expectation as data: the GX object is built from it only when the check runs.

    ``type`` is accepted for ``expectation``, so a suite exported by GX (``suite.to_json_dict()``) loads.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    expectation: str = Field(validation_alias=AliasChoices("expectation", "type"))
    kwargs: dict[str, Any] = {}
    severity: Severity = "critical"
    meta: dict[str, Any] = {}
    description: str | None = None
    notes: str | list[str] | None = None

    @field_validator("expectation")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in SUPPORTED:
            close = difflib.get_close_matches(value, SUPPORTED, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "use a GX 1.x snake_case expectation type"
            raise ValueError(
                f"unknown expectation {value!r}; {hint} (e.g. 'expect_column_values_to_not_be_null')"
            )
        return value

    @property
    def columns(self) -> list[str]:
        kw = self.kwargs
        return [str(kw[k]) for k in ("column", "column_A", "column_B") if k in kw] + [
            str(c) for c in kw.get("column_list") or ()
        ]


def load_suite(
    suite: Sequence[Any] | Mapping[str, Any] | str | Path, *, where: str = "GX suite"
) -> list[Expectation]:
    """Parse a suite without importing great_expectations; errors name the entry (or, for a file that does
    not parse, the file, line and column: ``SuiteFileError``) and the fix."""
    data: Any = suite
    if isinstance(suite, str | Path):
        path = Path(suite)
        if path.suffix not in (".yaml", ".yml", ".json"):
            raise SuiteFileError(f"{where}: {path} is neither a .yaml/.yml nor a .json file")
        data = _read_suite_file(path, where)
        where = f"{where} ({path})"
    if isinstance(data, Mapping):
        data = data.get("expectations")
    if not isinstance(data, Sequence) or isinstance(data, str) or not data:
        raise ValueError(
            f"{where}: expected a non-empty list of expectations, or a mapping with 'expectations'"
        )
    entries = []
    for i, item in enumerate(data):
        raw = item.configuration.to_json_dict() if hasattr(item, "configuration") else item  # a GX object
        if isinstance(raw, Mapping):
            raw = {k: v for k, v in raw.items() if k != "id"}  # GX's own id, meaningless here
        try:
            entries.append(Expectation.model_validate(raw))
        except ValidationError as exc:
            label = raw.get("expectation", raw.get("type", "?")) if isinstance(raw, Mapping) else raw
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors()
            )
            raise ValueError(f"{where}, entry {i} ({label}): {problems}") from None
    return entries


class SuiteFileError(RedactedMessage, ValueError):
    """A suite file that cannot be read or parsed. Raised while the Definitions load (``build_gx_checks``
    runs at import), so a broken file stops the code location before any run; the message names the file,
    the line and column, and the fix, instead of a parser traceback."""


#: What usually breaks a hand-edited YAML suite.
_YAML_CAUSES = (
    "a tab or uneven indentation, a missing space after ':' or '-', an unclosed quote or bracket, "
    "an unquoted value containing ': ' or ' #' (quote it)"
)


def _read_suite_file(given: Path, where: str) -> Any:
    path = given.resolve()  # errors name the file absolutely: the code location's directory is not obvious
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteFileError(
            f"{where}: suite file {given} not found (looked for {path}). Fix: correct the path; a relative "
            "path is resolved against the directory the code location is loaded from."
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SuiteFileError(
            f"{where}: cannot read suite file {path}: {error}. Fix: make it a readable UTF-8 file. {_RELOAD}"
        ) from None
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            at = (error.lineno, error.colno)
            raise SuiteFileError(_syntax_error(where, path, text, "JSON", at, error.msg)) from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        at = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        opened = error.context_mark
        context = None
        if error.context and opened is not None and opened is not mark:
            context = (error.context, (opened.line + 1, opened.column + 1))
        problem = error.problem or error.context or "invalid YAML"
        raise SuiteFileError(
            _syntax_error(where, path, text, "YAML", at, problem, context, _YAML_CAUSES)
        ) from None
    except yaml.YAMLError as error:  # no position known
        raise SuiteFileError(
            f"{where}: invalid YAML in {path}: {error}. "
            f"Fix: correct the file (usual causes: {_YAML_CAUSES}). {_RELOAD}"
        ) from None


_RELOAD = "Then reload the code location (Deployment > Reload in the UI, or restart `dagster dev`)."


def _syntax_error(
    where: str,
    path: Path,
    text: str,
    kind: str,
    at: tuple[int, int],
    problem: str,
    context: tuple[str, tuple[int, int]] | None = None,
    causes: str = "",
) -> str:
    """What is wrong and where (``path:line:column``, which editors open), the lines with a caret, the fix.
    ``context``: what the parser was reading and where it began (an unclosed bracket is reported where the
    parser gave up, often a line after the real mistake)."""
    lines = text.splitlines()
    line, column = at
    columns: dict[int, set[int]] = {}
    for number, col in [at, *([context[1]] if context else [])]:
        columns.setdefault(number, set()).add(col)
    width = len(str(max(columns)))
    shown = ""
    for number in sorted(n for n in columns if 0 < n <= len(lines)):
        source = lines[number - 1].replace("\t", " ")  # a tab is one column, as the parser counts
        carets = "".join("^" if c + 1 in columns[number] else " " for c in range(max(columns[number])))
        shown += f"\n    {number:>{width}} | {source}\n    {'':>{width}} | {carets}"
    where_else = ""
    if context:
        what, (since, since_column) = context
        problem += f" ({what} at line {since}, column {since_column})"
        if since < line:
            began = what.removeprefix("while parsing ")
            where_else = f" (or earlier, from line {since}, column {since_column}, where {began} began)"
    usual = f"; usual causes: {causes}" if causes else ""
    return (
        f"{where}: invalid {kind} in {path} at line {line}, column {column}: {problem}"
        f"\n  {path}:{line}:{column}{shown}"
        f"\nFix: correct the {kind} at line {line}, column {column} of {path}{where_else}{usual}. {_RELOAD}"
    )


@functools.cache
def _batch_definition() -> Any:
    """One ephemeral GX context per process: a whole-frame batch definition takes any frame as a parameter."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # else tqdm bars on stderr
    source = context.data_sources.add_pandas("reliability_assets")
    return source.add_dataframe_asset("frame").add_batch_definition_whole_dataframe("whole_frame")


@dataclass(frozen=True)
class Outcome:
    entry: Expectation
    success: bool
    result: dict[str, Any]
    error: str | None = None


def _error(info: Mapping[str, Any]) -> str | None:
    """GX reports an exception flat, or per failed metric keyed by metric id (e.g. a missing column)."""
    if info.get("raised_exception") is True:
        return str(info.get("exception_message"))
    nested = [v for v in info.values() if isinstance(v, Mapping) and v.get("raised_exception")]
    return "; ".join(dict.fromkeys(str(v.get("exception_message")) for v in nested)) or None


def run_suite(
    table: pd.DataFrame, entries: Sequence[Expectation], result_format: str = "SUMMARY"
) -> list[Outcome]:
    """Validate ``table`` in one GX pass; the outcomes come back in entry order."""
    import great_expectations as gx
    from great_expectations.expectations.registry import get_expectation_impl

    expectations = []
    for i, e in enumerate(entries):
        options: dict[str, Any] = {"severity": e.severity, "description": e.description, "notes": e.notes}
        try:
            expectation = get_expectation_impl(e.expectation)(
                **e.kwargs, **options, meta={**e.meta, _INDEX: i}
            )
        except Exception as exc:  # a misspelt or missing kwarg (pydantic.v1): retrying cannot fix it
            raise Failure(
                redact_text(f"GX expectation {i} ({e.expectation}) is invalid: {exc}"), allow_retries=False
            ) from exc
        expectations.append(expectation)
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": table})
    report = batch.validate(
        gx.ExpectationSuite(name="suite", expectations=expectations), result_format=result_format
    )
    by_index = {r.expectation_config.meta[_INDEX]: r for r in report.results}
    outcomes = []
    for i, entry in enumerate(entries):
        result = by_index[i]
        error = _error(result.exception_info or {})
        missing = [c for c in entry.columns if c not in table.columns]
        if error and missing:
            error = f"column {', '.join(missing)} not in the table"
        outcomes.append(Outcome(entry, bool(result.success) and not error, dict(result.result or {}), error))
    return outcomes


def _check_result(check: str, severity: str, outcomes: Sequence[Outcome], version: str) -> AssetCheckResult:
    failed = [o for o in outcomes if not o.success]
    text = "; ".join(describe(o) for o in failed) or None
    evidence = {"failed_expectations": failed_table(outcomes)} if failed else {}
    return AssetCheckResult(
        check_name=check,
        passed=not failed or severity == "info",  # info expectations inform, they never fail
        severity=_GROUPS[severity][1],
        description=redact(f"not met (info only): {text}" if text and severity == "info" else text),
        metadata=redact_metadata(
            {
                **evidence,
                "expectations": MetadataValue.md(markdown_table(outcomes)),
                "evaluated": len(outcomes),
                "failed": len(failed),
                "gx_version": version,
            }
        ),
    )


def build_gx_checks(
    asset: str | Sequence[str] | AssetKey,
    suite: Sequence[Any] | Mapping[str, Any] | str | Path,
    *,
    name: str = "gx_suite",
    blocking: bool = True,
    result_format: str = "SUMMARY",
    failure_mode: str | None = None,
) -> AssetChecksDefinition:
    """One step that loads ``asset`` once and reports a check per GX severity present in ``suite``.

    Critical failures are ERROR and block downstream (unless ``blocking=False``); warnings are WARN and
    never block; info results are metadata only. ``suite`` is checked now, without importing GX.
    ``failure_mode``: what a failure is, in a person's terms (incident reviews; default: data quality).
    """
    key = AssetKey.from_coercible(asset)
    if result_format not in RESULT_FORMATS:
        raise ValueError(f"result_format {result_format!r} is not one of {', '.join(RESULT_FORMATS)}")
    entries = load_suite(suite, where=f"GX suite {name!r} of {key.to_user_string()}")
    groups = {sev: [e for e in entries if e.severity == sev] for sev in _GROUPS}
    specs = [
        AssetCheckSpec(
            name + _GROUPS[sev][0],
            asset=key,
            blocking=blocking and sev == "critical",
            description=f"{len(group)} {sev} GX expectation(s): "
            + ", ".join(dict.fromkeys(e.expectation for e in group)),
            metadata=mode_metadata(failure_mode, builder="gx_suite"),
        )
        for sev, group in groups.items()
        if group
    ]

    @multi_asset_check(
        name=f"{'_'.join(key.path)}_{name}",
        specs=specs,
        ins={"table": AssetIn(key=key)},
        retry_policy=COMPUTE_RETRY,
        description=f"Great Expectations suite {name!r} on {key.to_user_string()}",
    )
    def _gx_suite(table: pd.DataFrame) -> Iterator[AssetCheckResult]:
        import great_expectations as gx

        outcomes = run_suite(table, entries, result_format)
        for sev, (suffix, _) in _GROUPS.items():
            group = [o for o in outcomes if o.entry.severity == sev]
            if group:
                yield _check_result(name + suffix, sev, group, gx.__version__)

    return _gx_suite
