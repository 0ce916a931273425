"""The reference analytics pipeline: sources -> features -> model -> scores -> segments -> KPIs -> summary,
with customer feedback labelled by the tiered LLM (feedback_topics) feeding the KPIs' topic shares."""

from reliability_assets.reference.analytics.drift_checks import DRIFT_CHECKS
from reliability_assets.reference.analytics.features import customer_features
from reliability_assets.reference.analytics.feedback import feedback_topics
from reliability_assets.reference.analytics.feedback_checks import feedback_tier_quality
from reliability_assets.reference.analytics.history_checks import HISTORY_CHECKS
from reliability_assets.reference.analytics.kpis import executive_kpis, executive_kpis_reconcile
from reliability_assets.reference.analytics.model import (
    churn_model,
    churn_model_auc_floor,
    churn_model_beats_champion,
    churn_scores,
)
from reliability_assets.reference.analytics.raw_sources import ApiSource, RawSource, SyntheticSource
from reliability_assets.reference.analytics.segments import customer_segments
from reliability_assets.reference.analytics.sources import customers, orders
from reliability_assets.reference.analytics.suites import GX_CHECKS
from reliability_assets.reference.analytics.summary import executive_summary

ASSETS = [
    customers,
    orders,
    customer_features,
    churn_model,
    churn_scores,
    customer_segments,
    feedback_topics,
    executive_kpis,
    executive_summary,
]
ASSET_CHECKS = [
    *GX_CHECKS,
    *DRIFT_CHECKS,
    *HISTORY_CHECKS,
    churn_model_auc_floor,
    churn_model_beats_champion,
    executive_kpis_reconcile,
    feedback_tier_quality,
]

__all__ = ["ASSETS", "ASSET_CHECKS", "ApiSource", "RawSource", "SyntheticSource"]
