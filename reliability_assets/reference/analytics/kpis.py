"""Executive KPIs per segment and overall: revenue, active customers, churn-risk distribution, and what
customers complain about (from ``feedback_topics``: the share of negative feedback and the top complaint)."""

import pandas as pd
from dagster import AssetCheckResult, AssetExecutionContext, asset, asset_check

from reliability_assets import FAILURE_MODE_KEY, redact, redact_metadata, table_metadata
from reliability_assets.reference.analytics.generator import AS_OF
from reliability_assets.reference.policy import COMPUTE_RETRY, DAILY, OWNERS

HIGH_RISK = 0.5
ALL = "all"
NO_COMPLAINT = "none"
SUMMED = (
    "customers",
    "feedback_rows",
    "active_customers",
    "revenue_365d",
    "revenue_90d",
    "high_risk_customers",
    "revenue_at_risk",
)


def compute_kpis(
    segments: pd.DataFrame, features: pd.DataFrame, feedback: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Revenue at risk = each customer's trailing-year revenue x churn probability, summed. With
    ``feedback`` (``feedback_topics``), the topic shares per segment too (see ``feedback_kpis``)."""
    df = segments[["customer_id", "segment", "churn_probability"]].merge(
        features[["customer_id", "monetary_365d", "frequency_90d", "monetary_90d"]], on="customer_id"
    )
    df["active"] = df["frequency_90d"] > 0
    df["revenue_90d"] = df["monetary_90d"]
    df["high_risk"] = df["churn_probability"] >= HIGH_RISK
    df["revenue_at_risk"] = df["monetary_365d"] * df["churn_probability"]

    def aggregate(group: pd.DataFrame) -> pd.Series:
        return pd.Series(
            {
                "customers": len(group),
                "active_customers": int(group["active"].sum()),
                "revenue_365d": group["monetary_365d"].sum(),
                "revenue_90d": group["revenue_90d"].sum(),
                "avg_churn_probability": group["churn_probability"].mean(),
                "high_risk_customers": int(group["high_risk"].sum()),
                "revenue_at_risk": group["revenue_at_risk"].sum(),
            }
        )

    per_segment = df.groupby("segment").apply(aggregate, include_groups=False).reset_index()
    overall = aggregate(df).to_frame().T.assign(segment=ALL)
    kpis = pd.concat([per_segment, overall], ignore_index=True)
    kpis["high_risk_share"] = kpis["high_risk_customers"] / kpis["customers"]
    for column in ("customers", "active_customers", "high_risk_customers"):
        kpis[column] = kpis[column].astype("int64")
    for column in ("revenue_365d", "revenue_90d", "revenue_at_risk"):
        kpis[column] = kpis[column].astype(float).round(2)
    for column in ("avg_churn_probability", "high_risk_share"):
        kpis[column] = kpis[column].astype(float).round(4)
    kpis = kpis.merge(feedback_kpis(segments, feedback), on="segment", how="left")
    kpis["feedback_rows"] = kpis["feedback_rows"].fillna(0).astype("int64")
    kpis["negative_feedback_share"] = kpis["negative_feedback_share"].fillna(0.0).astype(float)
    kpis["top_complaint"] = kpis["top_complaint"].fillna(NO_COMPLAINT).astype(str)
    kpis["top_complaint_share"] = kpis["top_complaint_share"].fillna(0.0).astype(float)
    kpis.insert(0, "as_of", pd.Timestamp(AS_OF))
    return kpis


def feedback_kpis(segments: pd.DataFrame, feedback: pd.DataFrame | None) -> pd.DataFrame:
    """Per segment and "all": ``feedback_rows`` (texts a tier labelled; deferred and quarantined ones are
    not), ``negative_feedback_share``, and ``top_complaint``: the topic most negative texts are about, with
    its share of them (``top_complaint_share``)."""
    from reliability_assets.reference.analytics.feedback_generator import TOPICS

    columns = ["segment", "feedback_rows", "negative_feedback_share", "top_complaint", "top_complaint_share"]
    if feedback is None or feedback.empty:
        return pd.DataFrame(columns=columns)
    labelled = feedback[~feedback["deferred"].astype(bool) & ~feedback["quarantined"].astype(bool)]
    df = labelled[["customer_id", "topic", "sentiment"]].merge(
        segments[["customer_id", "segment"]], on="customer_id"
    )

    def aggregate(group: pd.DataFrame) -> dict[str, object]:
        negative = group[group["sentiment"] == "negative"]
        complaints = negative["topic"][negative["topic"].isin(TOPICS)].value_counts()
        top = str(complaints.index[0]) if len(complaints) else NO_COMPLAINT
        return {
            "feedback_rows": len(group),
            "negative_feedback_share": round(len(negative) / len(group), 4) if len(group) else 0.0,
            "top_complaint": top,
            "top_complaint_share": round(complaints.iloc[0] / len(negative), 4) if len(complaints) else 0.0,
        }

    rows = [{"segment": name, **aggregate(group)} for name, group in df.groupby("segment", sort=True)]
    rows.append({"segment": ALL, **aggregate(df)})
    return pd.DataFrame(rows, columns=columns)


@asset(
    group_name="reporting",
    kinds={"python", "pandas", "duckdb"},
    owners=OWNERS,
    retry_policy=COMPUTE_RETRY,
    freshness_policy=DAILY,
    tags={"layer": "marts"},
)
def executive_kpis(
    context: AssetExecutionContext,
    customer_segments: pd.DataFrame,
    customer_features: pd.DataFrame,
    feedback_topics: pd.DataFrame,
) -> pd.DataFrame:
    """One row per segment plus an "all" row: customers, active customers (ordered in the last 90
    days), net revenue, churn risk and revenue at risk, the share of negative feedback and the top
    complaint topic."""
    kpis = compute_kpis(customer_segments, customer_features, feedback_topics)
    total = kpis[kpis["segment"] == ALL].iloc[0]
    context.add_output_metadata(
        redact_metadata(
            table_metadata(
                kpis,
                revenue_365d=float(total["revenue_365d"]),
                active_customers=int(total["active_customers"]),
                high_risk_share=float(total["high_risk_share"]),
                revenue_at_risk=float(total["revenue_at_risk"]),
                negative_feedback_share=float(total["negative_feedback_share"]),
                top_complaint=str(total["top_complaint"]),
            )
        )
    )
    return kpis


@asset_check(
    asset=executive_kpis,
    name="reconciles",
    blocking=True,
    description="Segments add up to the 'all' row (customers, revenue, risk); no segment is double counted.",
    metadata={FAILURE_MODE_KEY: "figures do not reconcile"},
)
def executive_kpis_reconcile(executive_kpis: pd.DataFrame) -> AssetCheckResult:
    segments = executive_kpis[executive_kpis["segment"] != ALL]
    total = executive_kpis[executive_kpis["segment"] == ALL]
    if len(total) != 1:
        return AssetCheckResult(
            passed=False, description=redact(f"expected one '{ALL}' row, found {len(total)}")
        )
    gaps = {column: round(float(segments[column].sum() - total[column].iloc[0]), 2) for column in SUMMED}
    # Revenue columns are rounded per row: allow one cent per segment.
    off = {column: gap for column, gap in gaps.items() if abs(gap) > 0.01 * len(segments)}
    return AssetCheckResult(
        passed=not off,
        description=redact(
            None
            if not off
            else "segments do not add up to the total: "
            + ", ".join(f"{column} off by {gap}" for column, gap in off.items())
        ),
        metadata=redact_metadata({f"gap_{column}": gap for column, gap in gaps.items()}),
    )
