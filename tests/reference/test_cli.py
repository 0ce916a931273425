"""The headless path: `reliability demo` materializes through the Dagster CLI into a DAGSTER_HOME."""

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus

from tests.support import ASSET_NAMES, BIN, CHECK_NAMES, REPO, run_reference


def _reliability(*args: str, home, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    return subprocess.run(
        [str(BIN / "reliability"), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def _table(stdout: str) -> dict[str, str]:
    """name -> status, from the status table the CLI prints."""
    rows = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] in ("asset", "check"):
            rows[parts[1]] = parts[2]
    return rows


def test_demo_materializes_every_asset_through_the_cli(tmp_path) -> None:
    home = tmp_path / "dagster_home"
    done = _reliability("demo", home=home)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = _table(done.stdout)
    in_run = [name for name in ASSET_NAMES if table.get(name) != "NOT IN RUN"]
    assert {name: table.get(name) for name in in_run} == dict.fromkeys(in_run, "MATERIALIZED")
    assert {"customers", "executive_summary"} <= set(in_run)
    checks = {name: table.get(name) for name in CHECK_NAMES if table.get(name) != "NOT IN RUN"}
    failed = {name for name, status in checks.items() if status != "PASSED"}
    assert failed <= {"executive_summary:served_by_model"}, failed  # offline: at most the degraded WARN
    assert yaml.safe_load((home / "dagster.yaml").read_text())["telemetry"] == {"enabled": False}
    assert (home / "reliability.duckdb").exists()
    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert [run.status for run in runs] == [DagsterRunStatus.SUCCESS]
    # Quiet by default: a line per materialized asset on stderr, not Dagster's DEBUG stream, and the
    # result table last on stdout.
    errors = done.stderr.splitlines()
    assert len(errors) < 25, done.stderr
    assert " DEBUG " not in done.stderr
    assert "✓ customers" in done.stderr and "✓ executive_summary" in done.stderr
    last = done.stdout.strip().splitlines()[-1].split()
    assert last[0] == "check" and last[1] in CHECK_NAMES
    # The event stream went to the log file the demo names; the Dagster CLI ran the graph in one process.
    (log_line,) = [line for line in errors if line.startswith("Dagster's event log: ")]
    log = Path(log_line.split(": ", 1)[1].split(" (-v")[0]).read_text()
    assert " DEBUG " in log
    assert "Executing steps in process" in log and "Multiprocess executor" not in log


def test_demo_verbose_shows_dagsters_event_stream(tmp_path) -> None:
    done = _reliability("demo", "-v", "--size", "200", home=tmp_path / "dagster_home")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Executing steps in process" in done.stderr and "Multiprocess executor" not in done.stderr
    assert done.stderr.count(" DEBUG ") > 50
    assert "✓ customers" not in done.stderr  # no progress lines mixed into the stream
    assert _table(done.stdout)["customers"] == "MATERIALIZED"


def test_status_shows_the_gate_that_blocked_a_run_and_what_it_skipped(tmp_path) -> None:
    home = tmp_path / "dagster_home"
    assert _reliability("init-home", home=home).returncode == 0
    with DagsterInstance.from_config(str(home)) as instance:
        result = run_reference("corrupted", home, instance)
    done = _reliability("status", "--run-id", result.run_id, home=home)
    assert done.returncode == 1
    table = _table(done.stdout)
    assert table["customers"] == table["orders"] == "MATERIALIZED"
    assert table["customers:gx_suite"] == table["orders:gx_suite"] == "FAILED"
    assert {table[name] for name in ASSET_NAMES[2:]} == {"SKIPPED"}
    assert {table[name] for name in CHECK_NAMES if not name.startswith(("customers", "orders"))} == {
        "SKIPPED"
    }
    assert "expect_table_columns_to_match_set" in done.stdout
    assert "blocked by customers:gx_suite, orders:gx_suite" in done.stdout


def test_help_reads_as_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    """Every command's --help, as a person reads it: no reStructuredText double backticks from docstrings."""
    from reliability_assets.reference.cli import main

    commands = ["init-home", "dev", "status", "dlq", "incidents", "alerts", "report", "reports", "demo"]
    for argv in ([], *([c] for c in commands), ["scenario"]):
        with pytest.raises(SystemExit):
            main([*argv, "--help"])
        text = capsys.readouterr().out
        assert "usage: reliability" in text and "``" not in text, (argv, text)
