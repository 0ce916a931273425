"""Grounding of LLM-written numbers against the KPI table they were given."""

import pandas as pd
import pytest

from reliability_assets.checks.llm_output import ungrounded_numbers

KPIS = pd.DataFrame(
    {
        "segment": ["all", "loyal"],
        "customers": [5000, 927],
        "active_customers": [3794, 927],
        "revenue_365d": [3901063.71, 626446.2],
        "high_risk_share": [0.15523, 0.0],
    }
)


@pytest.mark.parametrize(
    ("text", "ungrounded"),
    [
        ("Revenue was $3,901,064 over 12 months.", []),  # rounded to the dollar; 12 is a stated window
        ("Revenue was $3.9M, loyal customers brought $626k.", []),  # abbreviated, rounded
        ("Revenue was $4.1M.", ["$4.1M"]),  # not 3901063.71 at that precision
        ("15.5% of customers are at high risk.", []),  # a share printed as a percentage
        ("15.6% of customers are at high risk.", ["15.6%"]),  # off by more than the rounding
        ("3,794 of 5,000 customers (75.9%) were active.", []),  # a ratio of two columns of one row
        ("Loyal customers: 927, all active (100.0%).", []),
        ("As of 2026-06-30 revenue grew 42%.", ["42%"]),  # dates are not figures; 42 is invented
    ],
)
def test_numbers_are_grounded_within_rounding(text: str, ungrounded: list[str]) -> None:
    assert ungrounded_numbers(text, KPIS)[0] == ungrounded
