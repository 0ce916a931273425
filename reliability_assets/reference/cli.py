"""reliability: the framework's commands (reliability_cli) on the reference code location, plus its own:
demo materializes the whole graph through the Dagster CLI, with progress, and prints every asset's and
check's status; scenario launches a failure through the running UI and reports what the sensors did.
-v shows Dagster's event stream (demo) or each phase (scenario) instead of the progress bar."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from reliability_assets import (
    CLICommand,
    LaunchError,
    init_home,
    latest_run_id,
    print_run_status,
    reliability_cli,
    watch_run,
)

DEFINITIONS_MODULE = "reliability_assets.reference.definitions"
VERBOSE_HELP = "show Dagster's event stream (DEBUG lines) instead of the progress bar"


def demo(*, scenario: str | None, seed: int | None, size: int | None, verbose: bool = False) -> int:
    """Materialize the whole graph through the Dagster CLI, then print every asset's and check's status.
    Progress and a line per step on stderr; Dagster's event stream goes to a log file (`-v`: stderr)."""
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
        # (the code location's default too; multiprocess is covered by tests/e2e/test_postgres_deployment.py).
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
    from reliability_assets.reference.definitions import defs

    return print_run_status(run_id, defs=defs)


def _tail(path: Path, lines: int) -> str:
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(text) + "\n" if text else ""


def scenario_command(name: str, *, ui_url: str, size: int | None, verbose: bool = False) -> int:
    from reliability_assets.reference.scenarios import run_scenario

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


def _add_demo(commands: Any) -> None:
    from reliability_assets.reference.analytics.generator import Scenario

    demo_parser = commands.add_parser(
        "demo", help="materialize everything via the Dagster CLI, with progress; print statuses"
    )
    demo_parser.add_argument("--scenario", choices=[s.value for s in Scenario])
    demo_parser.add_argument("--seed", type=int)
    demo_parser.add_argument("--size", type=int)
    demo_parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)


def _add_scenario(commands: Any) -> None:
    from reliability_assets.reference.scenarios import SCENARIOS

    scenario = commands.add_parser(
        "scenario",
        help="launch a scenario run through the running UI (make dev) and report what the sensors did; JSON",
    )
    scenario.add_argument("name", choices=SCENARIOS)
    scenario.add_argument("--ui", default="http://127.0.0.1:3000", help="the Dagster webserver's URL")
    scenario.add_argument("--size", type=int, help="customers generated (default: the code location's)")
    scenario.add_argument("-v", "--verbose", action="store_true", help="print each phase, no progress bar")


def _reference_llm() -> Any:
    from reliability_assets.reference.settings import reference_llm

    return reference_llm()


COMMANDS = (
    CLICommand(
        "demo",
        _add_demo,
        lambda args: demo(scenario=args.scenario, seed=args.seed, size=args.size, verbose=args.verbose),
    ),
    CLICommand(
        "scenario",
        _add_scenario,
        lambda args: scenario_command(args.name, ui_url=args.ui, size=args.size, verbose=args.verbose),
    ),
)


def main(argv: list[str] | None = None) -> int:
    return reliability_cli(
        argv,
        definitions_module=DEFINITIONS_MODULE,
        llm=_reference_llm,
        api_module="reliability_assets.reference.data_api",
        llm_responder="reliability_assets.reference.offline_model:answer",
        commands=COMMANDS,
        description=__doc__,
    )


if __name__ == "__main__":
    sys.exit(main())
