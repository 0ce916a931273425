"""RFM customer segments: a named, explainable grouping the business reads KPIs by."""

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, asset

from reliability_assets import redact_metadata, table_metadata
from reliability_assets.reference.policy import COMPUTE_RETRY, OWNERS

NEW_CUSTOMER_DAYS = 90
SEGMENTS = ("new", "champions", "loyal", "at_risk", "hibernating", "promising")


def rfm_score(values: pd.Series, *, higher_is_better: bool = True) -> pd.Series:
    """Quintile score 1-5; ranks first so that heavy ties (many zero-order customers) still split."""
    ranks = values.rank(method="first", ascending=higher_is_better)
    return pd.qcut(ranks, 5, labels=False).astype(np.int64) + 1


def assign_segments(features: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    df = features[["customer_id", "recency_days", "frequency_365d", "monetary_365d", "tenure_days"]].merge(
        scores[["customer_id", "churn_probability", "risk_band"]], on="customer_id", how="left"
    )
    r = rfm_score(df["recency_days"], higher_is_better=False)
    f = rfm_score(df["frequency_365d"])
    m = rfm_score(df["monetary_365d"])
    conditions = [
        df["tenure_days"] < NEW_CUSTOMER_DAYS,
        (r >= 4) & (f >= 4),
        (r >= 3) & (f >= 3),
        (r <= 2) & (f >= 3),
        (r <= 2) & (f <= 2),
    ]
    segment = np.select(conditions, list(SEGMENTS[:-1]), default=SEGMENTS[-1])
    return pd.DataFrame(
        {
            "customer_id": df["customer_id"],
            "r_score": r,
            "f_score": f,
            "m_score": m,
            "rfm_code": r.astype(str) + f.astype(str) + m.astype(str),
            "segment": segment,
            "churn_probability": df["churn_probability"],
            "risk_band": df["risk_band"],
        }
    )


@asset(
    group_name="reporting",
    kinds={"python", "pandas", "duckdb"},
    owners=OWNERS,
    retry_policy=COMPUTE_RETRY,
    tags={"layer": "marts"},
)
def customer_segments(
    context: AssetExecutionContext, customer_features: pd.DataFrame, churn_scores: pd.DataFrame
) -> pd.DataFrame:
    """RFM quintile scores and a named segment (new, champions, loyal, at_risk, hibernating, promising),
    with each customer's churn risk alongside."""
    segments = assign_segments(customer_features, churn_scores)
    counts = segments["segment"].value_counts().reindex(SEGMENTS, fill_value=0)
    context.add_output_metadata(
        redact_metadata(table_metadata(segments, **{f"segment_{name}": int(n) for name, n in counts.items()}))
    )
    return segments
