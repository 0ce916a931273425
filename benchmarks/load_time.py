"""How long the code location takes to import: what `dagster dev` and every run worker pay at start.

Each figure is the median of 5 fresh Python processes (warm file cache). Beside it, in the same run:
`dagster` alone (the floor no location can beat) and the naive location that imports
great_expectations, evidently and sklearn at module level (the baseline lazy imports avoid).

    .venv/bin/python benchmarks/load_time.py   # or: make bench

The last line is machine-readable: import_s=<seconds> dagster_import_s=<seconds>
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNS = 5
TARGET_S = 1.5

PROBES = {
    "dagster": "import dagster",
    "reliability_assets.reference.definitions": "import reliability_assets.reference.definitions",
    "naive: + GX, Evidently, sklearn at import": (
        "import reliability_assets.reference.definitions, great_expectations, evidently, sklearn.linear_model"
    ),
}


def time_import(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    for statement in PROBES.values():  # warm the file cache and .pyc files once
        time_import(statement)
    medians = {}
    print("| import | median s | min s | max s | vs dagster |\n| --- | ---: | ---: | ---: | ---: |")
    samples = {name: [time_import(statement) for _ in range(RUNS)] for name, statement in PROBES.items()}
    floor = statistics.median(samples["dagster"])
    for name, values in samples.items():
        medians[name] = statistics.median(values)
        print(
            f"| {name} | {medians[name]:.2f} | {min(values):.2f} | {max(values):.2f} | "
            f"{medians[name] / floor:.2f}x |"
        )
    ours = medians["reliability_assets.reference.definitions"]
    naive = medians["naive: + GX, Evidently, sklearn at import"]
    saved = f"{naive - ours:.2f} s per process ({naive / ours:.1f}x)"
    print(f"\nlazy heavy imports save {saved}; target <= {TARGET_S} s")
    print(f"import_s={ours:.3f} dagster_import_s={floor:.3f}")


if __name__ == "__main__":
    main()
