"""`reliability scenario <name>`: each failure end to end through the CLI, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support import BIN, REPO


def reliability(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    env.pop("RELIABILITY_STORE_URL", None)
    return subprocess.run(
        [str(BIN / "reliability"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def scenario(name: str, home: Path) -> dict:
    done = reliability(home, "scenario", name)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("name", "focus", "action", "remediation", "incident_status"),
    [
        (
            "drifted",
            "customer_features:drift",
            "rollback launched (churn_model_rollback)",
            "rollback",
            "mitigated",
        ),
        ("corrupted", "customers:gx_suite", "fallback launched", "fallback", "mitigated"),
        ("llm_down", "executive_summary:served_by_model", "no automatic action", None, "open"),
    ],
)
def test_scenario_ends_with_the_action_the_alert_and_the_incident(
    tmp_path: Path, name: str, focus: str, action: str, remediation: str | None, incident_status: str
) -> None:
    summary = scenario(name, tmp_path)
    assert summary["scenario"] == name
    assert any(c.startswith(f"{focus} (") for c in summary["failed_checks"])
    assert summary["action"].startswith(action)
    assert summary["alert"]["title"].startswith(("ERROR: " + focus, "WARN: " + focus))
    assert summary["incident_id"].startswith("INC-")
    assert summary["incident_status"] == incident_status
    runs = summary["remediation_runs"]
    if remediation is None:
        assert runs == []
    else:
        assert [r["action"] for r in runs] == [remediation] and all(r["success"] for r in runs)

    # What a person does next, in the same home: the inbox and the incident.
    alerts = reliability(tmp_path, "alerts", "list", "--asset", focus.split(":")[0])
    assert alerts.returncode == 0 and focus in alerts.stdout and summary["incident_id"] in alerts.stdout
    shown = reliability(tmp_path, "incidents", "show", summary["incident_id"])
    assert shown.returncode == 0 and focus.split(":")[1] in shown.stdout
