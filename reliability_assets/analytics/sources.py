"""Raw sources: where customers and orders come from. The assets do not know which source they got."""

from datetime import timedelta
from functools import lru_cache

import pandas as pd
from dagster import AssetExecutionContext, ConfigurableResource, asset
from pydantic import Field

from reliability_assets.analytics.generator import (
    AS_OF,
    CHANNELS,
    ORDER_WINDOW_DAYS,
    PLANS,
    REGIONS,
    RawData,
    Scenario,
    generate,
)
from reliability_assets.checks.contracts import Column, TableContract, build_contract_checks
from reliability_assets.metadata import table_metadata
from reliability_assets.policy import DAILY, OWNERS, STEP_RETRY


@lru_cache(maxsize=4)
def _world(seed: int, size: int, scenario: Scenario) -> RawData:
    return generate(seed=seed, size=size, scenario=scenario)


class SyntheticSource(ConfigurableResource):
    """The deterministic generator as a source. Pick scenario, seed and size in the Launchpad under
    ``resources.source.config``; defaults come from ``RELIABILITY_SCENARIO/SEED/SIZE``."""

    scenario: Scenario = Field(
        default=Scenario.clean, description="clean | drifted (stated covariate shift) | corrupted (defects)"
    )
    seed: int = Field(default=7, ge=0, description="Random seed; the same seed gives the same data.")
    size: int = Field(default=5_000, ge=50, description="Number of customers (orders scale with it).")

    @property
    def label(self) -> str:
        return f"synthetic:{self.scenario.value}:seed={self.seed}:size={self.size}"

    def customers(self) -> pd.DataFrame:
        return _world(self.seed, self.size, self.scenario).customers.copy()

    def orders(self) -> pd.DataFrame:
        return _world(self.seed, self.size, self.scenario).orders.copy()


def _source_metadata(source: SyntheticSource) -> dict[str, str | int]:
    return {"source": source.label, "scenario": source.scenario.value, "seed": source.seed}


@asset(
    group_name="raw",
    kinds={"python", "pandas", "duckdb"},
    owners=OWNERS,
    retry_policy=STEP_RETRY,
    freshness_policy=DAILY,
    tags={"layer": "raw"},
)
def customers(context: AssetExecutionContext, source: SyntheticSource) -> pd.DataFrame:
    """Customer master data: signup date, plan, region, acquisition channel and the observed churn label."""
    df = source.customers()
    context.add_output_metadata(table_metadata(df, **_source_metadata(source)))
    return df


@asset(
    group_name="raw",
    kinds={"python", "pandas", "duckdb"},
    owners=OWNERS,
    retry_policy=STEP_RETRY,
    freshness_policy=DAILY,
    tags={"layer": "raw"},
)
def orders(context: AssetExecutionContext, source: SyntheticSource) -> pd.DataFrame:
    """Orders of the last 12 months: amount, quantity and whether the order was returned."""
    df = source.orders()
    context.add_output_metadata(table_metadata(df, **_source_metadata(source)))
    return df


CUSTOMERS_CONTRACT = TableContract(
    columns=(
        Column(name="customer_id", kind="integer", min=1),
        Column(name="signup_date", kind="datetime", max=AS_OF),
        Column(name="plan", kind="string", allowed=PLANS),
        Column(name="region", kind="string", allowed=REGIONS),
        Column(name="acquisition_channel", kind="string", allowed=CHANNELS),
        Column(name="churned", kind="boolean"),
    ),
    unique_key=("customer_id",),
)

ORDERS_CONTRACT = TableContract(
    columns=(
        Column(name="order_id", kind="integer", min=1),
        Column(name="customer_id", kind="integer", min=1),
        Column(name="order_date", kind="datetime", min=AS_OF - timedelta(days=ORDER_WINDOW_DAYS), max=AS_OF),
        Column(name="amount", kind="float", min=0.01),
        Column(name="quantity", kind="integer", min=1),
        Column(name="returned", kind="boolean"),
    ),
    unique_key=("order_id",),
)

customers_contract = build_contract_checks("customers", CUSTOMERS_CONTRACT)
orders_contract = build_contract_checks("orders", ORDERS_CONTRACT)
