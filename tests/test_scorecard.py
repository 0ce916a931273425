"""The scorecard from real events: `reliability report` after a corrupted run and its fallback, and the
asset in the code location (table and chart)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, MaterializeResult, asset, materialize

from reliability_assets.incidents import Incident
from reliability_assets.scorecard import as_text, chart_png, compute_scorecard
from tests.support import BIN, REPO, corrupted_history


def reliability(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    env.pop("RELIABILITY_STORE_URL", None)
    return subprocess.run(
        [str(BIN / "reliability"), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def corrupted_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    home = tmp_path_factory.mktemp("scorecard-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("RELIABILITY_STORE_URL", raising=False)
        patch.setenv("DAGSTER_HOME", str(home))
        return home, corrupted_history(home)


def _row(report: str, asset: str) -> list[str]:
    line = next(line for line in report.splitlines() if line.startswith(asset + " "))
    return re.split(r"\s{2,}", line.strip())


def test_report_shows_the_failure_its_mttr_and_its_auto_resolution(corrupted_home) -> None:
    home, summary = corrupted_home
    done = reliability(home, "report")
    assert done.returncode == 0, done.stderr[-2000:]
    header = _row(done.stdout, "asset")
    customers = dict(zip(header, _row(done.stdout, "customers"), strict=True))
    # baseline, corrupted (the gate failed), fallback (last-good data): 3 runs, 1 failure, 2 good.
    assert (customers["runs"], customers["failures"], customers["uptime %"]) == ("3", "1", "66.67")
    # The fallback run served last-good data: up, but degraded, not full quality.
    assert (customers["full quality %"], customers["degraded %"]) == ("33.33", "33.33")
    assert float(customers["MTTR s"]) > 0  # failed evaluation -> mitigated by the fallback run
    assert float(customers["MTTD s"]) >= 0
    assert float(customers["auto-resolved %"]) == 100
    assert "last_good 1" in customers["tiers served"]
    assert float(customers["budget left %"]) == 0  # one bad run in three burns a 99.9% budget
    overall = dict(zip(header, _row(done.stdout, "overall"), strict=True))
    assert int(overall["failures"]) >= 2  # customers and orders
    assert summary["incident_status"] == "mitigated"


def test_the_scorecard_asset_renders_a_table_and_a_chart(corrupted_home, monkeypatch) -> None:
    """Materialized as a user does, from the code location (whose asset graph it scores)."""
    home, _ = corrupted_home
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    env.pop("RELIABILITY_STORE_URL", None)
    command = [str(BIN / "dagster"), "asset", "materialize", "-m", "reliability_assets.reference.definitions"]
    done = subprocess.run(
        [*command, "--select", "reliability_scorecard"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(AssetKey("reliability_scorecard"))
    assert event is not None and event.asset_materialization is not None
    metadata = event.asset_materialization.metadata
    assert re.search(r"\| customers +\| +3 \|", metadata["scorecard (markdown)"].value)
    table = {r.data["asset"]: r.data for r in metadata["scorecard table"].value.records}
    assert table["customers"]["uptime %"] == 66.67 and table["customers"]["degraded %"] == 33.33
    # The key numbers are top-level entries, readable without a click; a line per asset.
    assert metadata["asset: customers"].value.startswith("3 runs · up 66.67% · full quality 33.33%")
    assert metadata["failures"].value >= 2 and 0 < metadata["uptime %"].value < 100
    assert metadata["MTTR s"].value > 0
    assert metadata["chart"].value.startswith("![reliability scorecard](data:image/png;base64,")
    chart = Path(metadata["chart_path"].value)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 5_000
    assert metadata["incidents"].value >= 2
    assert os.environ["DAGSTER_HOME"] == str(home)


@asset
def served(context) -> MaterializeResult:  # type: ignore[no-untyped-def]
    """Served every run; degraded (a fallback tier) when the run is tagged so."""
    degraded = context.run.tags.get("degraded") == "yes"
    return MaterializeResult(metadata={"tier": "fallback" if degraded else "primary", "degraded": degraded})


def _incident(asset_name: str, *, severity: str, at: float) -> Incident:
    return Incident(
        id="i1", asset=asset_name, check="c", severity=severity, status="resolved", opened_at=at,
        last_failed_at=at, detected_at=at + 2, mitigated_at=None, resolved_at=at + 30, resolved_by="auto",
        occurrences=1, first_run_id="r", last_run_id="r", description="", evidence="", actions=(), triage="",
        triage_tier="",
    )  # fmt: skip


def test_a_degraded_run_is_up_but_not_full_quality_and_no_failure_has_no_mttd(tmp_path) -> None:
    with DagsterInstance.ephemeral() as instance:
        assert materialize([served], instance=instance).success
        assert materialize([served], instance=instance, tags={"degraded": "yes"}).success
        now = time.time()
        frame = compute_scorecard(
            instance,
            assets=[AssetKey("served")],
            # A WARN incident (a degraded answer) is not a failure: it gives no MTTD or MTTR.
            incidents=[_incident("served", severity="WARN", at=now - 60)],
            now=now + 1,
        )
    row = frame.set_index("asset").loc["served"]
    assert (row["executions"], row["failures"]) == (2, 0)
    assert (row["uptime_pct"], row["full_quality_pct"], row["degraded_pct"]) == (100, 50, 50)
    assert pd.isna(row["mttd_s"]) and pd.isna(row["mttr_s"]) and pd.isna(row["mtbf_h"])
    assert row["incidents"] == 1 and row["budget_left_pct"] == 100
    text = as_text(frame, fmt="simple")
    served_line = next(line for line in text.splitlines() if line.startswith("served "))
    assert re.split(r"\s{2,}", served_line.strip())[6:9] == ["-", "-", "-"]  # MTBF, MTTD, MTTR blank
    png = chart_png(frame)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


@asset
def labelled(context) -> MaterializeResult:  # type: ignore[no-untyped-def]
    """A batch asset: rows per tier as ``generate_many`` records them, accuracy per tier on its sample."""
    fallback = context.run.tags.get("fallback") == "yes"
    per_tier = {"primary": 20, "deterministic": 80} if fallback else {"primary": 100}
    quality = {"primary": {"labelled": 10, "accuracy": 0.9}}
    if fallback:
        quality = {
            "primary": {"labelled": 2, "accuracy": 1.0},
            "deterministic": {"labelled": 8, "accuracy": 0.5},
        }
    return MaterializeResult(
        metadata={
            "llm/batch/items": 100,
            "llm/batch/per_tier": json.dumps(per_tier),
            "llm/quality_per_tier": quality,
        }
    )


def test_rows_served_by_fallback_accuracy_per_tier_and_the_downtime_cost_avoided() -> None:
    with DagsterInstance.ephemeral() as instance:
        assert materialize([labelled], instance=instance).success
        assert materialize([labelled], instance=instance, tags={"fallback": "yes"}).success
        fallback_at = instance.get_latest_materialization_event(AssetKey("labelled")).timestamp
        assert materialize([labelled], instance=instance).success
        restored_at = instance.get_latest_materialization_event(AssetKey("labelled")).timestamp
        frame = compute_scorecard(
            instance, assets=[AssetKey("labelled")], outage_cost_per_hour_usd=3600.0, now=restored_at + 10
        )
    row = frame.set_index("asset").loc["labelled"]
    assert row["fallback_rows_pct"] == pytest.approx(100 * 80 / 300, abs=0.01)
    # primary: 9 + 2 + 9 right of 22 labelled; deterministic: 4 of 8
    assert row["quality_per_tier"] == "primary 91% (n=22), deterministic 50% (n=8)"
    # The fallback run served 80% of its rows from a fallback until the next run replaced it: $1/s.
    expected = 0.8 * (restored_at - fallback_at)
    assert row["downtime_cost_avoided_usd"] == pytest.approx(expected, abs=0.02)
    assert row["fallback_hours"] == pytest.approx(expected / 3600, abs=0.01)
    overall = frame.set_index("asset").loc["overall"]
    assert overall["downtime_cost_avoided_usd"] == row["downtime_cost_avoided_usd"]
    assert "accuracy per tier" in as_text(frame)
