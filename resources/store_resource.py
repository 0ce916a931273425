"""The reliability store as a Dagster resource, for checks, sensors and jobs that keep state in it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from reliability_assets.resources.paths import dagster_home
from reliability_assets.resources.redaction import (
    register_fields,
)  # importing it redacts get_dagster_logger() too

if TYPE_CHECKING:
    from reliability_assets.resources.store import ReliabilityStore


class StoreBackedResource(ConfigurableResource):
    """A resource whose state lives in the reliability store, opened on first use (SQLAlchemy costs
    0.3 s of import, which loading the code location must not pay)."""

    store_url: str | None = Field(
        default=None, description="SQLAlchemy URL; None: RELIABILITY_STORE_URL, else SQLite in DAGSTER_HOME."
    )

    _store: Any = PrivateAttr(default=None)

    @property
    def store(self) -> ReliabilityStore:
        if self._store is None:
            from reliability_assets.resources.store import ReliabilityStore

            register_fields(self)  # its keys, tokens and URL passwords are masked at every sink
            self._store = ReliabilityStore(self.store_url)
        return self._store


class ReliabilityStoreResource(StoreBackedResource):
    """Where drift references, the model registry, incidents and alerts live; reports go to files."""

    reports_dir: str | None = Field(
        default=None, description="Where HTML reports are written; None: $DAGSTER_HOME/reports."
    )

    def report_path(self, *parts: str) -> Path:
        return Path(self.reports_dir or dagster_home() / "reports").joinpath(*parts)
