"""A shop's code location, written from the public API alone: orders behind a GX gate and a drift gate, a
fallback policy, an LLM summary with two tiers and a deterministic answer, and the framework in one call."""

import os

import pandas as pd
from dagster import AssetExecutionContext, Config, Definitions, asset, define_asset_job
from pydantic import BaseModel

from reliability_assets import (
    ACTION_TAG,
    LLM_KEY,
    LLMEndpoint,
    ResilientLLM,
    build_drift_check,
    build_gx_checks,
    reliability_definitions,
    reliability_policy,
)

ORDERS_SUITE = [
    {"expectation": "expect_column_values_to_not_be_null", "kwargs": {"column": "order_id"}},
    {"expectation": "expect_column_values_to_be_between", "kwargs": {"column": "amount", "min_value": 0}},
]


class OrdersConfig(Config):
    broken_feed: bool = False  # what the upstream feed sends on a bad day


def known_good_orders() -> pd.DataFrame:
    return pd.DataFrame({"order_id": range(1, 301), "amount": [10.0 + (i * 37) % 90 for i in range(300)]})


@asset(group_name="shop", metadata=reliability_policy(on_check_failure="fallback", owner="team:shop"))
def orders(context: AssetExecutionContext, config: OrdersConfig) -> pd.DataFrame:
    """Today's orders from the feed; a fallback run serves the known-good snapshot instead."""
    frame = known_good_orders()
    if config.broken_feed and context.run.tags.get(ACTION_TAG) != "fallback":
        frame["amount"] = -frame["amount"]  # a sign flip upstream
    return frame


class Summary(BaseModel):
    text: str


@asset(group_name="shop")
def orders_summary(context: AssetExecutionContext, orders: pd.DataFrame, llm: ResilientLLM) -> str:
    """Two model tiers, then the last good answer, then a sentence computed from the data."""
    total = float(orders["amount"].sum())
    result = llm.generate(
        [{"role": "user", "content": f"Summarise in one sentence: {len(orders)} orders, {total:.2f} EUR."}],
        schema=Summary,
        source="orders_summary",
        deterministic=lambda: Summary(text=f"{len(orders)} orders worth {total:.2f} EUR."),
    )
    context.add_output_metadata({"tier": result.tier, "degraded": result.degraded})
    return result.output.text if result.output else "no summary"


def shop_llm() -> ResilientLLM:
    url, key = os.environ.get("SHOP_LLM_URL"), os.environ.get("SHOP_LLM_KEY")
    tiers = [("primary", "shop-large"), ("secondary", "shop-small")]
    endpoints = [LLMEndpoint(name=n, model=m, base_url=url, api_key=key, max_attempts=2) for n, m in tiers]
    return ResilientLLM(endpoints=endpoints, deadline_s=30)


daily = define_asset_job("daily", selection=[orders, orders_summary])
gates = [build_gx_checks(orders.key, ORDERS_SUITE), build_drift_check(orders.key, columns=["amount"])]
defs = Definitions.merge(
    Definitions(
        assets=[orders, orders_summary],
        asset_checks=gates,
        jobs=[daily],
        resources={LLM_KEY: shop_llm()},
    ),
    reliability_definitions(jobs=[daily], fallback_job=daily, owners=["team:shop"]),
)
