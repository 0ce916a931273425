"""Where the framework keeps its files when nothing else is configured (no heavy imports here)."""

import os
from pathlib import Path


def dagster_home() -> Path:
    """``$DAGSTER_HOME``, or ``.dagster_home`` in the working directory (what ``make dev`` uses)."""
    return Path(os.environ.get("DAGSTER_HOME") or ".dagster_home").resolve()
