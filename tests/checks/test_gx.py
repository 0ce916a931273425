"""GX suites as asset checks, through Dagster: blocking on critical, WARN on warning, info as metadata."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetIn,
    DagsterInstance,
    ExecuteInProcessResult,
    asset,
    instance_for_test,
    materialize,
    mem_io_manager,
)

from reliability_assets.checks.gx import SUPPORTED, SuiteFileError, build_gx_checks
from tests.support import REPO

FRAME = pd.DataFrame(
    {"region": ["eu", "us", None, "eu"], "plan": ["free", "pro", "pro", "gold"], "seats": [1, 5, 3, 2]}
)
NOT_NULL_REGION = {"expectation": "expect_column_values_to_not_be_null", "kwargs": {"column": "region"}}
PLAN_IN_SET = {
    "expectation": "expect_column_values_to_be_in_set",
    "kwargs": {"column": "plan", "value_set": ["free", "pro"]},
}
SEATS_POSITIVE = {
    "expectation": "expect_column_values_to_be_between",
    "kwargs": {"column": "seats", "min_value": 1, "max_value": 100},
}


@asset
def accounts() -> pd.DataFrame:
    return FRAME


@asset(ins={"accounts": AssetIn()})
def account_report(accounts: pd.DataFrame) -> int:
    return len(accounts)


@pytest.fixture(scope="module")
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as instance:
        yield instance


def run(
    instance: DagsterInstance, suite: Any, **options: Any
) -> tuple[ExecuteInProcessResult, dict[str, AssetCheckEvaluation], set[str]]:
    checks = build_gx_checks("accounts", suite, **options)
    result = materialize(
        [accounts, account_report, checks],
        resources={"io_manager": mem_io_manager},
        instance=instance,
        raise_on_error=False,
    )
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    return result, evaluations, done


def test_passing_suite_of_gx_objects_reports_every_expectation(instance: DagsterInstance) -> None:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = [
        gxe.ExpectColumnValuesToBeBetween(column="seats", min_value=1, max_value=100),
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        gxe.ExpectColumnValuesToNotBeNull(column="plan", severity="warning"),
    ]
    result, checks, done = run(instance, suite, name="quality")
    assert result.success and done == {"accounts", "account_report"}
    assert set(checks) == {"quality", "quality_warnings"}  # no info expectations, no info check
    critical = checks["quality"]
    assert critical.passed and critical.description is None
    assert critical.metadata["evaluated"].value == 2 and critical.metadata["failed"].value == 0
    assert critical.metadata["gx_version"].value == gx.__version__
    assert (
        "| expect_column_values_to_be_between | seats | pass |  | min_value=1.0, max_value=100.0 | 0 | 0.0% |"
        in critical.metadata["expectations"].value
    )


def test_critical_failure_blocks_downstream_and_names_the_column(instance: DagsterInstance) -> None:
    result, checks, done = run(instance, [NOT_NULL_REGION, SEATS_POSITIVE])
    assert not result.success and done == {"accounts"}  # account_report never ran
    check = checks["gx_suite"]
    assert not check.passed and check.severity.value == "ERROR"
    assert check.description == "region: expect_column_values_to_not_be_null (1 unexpected, 25.0%)"
    table = check.metadata["expectations"].value
    assert "| expect_column_values_to_not_be_null | region | FAIL |  |  | 1 | 25.0% | None |" in table
    assert check.metadata["failed"].value == 1 and check.metadata["evaluated"].value == 2


def test_warning_failure_warns_without_blocking(instance: DagsterInstance) -> None:
    result, checks, done = run(instance, [SEATS_POSITIVE, {**PLAN_IN_SET, "severity": "warning"}])
    assert result.success and done == {"accounts", "account_report"}
    assert checks["gx_suite"].passed
    warning = checks["gx_suite_warnings"]
    assert not warning.passed and warning.severity.value == "WARN"
    assert warning.description == "plan: expect_column_values_to_be_in_set (1 unexpected, 25.0%)"
    assert "| gold |" in warning.metadata["expectations"].value  # the offending value, sampled


def test_the_failing_evaluation_itself_carries_the_failed_expectations(
    instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table is in the failing evaluation as the instance stored it (what the UI reads, whatever runs
    later): a Dagster table of the failures (rendered inline) and the markdown of all, failing first."""
    # An unexpected value that happens to be a secret is masked, in the table as everywhere.
    monkeypatch.setattr(
        sys.modules[__name__], "FRAME", FRAME.assign(plan=["free", "pro", "pro", "gold-s3cret"])
    )
    monkeypatch.setenv("GX_TEST_API_TOKEN", "gold-s3cret")
    mean_high = {
        "expectation": "expect_column_mean_to_be_between",
        "kwargs": {"column": "seats", "min_value": 10},
    }
    suite = [SEATS_POSITIVE, NOT_NULL_REGION, PLAN_IN_SET, mean_high]
    result, checks, done = run(instance, suite, name="inline")
    assert not result.success and done == {"accounts"}
    check = checks["inline"]
    (record,) = instance.event_log_storage.get_asset_check_execution_history(check.asset_check_key, limit=1)
    stored = record.event.dagster_event.event_specific_data  # the evaluation as the instance keeps it
    assert record.run_id == result.run_id and not stored.passed
    table = stored.metadata["failed_expectations"]
    assert [c.name for c in table.schema.columns] == [
        "expectation", "column", "success", "observed", "expected", "unexpected", "unexpected %",
        "examples / error",
    ]  # fmt: skip
    rows = [r.data for r in table.records]
    assert [(r["column"], r["expectation"]) for r in rows] == [
        ("region", "expect_column_values_to_not_be_null"),
        ("plan", "expect_column_values_to_be_in_set"),
        ("seats", "expect_column_mean_to_be_between"),
    ]  # the failures only, in suite order
    assert all(r["success"] == "FAIL" for r in rows)
    region, plan, mean = rows
    assert region["unexpected"] == 1 and region["unexpected %"] == "25.0%"
    assert plan["expected"] == "value_set=['free', 'pro']" and plan["examples / error"] == "***"
    assert mean["observed"] == "2.75" and mean["expected"] == "min_value=10" and mean["unexpected"] is None
    markdown = stored.metadata["expectations"].value.splitlines()
    assert [line.split(" | ")[2] for line in markdown[2:]] == ["FAIL", "FAIL", "FAIL", "pass"]
    assert "s3cret" not in stored.metadata["expectations"].value


def test_a_passing_evaluation_has_no_failure_table(instance: DagsterInstance) -> None:
    _, checks, _ = run(instance, [SEATS_POSITIVE])
    assert checks["gx_suite"].passed and "failed_expectations" not in checks["gx_suite"].metadata


def test_info_never_fails(instance: DagsterInstance) -> None:
    info = {**NOT_NULL_REGION, "severity": "info"}
    result, checks, done = run(instance, [info, {**PLAN_IN_SET, "severity": "info"}])
    assert result.success and done == {"accounts", "account_report"} and set(checks) == {"gx_suite_info"}
    check = checks["gx_suite_info"]
    assert check.passed and check.metadata["failed"].value == 2
    assert check.description is not None and check.description.startswith("not met (info only): region:")


def test_yaml_file_suite(instance: DagsterInstance, tmp_path) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(
        "expectations:\n"
        "  - expectation: expect_column_values_to_be_in_set\n"
        "    kwargs: {column: plan, value_set: [free, pro, gold]}\n"
        "  - expectation: expect_column_values_to_not_be_null\n"
        "    kwargs: {column: region}\n"
        "    severity: warning\n"
    )
    result, checks, _ = run(instance, path)
    assert result.success and checks["gx_suite"].passed
    assert checks["gx_suite_warnings"].description.startswith("region: expect_column_values_to_not_be_null")


UNCLOSED = (  # line 3 never closes its '{': the parser gives up at line 4, column 3
    "expectations:\n"
    "  - expectation: expect_column_values_to_be_in_set\n"
    "    kwargs: {column: plan, value_set: [free, pro]\n"
    "  - expectation: expect_column_values_to_not_be_null\n"
    "    kwargs: {column: region}\n"
)


@pytest.mark.parametrize(
    ("text", "line", "column", "problem"),
    [
        (
            UNCLOSED,
            4,
            3,
            "expected ',' or '}', but got '-' (while parsing a flow mapping at line 3, column 13)",
        ),
        (  # indented one space too far: read as the continuation of "x"
            "expectations:\n  - expectation: x\n     severity: warning\n",
            3,
            14,
            "mapping values are not allowed here",
        ),
        ("expectations:\n\t- expectation: x\n", 2, 1, "found character '\\t' that cannot start any token"),
        ("expectations:\n  - kwargs: {regex: a: b}\n", 2, 22, "expected ',' or '}', but got ':'"),
    ],
)
def test_a_yaml_syntax_error_names_the_file_line_column_and_fix(
    tmp_path, text, line, column, problem
) -> None:
    path = (tmp_path / "suites" / "accounts.yaml").resolve()
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(SuiteFileError) as raised:
        build_gx_checks("accounts", path)
    message = str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__  # not a yaml traceback
    first = message.splitlines()[0]
    assert first.startswith(f"GX suite 'gx_suite' of accounts: invalid YAML in {path} ")
    assert f"at line {line}, column {column}: {problem}" in first
    assert f"\n  {path}:{line}:{column}\n" in message  # what editors and terminals open at the spot
    source = text.splitlines()[line - 1].replace("\t", " ")
    assert f"    {line} | {source}\n" in message and "^" in message
    assert f"\nFix: correct the YAML at line {line}, column {column} of {path}" in message
    assert "reload the code location" in message


def test_the_fix_points_back_to_where_an_unclosed_bracket_opened(tmp_path) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(UNCLOSED)
    with pytest.raises(
        SuiteFileError, match=r"or earlier, from line 3, column 13, where a flow mapping began"
    ):
        build_gx_checks("accounts", path)


def test_a_json_syntax_error_and_a_missing_file_name_the_file(tmp_path) -> None:
    path = (tmp_path / "accounts.json").resolve()
    path.write_text('{"expectations": [\n  {"expectation": "expect_column_to_exist",}\n]}\n')
    with pytest.raises(SuiteFileError) as raised:
        build_gx_checks("accounts", path)
    assert f"invalid JSON in {path} at line 2, column 44: Expecting property name" in str(raised.value)
    assert f"{path}:2:44" in str(raised.value) and "Fix: correct the JSON at line 2, column 44" in str(
        raised.value
    )
    with pytest.raises(SuiteFileError, match=r"suite file .*missing\.yaml not found \(looked for /.*Fix"):
        build_gx_checks("accounts", tmp_path / "missing.yaml")


def test_a_broken_suite_file_stops_the_definitions_load_before_any_run(tmp_path) -> None:
    """A code location that builds its checks from a broken suite file fails while it loads, with the
    clear error last on stderr and no yaml parser frames."""
    (tmp_path / "suite.yaml").write_text(UNCLOSED)
    (tmp_path / "location.py").write_text(
        "from dagster import Definitions, asset\n"
        "from reliability_assets.checks.gx import build_gx_checks\n"
        "@asset\n"
        "def accounts() -> int:\n"
        "    return 1\n"
        "defs = Definitions(assets=[accounts], asset_checks=[build_gx_checks('accounts', 'suite.yaml')])\n"
    )
    probe = subprocess.run(
        [sys.executable, "-c", "import location"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode != 0
    last = probe.stderr.strip().splitlines()
    error = next(
        i for i, text in enumerate(last) if text.startswith("reliability_assets.checks.gx.SuiteFileError")
    )
    assert f"invalid YAML in {(tmp_path / 'suite.yaml').resolve()} at line 4, column 3" in last[error]
    assert any(text.startswith("Fix: correct the YAML at line 4, column 3") for text in last[error:])
    assert "yaml/scanner.py" not in probe.stderr and "yaml/parser.py" not in probe.stderr
    assert "During handling of the above exception" not in probe.stderr


def test_suite_exported_by_gx_loads_from_json(tmp_path) -> None:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    exported = gx.ExpectationSuite(name="s", expectations=[gxe.ExpectColumnToExist(column="plan")])
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(exported.to_json_dict()))
    checks = build_gx_checks("accounts", str(path))
    assert [spec.name for spec in checks.check_specs] == ["gx_suite"]


def test_missing_column_fails_with_its_name(instance: DagsterInstance) -> None:
    missing = {"expectation": "expect_column_values_to_not_be_null", "kwargs": {"column": "country"}}
    result, checks, done = run(instance, [missing, SEATS_POSITIVE])
    check = checks["gx_suite"]
    assert not result.success and done == {"accounts"}
    assert not check.passed
    assert (
        check.description == "country: expect_column_values_to_not_be_null (column country not in the table)"
    )


def test_bad_expectation_name_fails_at_definition_with_the_fix() -> None:
    typo = {"expectation": "expect_column_values_to_not_be_nul", "kwargs": {"column": "region"}}
    with pytest.raises(ValueError) as error:
        build_gx_checks("accounts", [NOT_NULL_REGION, typo])
    message = str(error.value)
    assert "GX suite 'gx_suite' of accounts, entry 1 (expect_column_values_to_not_be_nul)" in message
    assert "did you mean 'expect_column_values_to_not_be_null'?" in message
    with pytest.raises(ValueError, match=r"entry 0 .*severity"):
        build_gx_checks("accounts", [{**NOT_NULL_REGION, "severity": "fatal"}])
    with pytest.raises(ValueError, match="result_format"):
        build_gx_checks("accounts", [NOT_NULL_REGION], result_format="FULL")


def test_module_and_definitions_do_not_import_great_expectations() -> None:
    """The code location loads without paying GX's import; typos are still caught."""
    code = (
        "import sys\n"
        "from reliability_assets.checks.gx import build_gx_checks\n"
        f"build_gx_checks('accounts', [{NOT_NULL_REGION!r}])\n"
        "try:\n"
        "    build_gx_checks('accounts', [{'expectation': 'expect_nothing'}])\n"
        "except ValueError:\n"
        "    pass\n"
        "assert 'great_expectations' not in sys.modules, 'great_expectations was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_supported_names_are_the_pandas_capable_gx_expectations() -> None:
    import great_expectations.expectations as gxe
    from great_expectations.expectations.registry import get_expectation_impl

    exported = {
        cls.expectation_type
        for cls in vars(gxe).values()
        if isinstance(cls, type) and issubclass(cls, gxe.Expectation) and cls is not gxe.Expectation
    }
    sql_only = {
        "expect_column_values_to_match_like_pattern",
        "expect_column_values_to_match_like_pattern_list",
        "expect_column_values_to_not_match_like_pattern",
        "expect_column_values_to_not_match_like_pattern_list",
        "expect_query_results_to_match_comparison",
        "expect_table_row_count_to_equal_other_table",
        "unexpected_rows_expectation",
    }
    assert exported - sql_only - {""} == SUPPORTED  # "": the deprecated ExpectMulticolumnValuesToBeUnique
    assert all(get_expectation_impl(name) for name in SUPPORTED)


def test_bad_kwargs_fail_the_step_once_naming_the_entry(instance: DagsterInstance) -> None:
    typo = {"expectation": "expect_column_values_to_be_in_set", "kwargs": {"column": "plan", "valu_set": []}}
    result, checks, done = run(instance, [NOT_NULL_REGION, typo])
    assert not result.success and not checks and done == {"accounts"}
    failures = result.get_step_failure_events()
    assert len(failures) == 1 and not result.filter_events(
        lambda e: e.event_type_value == "STEP_UP_FOR_RETRY"
    )
    assert "GX expectation 1 (expect_column_values_to_be_in_set) is invalid" in str(
        failures[0].step_failure_data.user_failure_data.description
    )
