"""Where raw customers and orders come from: the deterministic generator, or an HTTP API through
``ResilientAPI`` (snapshot fallback, record quarantine). The assets get a ``RawSource`` and do not know which.
"""

import types
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pandas as pd
from dagster import ConfigurableResource, Failure, get_dagster_logger
from pydantic import BaseModel, Field

from reliability_assets import BoundedRecord, Pull, PullFailed, ResilientAPI, redact_text
from reliability_assets.reference.analytics.generator import RawData, Scenario, generate

Table = Literal["customers", "orders"]
Plan = Literal["free", "basic", "pro", "enterprise"]
Region = Literal["NA", "EU", "APAC", "LATAM"]
Channel = Literal["organic", "paid_search", "referral", "partner"]

#: Plausibility bounds of the reference records. A record outside them is quarantined (with the field and
#: the bound in its reason) before any frame is built; the GX suites then check the business rules (signup
#: not after the observation date, orders in the 12-month window) on the frame.
EARLIEST_DATE, LATEST_DATE = date(1970, 1, 1), date(2099, 12, 31)
MAX_AMOUNT = 1_000_000_000.0  # one order; also keeps sums of a whole table far from float overflow
MAX_QUANTITY = 1_000_000

#: Identifiers fit DuckDB and pandas int64.
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
Day = Annotated[date, Field(ge=EARLIEST_DATE, le=LATEST_DATE)]


class CustomerRecord(BoundedRecord):
    customer_id: Id
    signup_date: Day
    plan: Plan
    region: Region
    acquisition_channel: Channel
    churned: bool


class OrderRecord(BoundedRecord):
    order_id: Id
    customer_id: Id
    order_date: Day
    amount: float = Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False)
    quantity: int = Field(ge=1, le=MAX_QUANTITY)
    returned: bool


#: Above this share of invalid records a pull is not trusted: the blocking quarantine_share check fails
#: and the pull does not replace the last-good snapshot.
MAX_QUARANTINED_SHARE = 0.02

RECORDS: dict[str, type[BaseModel]] = {"customers": CustomerRecord, "orders": OrderRecord}
#: What building a frame from records raises when a value does not fit (OverflowError for an int beyond
#: int64, OutOfBoundsDatetime, a ValueError, for a date pandas cannot hold).
FRAME_ERRORS = (ValueError, TypeError, OverflowError)


def build_frame(records: list[dict[str, Any]], schema: type[BaseModel]) -> pd.DataFrame:
    """Validated records -> a frame with one typed column per field (int64, float64, bool, datetime64;
    nullable dtypes for optional fields): the step that proves a pull usable before it is committed.
    Raises one of ``FRAME_ERRORS`` when a value does not fit its column."""
    frame = pd.DataFrame.from_records(records, columns=list(schema.model_fields))
    for name, info in schema.model_fields.items():
        dtype = _dtype(info.annotation)
        if dtype == "datetime":
            frame[name] = pd.to_datetime(frame[name])
        elif dtype is not None:
            frame[name] = frame[name].astype(dtype)
    return frame


def _dtype(annotation: Any) -> str | None:
    optional = get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation)
    if optional:
        rest = [a for a in get_args(annotation) if a is not type(None)]
        annotation = rest[0] if len(rest) == 1 else None
    if annotation in (date, datetime):
        return "datetime"
    if annotation is bool:
        return "boolean" if optional else "bool"
    if annotation is int:
        return "Int64" if optional else "int64"
    if annotation is float:
        return "Float64" if optional else "float64"
    return None


@dataclass
class SourceLoad:
    """Phase one of a load: the frame is built; the source's last-good data is not replaced yet. The asset
    calls ``commit()`` once the frame is stored as its output (phase two)."""

    frame: pd.DataFrame
    metadata: dict[str, Any] = field(default_factory=dict)
    degraded: bool = False
    reason: str = ""
    quarantined: int = 0
    received: int = 0
    snapshot_written_at: float | None = None
    on_commit: Callable[[], object] | None = None

    @property
    def quarantined_share(self) -> float:
        return self.quarantined / self.received if self.received else 0.0

    def commit(self) -> None:
        """Make this load the source's last-good data (an API's snapshot); a no-op for sources without."""
        if self.on_commit is not None:
            self.on_commit()


class RawSource(ConfigurableResource):
    """The interface the raw assets see."""

    def load(self, table: Table, *, chaos: str | None = None) -> SourceLoad:
        raise NotImplementedError


@lru_cache(maxsize=4)
def _world(seed: int, size: int, scenario: Scenario) -> RawData:
    return generate(seed=seed, size=size, scenario=scenario)


class SyntheticSource(RawSource):
    """The deterministic generator. Pick scenario, seed and size in the Launchpad under
    resources.source.config; the defaults come from RELIABILITY_SCENARIO, RELIABILITY_SEED and
    RELIABILITY_SIZE."""

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
    """An HTTP API (RELIABILITY_API_URL): cursor-paginated customers, page-paginated orders."""

    api: ResilientAPI
    customers_path: str = "/v1/customers"
    orders_path: str = "/v1/orders"

    def load(self, table: Table, *, chaos: str | None = None) -> SourceLoad:
        """Pull, validate, build the frame. The pull is committed as the last-good snapshot only by
        ``SourceLoad.commit()``, which the asset calls once the frame is stored."""
        path = self.customers_path if table == "customers" else self.orders_path
        pagination: Literal["cursor", "page"] = "cursor" if table == "customers" else "page"
        schema = RECORDS[table]
        try:
            pull = self.api.pull(
                path,
                schema=schema,
                name=table,
                pagination=pagination,
                chaos=chaos,
                max_quarantined_share=MAX_QUARANTINED_SHARE,
            )
        except PullFailed as refused:
            if refused.retryable:
                raise
            # Refused, not down (credentials, a wrong path): retries would be refused the same way.
            raise Failure(
                description=redact_text(f"{refused}. Not retried: fix RELIABILITY_API_TOKEN or the API URL"),
                allow_retries=False,
            ) from refused
        try:
            frame = build_frame(pull.records, schema)
        except FRAME_ERRORS as error:
            if pull.served_from == "snapshot":
                raise _unusable(table, pull, error) from error
            # Valid records that still do not make a frame: a bound is missing from the model. Not worth a
            # retry (the same data comes back); the last-good snapshot serves, untouched, and says why.
            reason = (
                f"the pulled records of {table} could not be built into a frame "
                f"({type(error).__name__}: {error}); the snapshot was not replaced"
            )
            get_dagster_logger().warning(f"{reason}; serving the last snapshot of {table}")
            try:
                pull = self.api.from_snapshot(table, schema=schema, reason=reason, attempts=pull.attempts)
            except PullFailed as missing:
                raise Failure(description=redact_text(str(missing)), allow_retries=False) from error
            try:
                frame = build_frame(pull.records, schema)
            except FRAME_ERRORS as again:
                raise _unusable(table, pull, again) from again
        metadata = {"source": f"api:{self.api.base_url}{path}", **pull.metadata()}
        return SourceLoad(
            frame=frame,
            metadata=metadata,
            degraded=pull.degraded,
            reason=pull.reason,
            quarantined=pull.quarantined,
            received=pull.received,
            snapshot_written_at=pull.snapshot_written_at,
            on_commit=pull.commit,
        )


def _unusable(table: str, pull: Pull, error: Exception) -> Failure:
    """Bad data, not a transient fault: the step's RetryPolicy must not run it again."""
    return Failure(
        description=redact_text(
            f"the last-good snapshot of {table} could not be built into a frame "
            f"({type(error).__name__}: {error}). {pull.reason}. Fix: tighten the bounds of "
            f"{RECORDS[table].__name__} so such records are quarantined, or delete the snapshot file."
        ),
        allow_retries=False,
    )
