"""A run launched from the UI vs the same run from the CLI: the reference job (clean scenario, the code
location's seed and size) launched through the webserver's GraphQL ``launchRun`` exactly as the Launchpad
does, against ``dagster job execute`` of the same job in one process, on the same DAGSTER_HOME and data.

UI: wall time from the ``launchRun`` call to the run's end (its ``endTime``), under a live ``dagster dev``
(webserver, daemon ticking the sensors, code server). CLI: process start to exit, on the same instance
while that ``dagster dev`` idles. Trials go in rounds (one of each mode per round), so load from other work
on the machine falls on every mode alike.
For each UI run, the lines ``dagster dev`` printed meanwhile, and how many of them ``make dev`` shows.
Modes (``--modes``, comma-separated, each ``--trials`` times, median reported):

- ``cli``: ``dagster job execute ... -c`` with ``execution: {config: {in_process: {}}}``;
- ``ui``: the Launchpad's default (no ``execution`` block): whatever the code location's executor defaults to;
- ``ui-forkserver``: ``multiprocess`` with ``start_method: forkserver`` preloading the code location and the
  heavy libraries, what a user picks in the Launchpad for step isolation;
- ``ui-spawn``: ``multiprocess`` with Dagster's default start method (a fresh interpreter per step).

    nice .venv/bin/python benchmarks/ui_run.py [--trials 3] [--modes cli,ui,ui-forkserver]

The last line is ``ui_run_s=... cli_run_s=... ui_ratio=...`` (the ``ui`` and ``cli`` medians).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tabulate import tabulate

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reliability_assets.dev import QuietFilter  # noqa: E402
from reliability_assets.home import init_home  # noqa: E402
from reliability_assets.preflight import multiprocess_forkserver  # noqa: E402
from reliability_assets.reference.scenarios import run_config  # noqa: E402
from reliability_assets.testing.live import BIN, LiveDagster, hermetic_env  # noqa: E402

JOB = "reference_pipeline"
SEED, SIZE = (
    7,
    5_000,
)  # the code location's defaults (reliability_assets.reference.settings.Settings), given explicitly
SOURCE = run_config("clean", seed=SEED, size=SIZE)
#: What each mode adds to the run config ("ui": nothing, the Launchpad's default).
EXECUTION: dict[str, dict[str, Any]] = {
    "cli": {"execution": {"config": {"in_process": {}}}},
    "ui": {},
    "ui-forkserver": {
        "execution": {"config": multiprocess_forkserver("reliability_assets.reference.definitions")}
    },
    "ui-spawn": {"execution": {"config": {"multiprocess": {}}}},
}


def cli_trial(home: Path, env: dict[str, str]) -> float:
    config = home / "cli-run.json"
    config.write_text(json.dumps(SOURCE | EXECUTION["cli"]))
    command = [
        str(BIN / "dagster"),
        "job",
        "execute",
        "-m",
        "reliability_assets.reference.definitions",
        "-j",
        JOB,
    ]
    start = time.monotonic()
    done = subprocess.run(
        [*command, "-c", str(config)], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit(f"dagster job execute failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed


def terminal_lines(text: str) -> tuple[int, int]:
    """Lines ``dagster dev`` printed, and those ``make dev`` (``reliability dev``'s filter) shows."""
    lines = QuietFilter()
    shown = sum(lines.keep(line) for line in text.splitlines())
    return len(text.splitlines()), shown


def ui_trial(live: LiveDagster, mode: str) -> tuple[float, tuple[int, int]]:
    """Seconds from ``launchRun`` to the run's end, and the terminal lines printed meanwhile."""
    offset = live.log.stat().st_size
    start = time.time()
    run_id = live.ui.launch(JOB, run_config=SOURCE | EXECUTION[mode])
    run = live.ui.wait(run_id, timeout_s=900, poll_s=0.5)
    if run["status"] != "SUCCESS":
        raise SystemExit(f"{mode}: run {run_id} ended {run['status']}:\n{live.tail()}")
    time.sleep(1)  # the run worker's last lines
    with live.log.open("rb") as log:
        log.seek(offset)
        printed = log.read().decode("utf-8", "replace")
    return float(run["endTime"]) - start, terminal_lines(printed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--modes", default="cli,ui,ui-forkserver")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(EXECUTION)
    if unknown:
        parser.error(f"unknown mode(s) {sorted(unknown)}; choose from {sorted(EXECUTION)}")
    home = Path(tempfile.mkdtemp(prefix="ui-run-")) / "dagster_home"
    home.mkdir(parents=True)
    env = hermetic_env(home, DAGSTER_HOME=str(home))
    print(f"DAGSTER_HOME={home}", flush=True)
    times: dict[str, list[float]] = {m: [] for m in modes}
    lines: dict[str, list[tuple[int, int]]] = {m: [] for m in modes}
    init_home(home)
    live = LiveDagster(home, project=REPO, env=env).start()
    try:
        for i in range(args.trials):  # rounds: the machine's load falls on every mode alike
            for mode in modes:
                if mode == "cli":
                    took, printed = cli_trial(home, env), None
                else:
                    took, printed = ui_trial(live, mode)
                    lines[mode].append(printed)
                times[mode].append(took)
                shown = f", terminal lines (dagster dev, make dev) {printed}" if printed else ""
                print(f"round {i + 1} {mode}: {took:.1f} s{shown}", flush=True)
    finally:
        live.stop()

    medians = {m: statistics.median(t) for m, t in times.items()}
    base = medians.get("cli")
    rows = [
        [
            m,
            " ".join(f"{t:.1f}" for t in times[m]),
            medians[m],
            medians[m] / base if base else None,
            statistics.median(raw for raw, _ in lines[m]) if lines[m] else None,
            statistics.median(shown for _, shown in lines[m]) if lines[m] else None,
        ]
        for m in modes
    ]
    headers = ["mode", "trials s", "median s", "x cli", "dagster dev lines/run", "make dev lines/run"]
    print(tabulate(rows, headers=headers, floatfmt=".2f"))
    ui, cli = medians.get("ui"), medians.get("cli")
    ratio = f"{ui / cli:.2f}" if ui and cli else "n/a"
    print(f"ui_run_s={ui or float('nan'):.1f} cli_run_s={cli or float('nan'):.1f} ui_ratio={ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
