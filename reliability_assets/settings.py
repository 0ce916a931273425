"""Environment settings, read once when the code location loads. Every variable is in the README."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from reliability_assets.analytics.generator import Scenario


class SettingsError(ValueError):
    """A wrong environment variable: the message names the variable and the fix."""


ENV_PREFIX = "RELIABILITY_"


class Settings(BaseModel):
    """``RELIABILITY_<FIELD>`` variables. Scenario, seed and size are defaults of run config: the
    Launchpad overrides them per run. (pydantic-settings would do this too, at +0.1 s load time.)"""

    scenario: Scenario = Scenario.clean
    seed: int = Field(default=7, ge=0)
    size: int = Field(default=5_000, ge=50, le=5_000_000)
    duckdb_path: Path | None = None


def dagster_home() -> Path:
    """``$DAGSTER_HOME``, or ``.dagster_home`` in the working directory (what ``make dev`` uses)."""
    return Path(os.environ.get("DAGSTER_HOME") or ".dagster_home").resolve()


def load_settings() -> Settings:
    values = {
        name: os.environ[f"{ENV_PREFIX}{name.upper()}"]
        for name in Settings.model_fields
        if os.environ.get(f"{ENV_PREFIX}{name.upper()}")
    }
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0])
            variable = f"{ENV_PREFIX}{field.upper()}"
            default = Settings.model_fields[field].default
            problems.append(
                f"{variable}={os.environ.get(variable)!r}: {error['msg']}. Fix: set {variable} to a "
                f"valid value, or unset it to use the default ({getattr(default, 'value', default)!r})."
            )
        raise SettingsError("invalid environment:\n  " + "\n  ".join(problems)) from None


def duckdb_path() -> Path:
    return load_settings().duckdb_path or dagster_home() / "reliability.duckdb"


def artifacts_dir() -> Path:
    """Pickled non-table outputs (the model, the summary) live beside the DuckDB file."""
    return dagster_home() / "storage"
