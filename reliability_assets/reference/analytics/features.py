"""Customer features: recency, frequency, monetary value and tenure as of the observation date."""

from datetime import date

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, asset

from reliability_assets import redact_metadata, reliability_policy, table_metadata
from reliability_assets.reference.analytics.generator import AS_OF, ORDER_WINDOW_DAYS
from reliability_assets.reference.policy import COMPUTE_RETRY, OWNERS

NUMERIC_FEATURES = (
    "recency_days",
    "frequency_365d",
    "monetary_365d",
    "tenure_days",
    "avg_order_value",
    "return_rate",
)
CATEGORICAL_FEATURES = ("plan", "region")
#: Not model inputs: the KPIs read the recent quarter from here.
RECENT_COLUMNS = ("frequency_90d", "monetary_90d")
RECENT_DAYS = 90


def compute_customer_features(customers: pd.DataFrame, orders: pd.DataFrame, *, as_of: date) -> pd.DataFrame:
    """One row per customer. Returned orders count towards frequency but not towards monetary value.

    A customer with no order in the window gets recency = tenure (never ordered since signup, capped at
    the window), frequency 0 and monetary value 0: absence of orders is itself the strongest churn signal.
    """
    as_of_ts = pd.Timestamp(as_of)
    window_start = as_of_ts - pd.Timedelta(days=ORDER_WINDOW_DAYS)
    recent = orders[(orders["order_date"] > window_start) & (orders["order_date"] <= as_of_ts)]
    net_amount = recent["amount"].where(~recent["returned"], 0.0)
    in_quarter = recent["order_date"] > as_of_ts - pd.Timedelta(days=RECENT_DAYS)
    per_customer = (
        recent.assign(
            net_amount=net_amount,
            in_quarter=in_quarter,
            net_amount_90d=net_amount.where(in_quarter, 0.0),
        )
        .groupby("customer_id")
        .agg(
            last_order=("order_date", "max"),
            frequency_365d=("order_id", "count"),
            monetary_365d=("net_amount", "sum"),
            gross_365d=("amount", "sum"),
            returns=("returned", "sum"),
            frequency_90d=("in_quarter", "sum"),
            monetary_90d=("net_amount_90d", "sum"),
        )
    )
    features = customers[["customer_id", "plan", "region", "signup_date"]].merge(
        per_customer, left_on="customer_id", right_index=True, how="left"
    )
    tenure = (as_of_ts - features["signup_date"]).dt.days.astype(np.int64)
    never = features["last_order"].isna()
    recency = (as_of_ts - features["last_order"]).dt.days
    features["recency_days"] = recency.where(~never, np.minimum(tenure, ORDER_WINDOW_DAYS)).astype(np.int64)
    features["frequency_365d"] = features["frequency_365d"].fillna(0).astype(np.int64)
    features["monetary_365d"] = features["monetary_365d"].fillna(0.0).round(2)
    features["frequency_90d"] = features["frequency_90d"].fillna(0).astype(np.int64)
    features["monetary_90d"] = features["monetary_90d"].fillna(0.0).round(2)
    features["tenure_days"] = tenure
    orders_count = features["frequency_365d"].replace(0, np.nan)
    features["avg_order_value"] = (features["gross_365d"] / orders_count).fillna(0.0).round(2)
    features["return_rate"] = (features["returns"] / orders_count).fillna(0.0).round(4)
    return features[["customer_id", *NUMERIC_FEATURES, *CATEGORICAL_FEATURES, *RECENT_COLUMNS]].reset_index(
        drop=True
    )


@asset(
    group_name="features",
    kinds={"python", "pandas", "duckdb"},
    owners=OWNERS,
    retry_policy=COMPUTE_RETRY,
    tags={"layer": "features"},
    # Drifted model inputs: the model trained on them is suspect, so the champion goes back to the
    # version trained before the drift (and customers are re-scored with it).
    metadata=reliability_policy(
        checks={"drift": "rollback"},
        rollback_job="churn_model_rollback",
        rollback_model="churn",
        owner=OWNERS[0],
    ),
)
def customer_features(
    context: AssetExecutionContext, customers: pd.DataFrame, orders: pd.DataFrame
) -> pd.DataFrame:
    """Recency, frequency, monetary value (net of returns) and tenure per customer as of the observation
    date, plus the last quarter's orders and revenue; the model, segments and KPIs read from here."""
    features = compute_customer_features(customers, orders, as_of=AS_OF)
    context.add_output_metadata(
        redact_metadata(
            table_metadata(
                features,
                as_of=AS_OF.isoformat(),
                customers_without_orders=int((features["frequency_365d"] == 0).sum()),
                median_recency_days=float(features["recency_days"].median()),
            )
        )
    )
    return features
