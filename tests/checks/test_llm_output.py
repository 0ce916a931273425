"""Grounding of LLM-written numbers against the KPI table they were given."""

import pandas as pd
import pytest
from pydantic import BaseModel

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


class Verdict(BaseModel):
    label: str
    score: float


def test_structured_output_requests_a_strict_json_schema_through_the_sdk() -> None:
    """The request body a json_schema tier sends (built with openai's public ``openai.lib`` helper)."""
    import openai

    from reliability_assets.resources.llm_request import send
    from reliability_assets.testing.fake_openai import FakeOpenAI

    messages = [{"role": "user", "content": "Judge."}]
    with FakeOpenAI() as server:
        server.set_responder("m", lambda body: Verdict(label="ok", score=0.5).model_dump_json())
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        for json_schema in (True, False):
            reply = send(client, 5.0, model="m", json_schema=json_schema, messages=messages, schema=Verdict,
                         max_tokens=50)  # fmt: skip
            assert reply.value[0] == Verdict(label="ok", score=0.5)
        strict, plain = (r.body for r in server.requests_for("m"))
    assert "response_format" not in plain
    assert strict["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "Verdict",
            "strict": True,
            "schema": {
                "type": "object",
                "title": "Verdict",
                "properties": {
                    "label": {"title": "Label", "type": "string"},
                    "score": {"title": "Score", "type": "number"},
                },
                "required": ["label", "score"],
                "additionalProperties": False,
            },
        },
    }
