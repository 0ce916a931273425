"""Deterministic synthetic customers and orders: the test bed for every failure path.

The same ``(seed, size, scenario)`` always yields the same frames, byte for byte, so a failing check
can be reproduced on any machine. Scenarios are switches on one clean world:

- ``clean``: the reference world.
- ``drifted``: covariate drift with the amounts stated in :data:`DRIFT` (the churn mechanism is unchanged).
- ``corrupted``: the clean world with the defects stated in :data:`CORRUPTION` injected.

Each random quantity draws from its own child stream of one ``SeedSequence``, so switching a scenario
changes only what the scenario says it changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import NamedTuple

import numpy as np
import pandas as pd

#: Observation date of the synthetic world. Fixed, not "today", so that every run is reproducible.
AS_OF = date(2026, 6, 30)
SIGNUP_HISTORY_DAYS = 3 * 365
ORDER_WINDOW_DAYS = 365

PLANS = ("free", "basic", "pro", "enterprise")
PLAN_SHARES = (0.40, 0.32, 0.21, 0.07)
PLAN_ORDERS_PER_30D = (0.45, 0.85, 1.30, 2.00)
PLAN_ORDER_VALUE = (25.0, 45.0, 80.0, 220.0)
PLAN_CHURN_LOGIT = (0.55, 0.15, -0.35, -0.95)
REGIONS = ("NA", "EU", "APAC", "LATAM")
REGION_SHARES = (0.38, 0.30, 0.22, 0.10)
CHANNELS = ("organic", "paid_search", "referral", "partner")
CHANNEL_SHARES = (0.45, 0.30, 0.15, 0.10)
BASE_RETURN_RATE = 0.06


class Scenario(StrEnum):
    # Lower-case names: Dagster's config (the Launchpad) spells enums by name.
    clean = "clean"
    drifted = "drifted"
    corrupted = "corrupted"


@dataclass(frozen=True)
class DriftSpec:
    """The stated, measurable shift of the ``drifted`` scenario (tests measure each one)."""

    order_value_factor: float = 1.30  # mean order amount x1.30
    order_rate_factor: float = 0.70  # orders per customer x0.70
    apac_share: float = 0.40  # share of customers in APAC: 0.22 -> 0.40
    return_rate_factor: float = 2.0  # share of orders returned x2


@dataclass(frozen=True)
class CorruptionSpec:
    """The defects injected by the ``corrupted`` scenario, as shares of rows."""

    null_region_share: float = 0.03  # customers.region -> NULL
    null_plan_share: float = 0.02  # customers.plan -> NULL
    future_signup_share: float = 0.01  # customers.signup_date after AS_OF (out of range)
    duplicate_customer_share: float = 0.02  # extra rows re-using an existing customer_id
    negative_amount_share: float = 0.01  # orders.amount < 0 (out of range)
    null_amount_share: float = 0.02  # orders.amount -> NULL
    duplicate_order_share: float = 0.01  # extra rows re-using an existing order_id
    renamed_column: tuple[str, str] = ("amount", "order_total")  # orders column renamed


DRIFT = DriftSpec()
CORRUPTION = CorruptionSpec()


class RawData(NamedTuple):
    customers: pd.DataFrame
    orders: pd.DataFrame


def generate(*, seed: int = 7, size: int = 5_000, scenario: Scenario | str = Scenario.clean) -> RawData:
    """Customers and their orders for one synthetic world. ``size`` is the number of customers."""
    scenario = Scenario(scenario)
    if size < 50:
        raise ValueError(f"size must be at least 50 customers to train and evaluate a model; got {size}")
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    drift = DRIFT if scenario is Scenario.drifted else None
    customers, engagement = _customers(streams[:4], size, drift)
    orders = _orders(streams[4:7], customers, engagement, drift)
    if scenario is Scenario.corrupted:
        customers, orders = _corrupt(streams[7], customers, orders)
    return RawData(customers=customers, orders=orders)


def _customers(
    rng: list[np.random.Generator], n: int, drift: DriftSpec | None
) -> tuple[pd.DataFrame, np.ndarray]:
    as_of = pd.Timestamp(AS_OF)
    # A growing business: more recent signups than old ones.
    tenure_days = np.maximum(1, (rng[0].beta(1.2, 1.6, n) * SIGNUP_HISTORY_DAYS).astype(np.int64))
    plan_idx = rng[1].choice(len(PLANS), size=n, p=PLAN_SHARES)
    region_shares = np.array(REGION_SHARES)
    if drift is not None:
        apac = REGIONS.index("APAC")
        others = np.arange(len(REGIONS)) != apac
        region_shares[others] *= (1 - drift.apac_share) / region_shares[others].sum()
        region_shares[apac] = drift.apac_share
    region_idx = rng[2].choice(len(REGIONS), size=n, p=region_shares)
    channel_idx = rng[2].choice(len(CHANNELS), size=n, p=CHANNEL_SHARES)
    # Latent engagement drives ordering behaviour and, with plan and tenure, churn.
    engagement = rng[3].standard_normal(n)
    logit = (
        -1.05
        - 1.5 * engagement
        + np.asarray(PLAN_CHURN_LOGIT)[plan_idx]
        - 0.25 * np.log1p(tenure_days / 90.0)
    )
    churned = rng[3].random(n) < 1.0 / (1.0 + np.exp(-logit))
    customers = pd.DataFrame(
        {
            "customer_id": np.arange(100_001, 100_001 + n, dtype=np.int64),
            "signup_date": as_of - pd.to_timedelta(tenure_days, unit="D"),
            "plan": np.asarray(PLANS, dtype=object)[plan_idx],
            "region": np.asarray(REGIONS, dtype=object)[region_idx],
            "acquisition_channel": np.asarray(CHANNELS, dtype=object)[channel_idx],
            "churned": churned,
        }
    )
    return customers, engagement


def _orders(
    rng: list[np.random.Generator], customers: pd.DataFrame, engagement: np.ndarray, drift: DriftSpec | None
) -> pd.DataFrame:
    as_of = pd.Timestamp(AS_OF)
    plan_idx = customers["plan"].map({p: i for i, p in enumerate(PLANS)}).to_numpy()
    tenure_days = (as_of - customers["signup_date"]).dt.days.to_numpy()
    window = np.minimum(tenure_days, ORDER_WINDOW_DAYS)
    rate = np.asarray(PLAN_ORDERS_PER_30D)[plan_idx] * np.exp(0.55 * engagement)
    if drift is not None:
        rate = rate * drift.order_rate_factor
    counts = rng[0].poisson(rate * window / 30.0)
    owner = np.repeat(np.arange(len(customers)), counts)
    # Engaged customers order recently; disengaged ones taper off (Beta(a, 1) puts mass near 1 for a > 1).
    position = rng[0].beta(np.exp(0.9 * engagement[owner]), 1.0)
    days_ago = np.floor((1.0 - position) * window[owner]).astype(np.int64)
    value = np.asarray(PLAN_ORDER_VALUE)[plan_idx[owner]] * np.exp(0.12 * engagement[owner])
    amount = rng[1].lognormal(mean=np.log(value) - 0.125, sigma=0.5)  # E[lognormal] = value
    if drift is not None:
        amount = amount * drift.order_value_factor
    return_rate = np.clip(BASE_RETURN_RATE * np.exp(-0.35 * engagement[owner]), 0.0, 0.5)
    if drift is not None:
        return_rate = return_rate * drift.return_rate_factor
    returned = rng[2].random(len(owner)) < return_rate
    quantity = 1 + rng[2].poisson(0.8, len(owner))
    orders = pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy()[owner],
            "order_date": as_of - pd.to_timedelta(days_ago, unit="D"),
            "amount": np.round(amount, 2),
            "quantity": quantity.astype(np.int64),
            "returned": returned,
        }
    )
    orders = orders.sort_values(["order_date", "customer_id"], kind="stable").reset_index(drop=True)
    orders.insert(0, "order_id", np.arange(1, len(orders) + 1, dtype=np.int64))
    return orders


def _pick(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    return rng.choice(n, size=max(1, round(n * share)), replace=False)


def _corrupt(
    rng: np.random.Generator, customers: pd.DataFrame, orders: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    spec = CORRUPTION
    customers = customers.copy()
    n = len(customers)
    customers.loc[_pick(rng, n, spec.null_region_share), "region"] = None
    customers.loc[_pick(rng, n, spec.null_plan_share), "plan"] = None
    future = _pick(rng, n, spec.future_signup_share)
    customers.loc[future, "signup_date"] = pd.Timestamp(AS_OF) + pd.Timedelta(days=400)
    dupes = customers.iloc[_pick(rng, n, spec.duplicate_customer_share)].copy()
    dupes["plan"] = "enterprise"
    customers = pd.concat([customers, dupes], ignore_index=True)

    orders = orders.copy()
    m = len(orders)
    orders.loc[_pick(rng, m, spec.negative_amount_share), "amount"] *= -1
    orders.loc[_pick(rng, m, spec.null_amount_share), "amount"] = np.nan
    orders = pd.concat([orders, orders.iloc[_pick(rng, m, spec.duplicate_order_share)]], ignore_index=True)
    old, new = spec.renamed_column
    orders = orders.rename(columns={old: new})
    return customers, orders
