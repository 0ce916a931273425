"""The generator is the test bed: it must be deterministic and its scenarios must do what they state."""

import pandas as pd
import pytest

from reliability_assets.reference.analytics.generator import AS_OF, CORRUPTION, DRIFT, generate

SIZE = 5_000


@pytest.mark.parametrize("scenario", ["clean", "drifted", "corrupted"])
def test_same_seed_same_data(scenario: str) -> None:
    first, second = (
        generate(seed=11, size=SIZE, scenario=scenario),
        generate(seed=11, size=SIZE, scenario=scenario),
    )
    pd.testing.assert_frame_equal(first.customers, second.customers)
    pd.testing.assert_frame_equal(first.orders, second.orders)


def test_other_seed_other_data() -> None:
    first, second = generate(seed=1, size=SIZE), generate(seed=2, size=SIZE)
    assert not first.customers["plan"].equals(second.customers["plan"])
    assert len(first.orders) != len(second.orders) or not first.orders["amount"].equals(
        second.orders["amount"]
    )


def test_clean_data_is_realistic() -> None:
    data = generate(seed=7, size=SIZE)
    customers, orders = data.customers, data.orders
    assert customers["customer_id"].is_unique and orders["order_id"].is_unique
    assert set(orders["customer_id"]) <= set(customers["customer_id"])
    assert customers["signup_date"].max() <= pd.Timestamp(AS_OF)
    assert 0.15 < customers["churned"].mean() < 0.40
    assert orders["amount"].min() > 0 and orders["quantity"].min() >= 1
    assert 0.03 < orders["returned"].mean() < 0.10
    # Every plan and region is present; enterprise customers spend more per order than free ones.
    assert customers["plan"].nunique() == 4 and customers["region"].nunique() == 4
    by_plan = orders.merge(customers, on="customer_id").groupby("plan")["amount"].mean()
    assert by_plan["enterprise"] > 4 * by_plan["free"]


def test_drifted_shifts_each_column_by_the_stated_amount() -> None:
    clean, drifted = generate(seed=7, size=SIZE), generate(seed=7, size=SIZE, scenario="drifted")
    amount_ratio = drifted.orders["amount"].mean() / clean.orders["amount"].mean()
    rate_ratio = len(drifted.orders) / len(clean.orders)
    return_ratio = drifted.orders["returned"].mean() / clean.orders["returned"].mean()
    apac_share = (drifted.customers["region"] == "APAC").mean()
    # Tolerances: sampling noise at 5,000 customers / ~48,000 orders (the stated amounts are exact in
    # expectation; the draws differ because the number of orders differs).
    assert amount_ratio == pytest.approx(DRIFT.order_value_factor, rel=0.04)
    assert rate_ratio == pytest.approx(DRIFT.order_rate_factor, rel=0.03)
    assert return_ratio == pytest.approx(DRIFT.return_rate_factor, rel=0.10)
    assert apac_share == pytest.approx(DRIFT.apac_share, abs=0.02)
    assert (clean.customers["region"] == "APAC").mean() == pytest.approx(0.22, abs=0.02)
    # What the drift does not name stays identical: the plan mix and the churn labels.
    assert drifted.customers["plan"].equals(clean.customers["plan"])
    assert drifted.customers["churned"].equals(clean.customers["churned"])


def test_corrupted_injects_every_stated_defect() -> None:
    clean, bad = generate(seed=7, size=SIZE), generate(seed=7, size=SIZE, scenario="corrupted")
    customers, orders = bad.customers, bad.orders
    old, new = CORRUPTION.renamed_column
    assert old not in orders.columns and new in orders.columns
    assert customers["customer_id"].duplicated().sum() == round(SIZE * CORRUPTION.duplicate_customer_share)
    originals = customers.drop_duplicates("customer_id")  # the duplicates are appended after the originals
    assert originals["region"].isna().sum() == round(SIZE * CORRUPTION.null_region_share)
    assert originals["plan"].isna().sum() == round(SIZE * CORRUPTION.null_plan_share)
    assert (originals["signup_date"] > pd.Timestamp(AS_OF)).sum() == round(
        SIZE * CORRUPTION.future_signup_share
    )
    n_orders = len(clean.orders)
    assert orders["order_id"].duplicated().sum() == round(n_orders * CORRUPTION.duplicate_order_share)
    assert (orders[new] < 0).sum() > 0 and orders[new].isna().sum() > 0


def test_too_small_a_world_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="at least 50 customers"):
        generate(size=10)
