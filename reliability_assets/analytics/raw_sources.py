"""Where raw customers and orders come from: the deterministic generator, or an HTTP API through
``ResilientAPI`` (snapshot fallback, record quarantine). The assets get a ``RawSource`` and do not know which.
"""

from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, Literal

import pandas as pd
from dagster import ConfigurableResource
from pydantic import BaseModel, Field

from reliability_assets.analytics.generator import RawData, Scenario, generate
from resources.api import ResilientAPI

Table = Literal["customers", "orders"]
Plan = Literal["free", "basic", "pro", "enterprise"]
Region = Literal["NA", "EU", "APAC", "LATAM"]
Channel = Literal["organic", "paid_search", "referral", "partner"]


class CustomerRecord(BaseModel):
    customer_id: int = Field(ge=1)
    signup_date: date
    plan: Plan
    region: Region
    acquisition_channel: Channel
    churned: bool


class OrderRecord(BaseModel):
    order_id: int = Field(ge=1)
    customer_id: int = Field(ge=1)
    order_date: date
    amount: float = Field(gt=0)
    quantity: int = Field(ge=1)
    returned: bool


#: Above this share of invalid records a pull is not trusted: the blocking quarantine_share check fails
#: and the pull does not replace the last-good snapshot.
MAX_QUARANTINED_SHARE = 0.02

RECORDS: dict[str, type[BaseModel]] = {"customers": CustomerRecord, "orders": OrderRecord}
DATE_COLUMNS = {"customers": ["signup_date"], "orders": ["order_date"]}


@dataclass
class SourceLoad:
    frame: pd.DataFrame
    metadata: dict[str, Any] = field(default_factory=dict)
    degraded: bool = False
    reason: str = ""
    quarantined: int = 0
    received: int = 0
    snapshot_written_at: float | None = None

    @property
    def quarantined_share(self) -> float:
        return self.quarantined / self.received if self.received else 0.0


class RawSource(ConfigurableResource):
    """The interface the raw assets see."""

    def load(self, table: Table, *, chaos: str | None = None) -> SourceLoad:
        raise NotImplementedError


@lru_cache(maxsize=4)
def _world(seed: int, size: int, scenario: Scenario) -> RawData:
    return generate(seed=seed, size=size, scenario=scenario)


class SyntheticSource(RawSource):
    """The deterministic generator. Pick scenario, seed and size in the Launchpad under
    ``resources.source.config``; defaults come from ``RELIABILITY_SCENARIO/SEED/SIZE``."""

    scenario: Scenario = Field(
        default=Scenario.clean, description="clean | drifted (stated covariate shift) | corrupted (defects)"
    )
    seed: int = Field(default=7, ge=0, description="Random seed; the same seed gives the same data.")
    size: int = Field(default=5_000, ge=50, description="Number of customers (orders scale with it).")

    @property
    def label(self) -> str:
        return f"synthetic:{self.scenario.value}:seed={self.seed}:size={self.size}"

    def load(self, table: Table, *, chaos: str | None = None) -> SourceLoad:
        frame = getattr(_world(self.seed, self.size, self.scenario), table).copy()
        metadata = {"source": self.label, "scenario": self.scenario.value, "seed": self.seed}
        return SourceLoad(frame=frame, metadata=metadata, received=len(frame))


class ApiSource(RawSource):
    """An HTTP API (``RELIABILITY_API_URL``): cursor-paginated customers, page-paginated orders."""

    api: ResilientAPI
    customers_path: str = "/v1/customers"
    orders_path: str = "/v1/orders"

    def load(self, table: Table, *, chaos: str | None = None) -> SourceLoad:
        path = self.customers_path if table == "customers" else self.orders_path
        pagination: Literal["cursor", "page"] = "cursor" if table == "customers" else "page"
        pull = self.api.pull(
            path,
            schema=RECORDS[table],
            name=table,
            pagination=pagination,
            chaos=chaos,
            max_quarantined_share=MAX_QUARANTINED_SHARE,
        )
        frame = pd.DataFrame.from_records(pull.records, columns=list(RECORDS[table].model_fields))
        for column in DATE_COLUMNS[table]:
            frame[column] = pd.to_datetime(frame[column])
        metadata = {"source": f"api:{self.api.base_url}{path}", **pull.metadata()}
        return SourceLoad(
            frame=frame,
            metadata=metadata,
            degraded=pull.degraded,
            reason=pull.reason,
            quarantined=pull.quarantined,
            received=pull.received,
            snapshot_written_at=pull.snapshot_written_at,
        )
