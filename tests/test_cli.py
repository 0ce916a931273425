"""The headless path: `reliability demo` materializes through the Dagster CLI into a DAGSTER_HOME."""

import os
import subprocess

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
    assert {name: table.get(name) for name in ASSET_NAMES} == dict.fromkeys(ASSET_NAMES, "MATERIALIZED")
    expected = {**dict.fromkeys(CHECK_NAMES, "PASSED"), "executive_summary:served_by_model": "FAILED"}
    assert {name: table.get(name) for name in CHECK_NAMES} == expected
    assert "FAILED (WARN)  degraded: served by deterministic" in done.stdout  # offline: the template served
    assert yaml.safe_load((home / "dagster.yaml").read_text())["telemetry"] == {"enabled": False}
    assert (home / "reliability.duckdb").exists()
    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert [run.status for run in runs] == [DagsterRunStatus.SUCCESS]
    # The Dagster CLI ran the graph in one process (the in_process executor the demo asks for).
    assert "Executing steps in process" in done.stderr and "Multiprocess executor" not in done.stderr


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
