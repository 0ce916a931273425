"""``reliability_health``: one place that shows every asset check's latest result, with its severity,
when, the run and the evidence, kept current by the remediation sensor.

Why an observed external asset: Dagster's catalog colours an asset red for failed ERROR checks only (a
failed WARN check stays green) and shows each check on its own asset's page. The scorecard is a computed
asset (rates over a window), as stale as its last materialization. The sensor already reads every check
evaluation the moment it is recorded, so it records a runless ``AssetObservation`` on this spec whenever a
check reported or an incident moved: the asset page's latest observation is the whole board, current to
one sensor tick, and *Materialize all* does not touch it (an ``AssetSpec`` is not executable).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetObservation,
    AssetSpec,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
)

from reliability_assets.alert_inbox import md_cell, utc_text
from reliability_assets.check_events import Evaluation, latest_evaluations, standing_notice
from reliability_assets.resources.redaction import redact_metadata

if TYPE_CHECKING:
    from dagster import DagsterInstance

    from reliability_assets.incidents import IncidentLog

HEALTH_KEY = AssetKey("reliability_health")

reliability_health = AssetSpec(
    HEALTH_KEY,
    group_name="reliability",
    kinds={"python"},
    tags={"layer": "reliability"},
    description="Every asset check's latest result in one table: passed, failed (with its severity) or "
    "degraded by configuration, when, the run, the evidence in short and the open incident. Observed by "
    "the check_failure_remediation sensor each time a check reports or an incident moves: nothing to "
    "materialize.",
)

COLUMNS = ("asset", "check", "result", "severity", "blocking", "at (UTC)", "run", "incident", "evidence")


def result_of(evaluation: Evaluation | None) -> str:
    if evaluation is None:
        return "never evaluated"
    if not evaluation.passed:
        return "FAILED"
    return "passed (degraded)" if standing_notice(evaluation) else "passed"


def health_rows(
    instance: DagsterInstance,
    checks: Mapping[AssetCheckKey, bool],
    incidents: IncidentLog | None,
    run_url: Any,
) -> list[dict[str, str]]:
    """One row per check (``checks``: key -> blocking), failures first, then by asset and check."""
    latest = latest_evaluations(instance, checks)
    rows = []
    for key, blocking in checks.items():
        name = key.to_user_string()
        evaluation = latest.get(name)
        asset = key.asset_key.to_user_string()
        incident = incidents.open_for(asset=asset, check=key.name) if incidents else None
        evidence = ""
        if evaluation is not None:
            evidence = standing_notice(evaluation) or evaluation.description or ""
            report = (evaluation.metadata or {}).get("report")
            if report and not evaluation.passed:
                evidence += f" (report: {report})"
        rows.append(
            {
                "asset": asset,
                "check": key.name,
                "result": result_of(evaluation),
                "severity": evaluation.severity if evaluation and not evaluation.passed else "",
                "blocking": "yes" if blocking else "no",
                "at (UTC)": utc_text(evaluation.timestamp) if evaluation else "",
                "run": run_url(evaluation.run_id) if evaluation else "",
                "incident": f"{incident.id} ({incident.status})" if incident else "",
                "evidence": md_cell(evidence, 160),
            }
        )
    order = {"FAILED": 0, "passed (degraded)": 1, "never evaluated": 2, "passed": 3}
    rows.sort(key=lambda r: (order[r["result"]], r["severity"] != "ERROR", r["asset"], r["check"]))
    return rows


def health_markdown(rows: Iterable[Mapping[str, str]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = dict(row)
        if cells["run"]:
            cells["run"] = f"[{cells['run'].rstrip('/').rsplit('/', 1)[-1][:8]}]({cells['run']})"
        lines.append("| " + " | ".join(cells[c] for c in COLUMNS) + " |")
    return "\n".join(lines)


def health_observation(
    instance: DagsterInstance,
    checks: Mapping[AssetCheckKey, bool],
    incidents: IncidentLog | None,
    run_url: Any,
) -> AssetObservation:
    """The board now, as a runless observation of ``reliability_health``."""
    rows = health_rows(instance, checks, incidents, run_url)
    failed = [r for r in rows if r["result"] == "FAILED"]
    schema = TableSchema(columns=[TableColumn(name, "string") for name in COLUMNS])
    return AssetObservation(
        asset_key=HEALTH_KEY,
        metadata=redact_metadata(
            {
                "checks": len(rows),
                "failing": len(failed),
                "failing_error": sum(r["severity"] == "ERROR" for r in failed),
                "failing_warn": sum(r["severity"] == "WARN" for r in failed),
                "degraded": sum(r["result"] == "passed (degraded)" for r in rows),
                "board": MetadataValue.table(records=[TableRecord(dict(row)) for row in rows], schema=schema),
                "board_markdown": MetadataValue.md(health_markdown(rows)),
            }
        ),
    )
