"""The shipped fake OpenAI server as users and ``make dev`` run it: a subprocess started with ``python -m``,
answering any request validly, stopped by a signal; and the reference LLM pointed at it by the variables
``offline_llm_env`` gives, through the real openai SDK."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from enum import StrEnum
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from reliability_assets.reference.analytics.summary import ExecutiveBrief
from reliability_assets.testing.fake_openai import (
    PRIMARY_MODEL,
    SECONDARY_MODEL,
    FakeOpenAI,
    Fault,
    offline_llm_env,
    stub_answer,
)

MESSAGES = [{"role": "user", "content": "Summarize the KPIs."}]


def start_server(*options: str) -> tuple[subprocess.Popen[str], str]:
    """``python -m reliability_assets.testing.fake_openai --port 0`` and the base URL it announces."""
    process = subprocess.Popen(
        [sys.executable, "-m", "reliability_assets.testing.fake_openai", "--port", "0", *options],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # printed once the port is bound
    match = re.search(r"base_url=(\S+)", line)
    assert match, f"no base_url announced: {line!r}"
    return process, match.group(1)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    process, base_url = start_server()
    yield base_url
    process.terminate()
    process.wait(timeout=10)


def models_seen(base_url: str) -> list[str]:
    with urllib.request.urlopen(f"{base_url}/models", timeout=5) as response:
        return [m["id"] for m in json.load(response)["data"]]


@pytest.fixture
def offline_reference(server_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch):
    """``reference_llm()`` in an environment with only ``offline_llm_env`` and a store in ``tmp_path``,
    its ``EnvVar`` fields resolved as a run resolves them."""
    from reliability_assets.reference.settings import reference_llm

    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "RELIABILITY_CHAOS", "RELIABILITY_LLM_LOCAL_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in offline_llm_env(server_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RELIABILITY_STORE_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")
    return lambda: reference_llm(deadline_s=30).process_config_and_initialize()


def test_the_reference_primary_tier_answers_from_the_server_with_a_valid_brief(offline_reference) -> None:
    result = offline_reference().generate(MESSAGES, schema=ExecutiveBrief, source="test")
    assert (result.tier, result.degraded, result.deferred) == ("primary", False, False)
    brief = ExecutiveBrief.model_validate(result.output.model_dump())
    assert len(brief.insights) == 3 and len(brief.risks) == 1
    prose = " ".join([brief.headline, *(i.text for i in brief.insights), *brief.risks])
    assert not re.search(r"\d", prose), prose  # the grounding check flags any number not in the data
    assert "local fake primary" in brief.headline  # the answer says which tier wrote it
    assert result.cost_usd == 0.0  # the fake is not priced as gpt-4o-mini
    assert result.metadata()["llm/chaos"] == "off"


def test_primary_down_fails_over_to_the_secondary_tier_of_the_server(
    offline_reference, server_url: str
) -> None:
    before = models_seen(server_url)
    result = offline_reference().generate(
        MESSAGES, schema=ExecutiveBrief, source="test", chaos="llm_primary_down"
    )
    assert (result.tier, result.degraded) == ("secondary", True)
    assert "local fake secondary" in result.output.headline
    meta = result.metadata()
    assert meta["llm/chaos"] == "llm_primary_down requested; injected: primary refused connections"
    assert json.loads(meta["llm/attempts_per_tier"]) == {"primary": 3, "secondary": 1}
    assert SECONDARY_MODEL in models_seen(server_url)
    assert models_seen(server_url).count(PRIMARY_MODEL) == before.count(PRIMARY_MODEL)


def test_every_tier_down_leaves_the_deterministic_tier_and_says_which_were_failed(
    offline_reference,
) -> None:
    from reliability_assets.reference.analytics.summary import Insight

    fallback = ExecutiveBrief(
        headline="template", insights=[Insight(text="t", segment="all", kpi="customers")] * 3, risks=["r"]
    )
    result = offline_reference().generate(
        MESSAGES, schema=ExecutiveBrief, source="test", chaos="llm_down", deterministic=lambda: fallback
    )
    assert result.tier == "deterministic" and result.output == fallback
    assert result.metadata()["llm/chaos"] == (
        "llm_down requested; injected: primary, secondary refused connections"
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_server_stops_on_a_signal(sig: signal.Signals) -> None:
    process, base_url = start_server()
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/health", timeout=5) as response:
        assert json.load(response) == {"status": "ok"}
    started = time.monotonic()
    process.send_signal(sig)
    assert process.wait(timeout=10) == 0
    assert time.monotonic() - started < 5


class Colour(StrEnum):
    red = "red"
    blue = "blue"


class Leaf(BaseModel):
    label: str = Field(min_length=20, max_length=40)
    count: int = Field(ge=3, le=9)
    share: float = Field(gt=0, lt=1)
    colour: Colour
    kind: Literal["a", "b"]
    maybe: str | None
    flag: bool


class Tree(BaseModel):
    leaves: list[Leaf] = Field(min_length=2)
    children: list[Tree]
    note: str


def test_any_json_schema_request_gets_an_instance_that_validates() -> None:
    """The stub honours bounds, enums, literals, nullable and recursive models, as pydantic emits them."""
    from openai.lib import type_to_response_format_param

    body = {"model": "any", "response_format": type_to_response_format_param(Tree)}
    tree = Tree.model_validate_json(stub_answer(body))
    assert len(tree.leaves) == 2 and tree.children == []
    leaf = tree.leaves[0]
    assert (leaf.count, leaf.colour, leaf.kind, leaf.flag) == (3, Colour.red, "a", False)
    assert 0 < leaf.share < 1 and 20 <= len(leaf.label) <= 40


def test_scripted_faults_still_win_over_the_stub_answer() -> None:
    """A server answering any request validly still plays the faults a test scripts for a model."""
    import openai

    with FakeOpenAI(default_responder=stub_answer) as fake:
        fake.script("m", Fault.status(503))
        client = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
        text = client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
        assert text.choices[0].message.content.startswith("Stub answer")


def test_make_dev_labels_feedback_like_a_model_and_stubs_everything_else(tmp_path, monkeypatch) -> None:
    """``make dev`` starts the server with the reference's responder: feedback labels a model would give
    (the keyword rules' misses too), the schema-valid stub for any other request."""
    from reliability_assets.reference.analytics.feedback import TopicLabel, messages
    from reliability_assets.reference.settings import reference_llm

    process, base_url = start_server("--responder", "reliability_assets.reference.offline_model:answer")
    try:
        for name, value in offline_llm_env(base_url).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("RELIABILITY_STORE_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")
        llm = reference_llm(deadline_s=30).process_config_and_initialize()
        texts = {
            "a": "Really disappointed. My package arrived a week late. Please fix this.",
            "b": "Quick note. The autopay thing pulled money twice this month. Thanks.",  # no keyword
            "c": "Le colis n'est jamais arrivé.",
        }
        batch = llm.generate_many({k: messages(t) for k, t in texts.items()}, schema=TopicLabel, source="t")
        labels = {k: (v.topic, v.sentiment) for k, v in batch.outputs.items()}
        assert labels == {
            "a": ("delivery", "negative"),
            "b": ("billing", "neutral"),
            "c": ("delivery", "neutral"),
        }
        assert batch.per_tier == {"primary": 3}
        brief = llm.generate(MESSAGES, schema=ExecutiveBrief, source="t")
        assert brief.tier == "primary" and len(brief.output.insights) == 3
    finally:
        process.terminate()
        process.wait(timeout=10)
