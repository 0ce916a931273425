"""The executive summary: a narrative of the KPIs. Written by a deterministic template for now; the
tiered LLM resource plugs in here and keeps this template as its last deterministic tier."""

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, asset

from reliability_assets.analytics.kpis import ALL
from reliability_assets.policy import DAILY, OWNERS, STEP_RETRY

TEMPLATE_TIER = "template"


def _money(value: float) -> str:
    return f"${value:,.0f}"


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def template_summary(kpis: pd.DataFrame) -> str:
    """A deterministic narrative: every figure it cites is a value of ``kpis`` (rounded for reading)."""
    total = kpis[kpis["segment"] == ALL].iloc[0]
    segments = kpis[kpis["segment"] != ALL].sort_values("revenue_at_risk", ascending=False)
    exposed = segments.iloc[0]
    riskiest = segments.sort_values("high_risk_share", ascending=False).iloc[0]
    active_share = total["active_customers"] / total["customers"]
    lines = [
        f"# Executive summary, as of {pd.Timestamp(total['as_of']).date().isoformat()}",
        "",
        f"Net revenue over the last 12 months was {_money(total['revenue_365d'])}, of which "
        f"{_money(total['revenue_90d'])} in the last 90 days. Of {int(total['customers']):,} customers, "
        f"{int(total['active_customers']):,} ({_pct(active_share)}) ordered in the last 90 days.",
        "",
        f"The churn model rates {int(total['high_risk_customers']):,} customers "
        f"({_pct(total['high_risk_share'])}) at high risk; {_money(total['revenue_at_risk'])} of "
        f"trailing-year revenue is at risk. Most of it sits in **{exposed['segment']}** "
        f"({_money(exposed['revenue_at_risk'])} across {int(exposed['customers']):,} customers); the "
        f"highest share of high-risk customers is in **{riskiest['segment']}** "
        f"({_pct(riskiest['high_risk_share'])} of {int(riskiest['customers']):,}).",
        "",
        "| segment | customers | active | revenue (12 mo) | revenue at risk | high risk |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {row.segment} | {row.customers:,} | {row.active_customers:,} | {_money(row.revenue_365d)} | "
        f"{_money(row.revenue_at_risk)} | {_pct(row.high_risk_share)} |"
        for row in segments.itertuples()
    ]
    return "\n".join(lines) + "\n"


@asset(
    group_name="reporting",
    kinds={"python", "markdown"},
    owners=OWNERS,
    retry_policy=STEP_RETRY,
    freshness_policy=DAILY,
    io_manager_key="artifact_io_manager",
    tags={"layer": "marts"},
)
def executive_summary(context: AssetExecutionContext, executive_kpis: pd.DataFrame) -> str:
    """A narrative of the KPIs for executives, in markdown. Metadata names the tier that wrote it."""
    summary = template_summary(executive_kpis)
    context.add_output_metadata(
        {
            "summary": MetadataValue.md(summary),
            "tier": TEMPLATE_TIER,
            "degraded": False,
            "words": len(summary.split()),
        }
    )
    return summary
