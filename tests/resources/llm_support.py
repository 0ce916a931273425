"""Shared by the ResilientLLM tests: the tiers, the schema, the request and the LLM they build."""

from __future__ import annotations

from pydantic import BaseModel, Field

from reliability_assets.resources.llm import LLMEndpoint, ResilientLLM
from reliability_assets.testing.fake_openai import FakeOpenAI

PRIMARY, SECONDARY, LOCAL = "gpt-4o-mini", "gpt-4o", "llama3"


class Insight(BaseModel):
    text: str
    kpi: str


class Brief(BaseModel):
    headline: str
    insights: list[Insight] = Field(min_length=3, max_length=5)


GOOD = Brief(
    headline="Revenue up", insights=[Insight(text=f"point {i}", kpi="revenue_365d") for i in range(3)]
)
MESSAGES = [{"role": "system", "content": "Summarize."}, {"role": "user", "content": "KPIs: revenue 10"}]


def make_llm(server: FakeOpenAI, tmp_path, **options) -> ResilientLLM:
    endpoint = {"base_url": server.base_url, "api_key": "sk-test-secret", "timeout_s": 2.0}
    endpoints = [
        LLMEndpoint(
            name="primary",
            model=PRIMARY,
            context_window=4_000,
            input_price_per_1k=0.15,
            output_price_per_1k=0.6,
            **endpoint,
        ),
        LLMEndpoint(name="secondary", model=SECONDARY, context_window=128_000, **endpoint),
        LLMEndpoint(
            name="local", model=LOCAL, base_url=server.base_url, json_schema=False, require_api_key=False
        ),
    ]
    defaults = {
        "deadline_s": 20.0,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.2,
        "store_url": f"sqlite:///{tmp_path / 'store.sqlite'}",
    }
    return ResilientLLM(endpoints=options.pop("endpoints", endpoints), **{**defaults, **options})


def ask(llm: ResilientLLM, **options):
    return llm.generate(MESSAGES, schema=Brief, source="test", **options)
