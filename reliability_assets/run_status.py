"""``reliability status``: every asset's and check's status in one run, from the run's event log.

Why each row says what it says: an asset planned but not materialized is SKIPPED with the blocking check
that stopped it (or "an upstream step failed"), FAILED when its own step failed.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from dataclasses import dataclass
from typing import Any

from reliability_assets.resources.paths import dagster_home

#: Materialization metadata shown in the status table, when an asset has it.
DETAIL_KEYS = (
    ("dagster/row_count", "rows"),
    ("version", "version"),
    ("holdout_auc", "auc"),
    ("tier", "tier"),
)


@dataclass(frozen=True)
class StatusRow:
    kind: str  # "asset" or "check"
    name: str
    status: str
    detail: str = ""


def run_status(run_id: str, *, defs: Any) -> tuple[str, list[StatusRow]]:
    """Status of every asset and check of the code location ``defs`` in one run."""
    from dagster import DagsterEventType, DagsterInstance

    graph = defs.resolve_asset_graph()
    with DagsterInstance.get() as instance:
        run = instance.get_run_by_id(run_id)
        if run is None:
            raise SystemExit(f"no run {run_id} in {dagster_home()}")
        events = [e.dagster_event for e in instance.all_logs(run_id) if e.dagster_event is not None]
    by_type: dict[DagsterEventType, list] = {}
    for event in events:
        by_type.setdefault(event.event_type, []).append(event)

    def of(kind: DagsterEventType) -> list:
        return by_type.get(kind, [])

    materialized = {
        e.asset_key: e.event_specific_data.materialization for e in of(DagsterEventType.ASSET_MATERIALIZATION)
    }
    planned = {e.asset_key for e in of(DagsterEventType.ASSET_MATERIALIZATION_PLANNED)}
    failed_steps = {e.step_key for e in of(DagsterEventType.STEP_FAILURE)}
    evaluations = {
        e.event_specific_data.asset_check_key: e.event_specific_data
        for e in of(DagsterEventType.ASSET_CHECK_EVALUATION)
    }
    planned_checks = {
        e.event_specific_data.asset_check_key for e in of(DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED)
    }

    rows = []
    for key in graph.toposorted_asset_keys:
        name = key.to_user_string()
        if key in materialized:
            metadata = materialized[key].metadata
            detail = ", ".join(f"{label}={metadata[k].value}" for k, label in DETAIL_KEYS if k in metadata)
            rows.append(StatusRow("asset", name, "MATERIALIZED", detail))
        elif key in planned and name in failed_steps:
            rows.append(StatusRow("asset", name, "FAILED", "step failed: see the run's logs"))
        elif key in planned:
            blockers = [
                f"{k.asset_key.to_user_string()}:{k.name}"
                for k, e in evaluations.items()
                if not e.passed and e.blocking and k.asset_key in _ancestors(graph, key)
            ]
            reason = f"blocked by {', '.join(sorted(blockers))}" if blockers else "an upstream step failed"
            rows.append(StatusRow("asset", name, "SKIPPED", reason))
        else:
            rows.append(StatusRow("asset", name, "NOT IN RUN"))
    for check_key in sorted(graph.asset_check_keys, key=lambda k: (k.asset_key.to_user_string(), k.name)):
        name = f"{check_key.asset_key.to_user_string()}:{check_key.name}"
        evaluation = evaluations.get(check_key)
        if evaluation is not None:
            status = "PASSED" if evaluation.passed else f"FAILED ({evaluation.severity.value})"
            rows.append(StatusRow("check", name, status, evaluation.description or ""))
        elif check_key in planned_checks:
            rows.append(StatusRow("check", name, "SKIPPED", "asset not materialized"))
        else:
            rows.append(StatusRow("check", name, "NOT IN RUN"))
    return run.status.value, rows


def _ancestors(graph: Any, key: Any) -> set[Any]:
    seen: set[Any] = set()
    stack = list(graph.get(key).parent_keys)
    while stack:
        parent = stack.pop()
        if parent not in seen:
            seen.add(parent)
            stack.extend(graph.get(parent).parent_keys)
    return seen


def format_status(run_id: str, run_status_value: str, rows: list[StatusRow]) -> str:
    from tabulate import tabulate

    table = tabulate(
        [(r.kind, r.name, r.status, textwrap.shorten(r.detail, 90)) for r in rows],
        headers=["kind", "name", "status", "detail"],
    )
    return f"run {run_id}: {run_status_value}\n{table}"


def latest_run_id() -> str | None:
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        runs = instance.get_runs(limit=1)
    return runs[0].run_id if runs else None


def print_run_status(run_id: str, *, defs: Any) -> int:
    """Print the run's status table; 0 when the run succeeded, 1 otherwise."""
    status, rows = run_status(run_id, defs=defs)
    print(format_status(run_id, status, rows))
    return 0 if status == "SUCCESS" else 1


def add_commands(commands: Any) -> None:
    status_parser = commands.add_parser("status", help="status of every asset and check in a run")
    status_parser.add_argument("--run-id", help="default: the latest run")


def run(args: argparse.Namespace, *, defs: Any) -> int:
    run_id = args.run_id or latest_run_id()
    if run_id is None:
        print(f"no runs yet in {dagster_home()}", file=sys.stderr)
        return 2
    return print_run_status(run_id, defs=defs)
