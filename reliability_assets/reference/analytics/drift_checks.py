"""Drift checks of the reference pipeline: model inputs (customer_features) and predictions (churn_scores).

Each compares with the last materialization whose checks all passed. Until there is one (a new
deployment), the pinned baseline is the clean world drawn with a seed of its own, so a clean run is
compared with an independent clean sample (sampling noise only) rather than with itself.

Dates are watched the way ``checks/drift.py`` recommends (the gate skips datetime columns, as Evidently's
preset does): ``customer_features`` turns ``signup_date`` and the last order's date into numbers measured
against the run's as-of date, ``tenure_days`` and ``recency_days``, which stay put while the customer base
does. Both lists are explicit, so a feature that goes missing fails the check by name, and columns that are
not model inputs (``customer_id``, the recent-quarter KPIs) are never compared.
"""

from functools import cache

import pandas as pd
from dagster import AssetCheckExecutionContext

from reliability_assets import build_drift_check
from reliability_assets.reference.analytics.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from reliability_assets.reference.analytics.generator import AS_OF, Scenario, generate

BASELINE_SEED = 1


@cache
def _clean_features(size: int) -> pd.DataFrame:
    from reliability_assets.reference.analytics.features import compute_customer_features

    world = generate(seed=BASELINE_SEED, size=size, scenario=Scenario.clean)
    return compute_customer_features(world.customers, world.orders, as_of=AS_OF).merge(
        world.customers[["customer_id", "churned"]], on="customer_id"
    )


@cache
def _clean_scores(size: int) -> pd.DataFrame:
    from reliability_assets.reference.analytics.model import score_customers, train_churn_model

    features = _clean_features(size)
    return score_customers(train_churn_model(features), features)


def _size() -> int:
    # Imported here: settings imports this package (importing settings first would be circular).
    from reliability_assets.reference.settings import load_settings

    return load_settings().size


def features_baseline(_context: AssetCheckExecutionContext) -> pd.DataFrame:
    return _clean_features(_size())


def scores_baseline(_context: AssetCheckExecutionContext) -> pd.DataFrame:
    return _clean_scores(_size())


customer_features_drift = build_drift_check(
    "customer_features",
    columns=[*NUMERIC_FEATURES, *CATEGORICAL_FEATURES],
    baseline=features_baseline,
)
#: Prediction drift: the probability's distribution (it moves before the bands do) and the band mix;
#: either drifting is prediction drift (the default share, 0.5, of two columns).
churn_scores_drift = build_drift_check(
    "churn_scores",
    name="prediction_drift",
    columns=["churn_probability", "risk_band"],
    baseline=scores_baseline,
    failure_mode="prediction drift: the model's scores shifted",
)
DRIFT_CHECKS = [customer_features_drift, churn_scores_drift]
