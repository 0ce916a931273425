"""Shared fixtures: one real in-process run of the whole graph per scenario."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import ExecuteInProcessResult, instance_for_test

from tests.support import POSTGRES_URL, postgres_unreachable, run_reference


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Store tests run on SQLite (the default) and on PostgreSQL (the deployed store)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    if reason := postgres_unreachable():
        pytest.skip(reason)
    return POSTGRES_URL


@pytest.fixture(scope="session")
def reference_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, tuple[ExecuteInProcessResult, Path]]]:
    """One real run of the whole graph per scenario, each with its own DuckDB file."""
    runs = {}
    with instance_for_test() as instance:
        for scenario in ("clean", "drifted", "corrupted"):
            home = tmp_path_factory.mktemp(f"home-{scenario}")
            runs[scenario] = (run_reference(scenario, home, instance), home)
        yield runs
