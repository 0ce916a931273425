"""Importing the components costs Dagster only: heavy libraries load when a component builds or a check
runs."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pandas", "great_expectations", "evidently", "openai", "sqlalchemy")


def test_importing_the_components_loads_no_heavy_library() -> None:
    code = (
        "import sys, reliability_assets.components\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()

    assert loaded == ""
