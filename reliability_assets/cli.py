"""reliability: the headless way in. init-home prepares a DAGSTER_HOME; demo materializes the whole graph
through the Dagster CLI, with progress, and prints every asset's and check's status; status prints that
table for any run; scenario launches a failure through the running UI. demo, scenario and report show
progress; -v shows Dagster's event stream (demo) or each phase (scenario) instead."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reliability_assets import alert_inbox, dev, incidents_cli, reports, scorecard_asset
from reliability_assets.analytics.generator import Scenario
from reliability_assets.scenarios import SCENARIOS
from resources.paths import dagster_home

DEFINITIONS_MODULE = "reliability_assets.definitions"
VERBOSE_HELP = "show Dagster's event stream (DEBUG lines) instead of the progress bar"
#: Materialization metadata shown in the status table, when an asset has it.
DETAIL_KEYS = (
    ("dagster/row_count", "rows"),
    ("version", "version"),
    ("holdout_auc", "auc"),
    ("tier", "tier"),
)
#: Run monitoring marks a run whose worker died (SIGKILL, OOM, a lost machine) as failed, so nothing waits on
#: it forever: the run-failure sensor opens an incident, its checks stop counting as running.
RUN_MONITORING = {
    "enabled": True,
    "start_timeout_seconds": 180,
    "cancel_timeout_seconds": 180,
    "poll_interval_seconds": 10,
}
DEFAULT_INSTANCE_CONFIG: dict[str, Any] = {
    "telemetry": {"enabled": False},
    "run_monitoring": RUN_MONITORING,
}


def init_home(home: Path | None = None, *, postgres: str | None = None) -> Path:
    """Create DAGSTER_HOME with a ``dagster.yaml`` that turns telemetry off and run monitoring on; an
    existing file keeps its settings and gains run monitoring when it has none.
    ``postgres`` (a postgresql:// URL): write the PostgreSQL template instead and print the environment
    it reads (``DAGSTER_PG_*``) and the ``RELIABILITY_STORE_URL`` of the store on the same server."""
    home = home or dagster_home()
    if postgres is not None:
        from reliability_assets.deploy import export_lines, write_postgres_config

        try:
            lines = export_lines(postgres, home)
            write_postgres_config(home)
        except ValueError as error:
            raise SystemExit(f"init-home --postgres: {error}") from None
        print("\n".join(lines))
        return home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(yaml.safe_dump(DEFAULT_INSTANCE_CONFIG, sort_keys=False))
        return home
    current = yaml.safe_load(config.read_text()) or {}
    if "run_monitoring" not in current:
        with config.open("a") as out:
            out.write("\n# added by `reliability init-home`: dead runs are marked failed\n")
            out.write(yaml.safe_dump({"run_monitoring": RUN_MONITORING}, sort_keys=False))
        print(f"{config}: run monitoring turned on (dead runs are marked failed)", file=sys.stderr)
    if current.get("telemetry", {}).get("enabled", True):
        print(
            f"warning: {config} leaves Dagster telemetry on; add 'telemetry: {{enabled: false}}'",
            file=sys.stderr,
        )
    return home


def upgrade_store(*, postgres: str | None = None) -> int:
    """Bring the configured reliability store (``RELIABILITY_STORE_URL``, else the SQLite file in
    DAGSTER_HOME) to the newest schema revision now rather than in a run's first step. With ``--postgres``
    and no store configured yet, only say how: the store to use is the one just printed. Reports on stderr
    (stdout stays the paths and exports a shell reads)."""
    from resources.store import migrate_store
    from resources.store_url import STORE_URL_ENV, StoreConfigError, StoreUnavailable, check_store_url, shown

    if postgres is not None and not os.environ.get(STORE_URL_ENV):
        print(
            f"reliability store: export the {STORE_URL_ENV} above and run `reliability init-home` again to "
            "upgrade its schema now (its first use would do it too)",
            file=sys.stderr,
        )
        return 0
    try:
        before, now = migrate_store()
    except (StoreConfigError, StoreUnavailable) as error:
        print(f"init-home: {getattr(error, 'description', None) or error}", file=sys.stderr)
        return 1
    where = shown(check_store_url())
    if before == now:
        print(f"reliability store {where}: schema at revision {now}, up to date", file=sys.stderr)
    else:
        was = before or "unversioned: a new store, or one made before migrations (its rows are kept)"
        print(f"reliability store {where}: schema upgraded to revision {now} (was {was})", file=sys.stderr)
    return 0


@dataclass(frozen=True)
class StatusRow:
    kind: str  # "asset" or "check"
    name: str
    status: str
    detail: str = ""


def run_status(run_id: str) -> tuple[str, list[StatusRow]]:
    """Status of every asset and check of the code location in one run, from the run's event log."""
    from dagster import DagsterEventType, DagsterInstance

    from reliability_assets.definitions import defs

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


def demo(*, scenario: str | None, seed: int | None, size: int | None, verbose: bool = False) -> int:
    """Materialize the whole graph through the Dagster CLI, then print every asset's and check's status.
    Progress and a line per step on stderr; Dagster's event stream goes to a log file (`-v`: stderr)."""
    from reliability_assets.progress import watch_run

    home = init_home()
    source_config = {
        k: v for k, v in {"scenario": scenario, "seed": seed, "size": size}.items() if v is not None
    }
    command = [
        str(Path(sys.executable).with_name("dagster")),
        "asset",
        "materialize",
        "-m",
        DEFINITIONS_MODULE,
        "--select",
        "*",
        "--config-json",
        # One process for the whole graph: a terminal smoke run pays the interpreter start once, not per step
        # (the code location's default too; multiprocess is covered by tests/test_postgres_deployment.py).
        json.dumps(
            {"resources": {"source": {"config": source_config}}, "execution": {"config": {"in_process": {}}}}
        ),
    ]
    log_path = home / "logs" / f"demo-{time.strftime('%Y%m%d-%H%M%S')}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"DAGSTER_HOME={home}", file=sys.stderr)
    if verbose:
        print(f"$ {' '.join(command)}", file=sys.stderr, flush=True)
    else:
        print(f"Dagster's event log: {log_path} (-v shows it here)", file=sys.stderr, flush=True)
    before = latest_run_id()

    def new_run() -> str | None:
        run_id = latest_run_id()
        return run_id if run_id != before else None

    with watch_run(new_run, title="materializing", enabled=not verbose), log_path.open("w") as log:
        subprocess.run(command, check=False, stdout=None if verbose else log, stderr=None if verbose else log)
    run_id = latest_run_id()
    if run_id is None or run_id == before:
        if not verbose:
            sys.stderr.write(_tail(log_path, 40))
        print(f"the Dagster CLI did not start a run (its output: {log_path})", file=sys.stderr)
        return 2
    status, rows = run_status(run_id)
    print(format_status(run_id, status, rows))
    return 0 if status == "SUCCESS" else 1


def _tail(path: Path, lines: int) -> str:
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(text) + "\n" if text else ""


def dead_letter_command(args: argparse.Namespace) -> int:
    """``reliability dlq list|show|replay|resolve``: the same queue the ``dead_letter_replay`` job reads."""
    from dagster import build_resources
    from tabulate import tabulate

    from reliability_assets.dead_letters import replay_entries
    from reliability_assets.settings import reference_llm

    with build_resources({"llm": reference_llm()}) as resources:
        llm = resources.llm
        store = llm.store
        if args.dlq_command == "list":
            entries = store.dead_letters(
                status=None if args.status == "all" else args.status, limit=args.limit
            )
            rows = [
                (e["key"], e["status"], e["source"], len(e["attempts"]), textwrap.shorten(e["reason"], 70))
                for e in entries
            ]
            print(
                tabulate(rows, headers=["key", "status", "source", "attempts", "reason"]) if rows else "empty"
            )
        elif args.dlq_command == "show":
            entry = store.dead_letter_entry(args.key)
            if entry is None:
                print(f"no dead letter with key {args.key}", file=sys.stderr)
                return 2
            print(json.dumps(entry, indent=2, default=str))
        elif args.dlq_command == "replay":
            outcomes = replay_entries(llm, args.keys)
            table = tabulate([(r["key"], r["outcome"]) for r in outcomes], headers=["key", "outcome"])
            print(table if outcomes else "nothing to replay")
            return 0 if all(r["outcome"].startswith("served") for r in outcomes) else 1
        else:
            store.set_dead_letter_status(args.key, "resolved", args.note)
            print(f"{args.key}: resolved")
    return 0


def scenario_command(name: str, *, ui_url: str, size: int | None, verbose: bool = False) -> int:
    from reliability_assets.launch import LaunchError
    from reliability_assets.progress import watch_run
    from reliability_assets.scenarios import run_scenario

    launched: dict[str, str] = {}
    try:
        with watch_run(
            lambda: launched.get("run_id"), title=f"scenario {name}", enabled=not verbose
        ) as watcher:

            def on_progress(phase: str, run_id: str | None) -> None:
                if run_id:
                    launched["run_id"] = run_id
                if watcher is not None:
                    watcher.phase(phase)
                else:
                    print(phase, file=sys.stderr, flush=True)

            summary = run_scenario(name, ui_url=ui_url, size=size, on_progress=on_progress)
    except LaunchError as error:
        raise SystemExit(f"reliability scenario: {error}") from None
    print(json.dumps(summary, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reliability", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init-home", help="create DAGSTER_HOME with telemetry off").add_argument(
        "--postgres", metavar="URL", help="PostgreSQL storage: postgresql://USER[:PASSWORD]@HOST:PORT/DB"
    )
    demo_parser = commands.add_parser(
        "demo", help="materialize everything via the Dagster CLI, with progress; print statuses"
    )
    demo_parser.add_argument("--scenario", choices=[s.value for s in Scenario])
    demo_parser.add_argument("--seed", type=int)
    demo_parser.add_argument("--size", type=int)
    demo_parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    status_parser = commands.add_parser("status", help="status of every asset and check in a run")
    status_parser.add_argument("--run-id", help="default: the latest run")
    dlq = commands.add_parser("dlq", help="the dead-letter queue: list, show, replay, resolve")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = dlq_commands.add_parser("list")
    listing.add_argument(
        "--status", default="open", choices=["open", "in_flight", "replayed", "resolved", "all"]
    )
    listing.add_argument("--limit", type=int, default=100)
    dlq_commands.add_parser("show").add_argument("key")
    dlq_commands.add_parser("replay", help="default: every open entry").add_argument("keys", nargs="*")
    resolve = dlq_commands.add_parser("resolve", help="a person handled it")
    resolve.add_argument("key")
    resolve.add_argument("--note", required=True)
    scenario = commands.add_parser(
        "scenario",
        help="launch a scenario run through the running UI (make dev) and report what the sensors did; JSON",
    )
    scenario.add_argument("name", choices=SCENARIOS)
    scenario.add_argument("--ui", default="http://127.0.0.1:3000", help="the Dagster webserver's URL")
    scenario.add_argument("--size", type=int, help="customers generated (default: the code location's)")
    scenario.add_argument("-v", "--verbose", action="store_true", help="print each phase, no progress bar")
    incidents_cli.add_commands(commands)
    alert_inbox.add_commands(commands)
    scorecard_asset.add_commands(commands)
    reports.add_commands(commands)
    dev.add_command(commands)
    args = parser.parse_args(argv)
    os.environ["DAGSTER_HOME"] = str(dagster_home())  # one home for this process and the Dagster CLI

    if args.command == "init-home":
        print(init_home(postgres=args.postgres))
        return upgrade_store(postgres=args.postgres)
    if args.command == "dev":
        return dev.main(args, home=init_home())
    if args.command == "demo":
        return demo(scenario=args.scenario, seed=args.seed, size=args.size, verbose=args.verbose)
    if args.command == "dlq":
        return dead_letter_command(args)
    if args.command == "incidents":
        return incidents_cli.run(args)
    if args.command == "alerts":
        return alert_inbox.run(args)
    if args.command == "report":
        return scorecard_asset.run(args)
    if args.command == "reports":
        return reports.run(args)
    if args.command == "scenario":
        return scenario_command(args.name, ui_url=args.ui, size=args.size, verbose=args.verbose)
    run_id = args.run_id or latest_run_id()
    if run_id is None:
        print(f"no runs yet in {dagster_home()}", file=sys.stderr)
        return 2
    status, rows = run_status(run_id)
    print(format_status(run_id, status, rows))
    return 0 if status == "SUCCESS" else 1


if __name__ == "__main__":
    sys.exit(main())
