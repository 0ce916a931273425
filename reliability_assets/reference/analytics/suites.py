"""Great Expectations suites of the reference pipeline: the data-quality gates (blocking, critical) and the
softer expectations (warning: WARN, never blocking). Plain dicts, so GX is imported only when a check runs.
"""

from datetime import datetime, timedelta
from typing import Any

from reliability_assets import build_gx_checks
from reliability_assets.reference.analytics.generator import (
    AS_OF,
    CHANNELS,
    ORDER_WINDOW_DAYS,
    PLANS,
    REGIONS,
)

AS_OF_END = datetime.combine(AS_OF, datetime.max.time())
WINDOW_START = datetime.combine(AS_OF - timedelta(days=ORDER_WINDOW_DAYS), datetime.min.time())
DATETIME_TYPES = ["datetime64[ns]", "datetime64[us]", "datetime64[ms]"]


def expect(expectation: str, severity: str = "critical", **kwargs: Any) -> dict[str, Any]:
    return {"expectation": f"expect_{expectation}", "kwargs": kwargs, "severity": severity}


def _not_null(*columns: str) -> list[dict[str, Any]]:
    return [expect("column_values_to_not_be_null", column=c) for c in columns]


CUSTOMERS = [
    expect(
        "table_columns_to_match_set",
        column_set=["customer_id", "signup_date", "plan", "region", "acquisition_channel", "churned"],
        exact_match=True,
    ),
    expect("column_values_to_be_unique", column="customer_id"),
    *_not_null("customer_id", "signup_date", "plan", "region", "acquisition_channel", "churned"),
    expect("column_values_to_be_in_type_list", column="signup_date", type_list=DATETIME_TYPES),
    expect("column_values_to_be_between", column="signup_date", max_value=AS_OF_END),
    expect("column_values_to_be_in_set", column="plan", value_set=list(PLANS)),
    expect("column_values_to_be_in_set", column="region", value_set=list(REGIONS)),
    expect("column_values_to_be_in_set", column="acquisition_channel", value_set=list(CHANNELS)),
]

ORDERS = [
    expect(
        "table_columns_to_match_set",
        column_set=["order_id", "customer_id", "order_date", "amount", "quantity", "returned"],
        exact_match=True,
    ),
    expect("column_values_to_be_unique", column="order_id"),
    *_not_null("order_id", "customer_id", "order_date", "amount", "quantity", "returned"),
    expect("column_values_to_be_in_type_list", column="order_date", type_list=DATETIME_TYPES),
    expect("column_values_to_be_between", column="order_date", min_value=WINDOW_START, max_value=AS_OF_END),
    expect("column_values_to_be_between", column="amount", min_value=0.01),
    expect("column_values_to_be_between", column="quantity", min_value=1),
    # Orders are heavy-tailed; a median far from the plan prices means a unit or currency change upstream.
    expect("column_median_to_be_between", "warning", column="amount", min_value=10, max_value=500),
]

CUSTOMER_FEATURES = [
    expect("column_values_to_be_unique", column="customer_id"),
    *_not_null("customer_id", "recency_days", "frequency_365d", "monetary_365d", "tenure_days"),
    expect("column_values_to_be_between", column="recency_days", min_value=0, max_value=ORDER_WINDOW_DAYS),
    expect("column_values_to_be_between", column="frequency_365d", min_value=0),
    expect("column_values_to_be_between", column="monetary_365d", min_value=0),
    expect("column_values_to_be_between", column="tenure_days", min_value=0),
    expect("column_values_to_be_between", column="return_rate", min_value=0, max_value=1),
    # Most customers order within the year; a collapse of that share is a pipeline bug, not a trend.
    expect("column_mean_to_be_between", "warning", column="frequency_365d", min_value=1),
]

# churn_scores' gate is a Component: reliability_assets/reference/defs/churn_scores_gate/defs.yaml.

customers_gx = build_gx_checks("customers", CUSTOMERS)
orders_gx = build_gx_checks("orders", ORDERS)
customer_features_gx = build_gx_checks("customer_features", CUSTOMER_FEATURES)
GX_CHECKS = [customers_gx, orders_gx, customer_features_gx]
