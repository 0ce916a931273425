"""Fault injection always shows (issue 14): the result's ``llm/chaos`` says what was asked for and what it
did, also when the targeted tier is not configured and there is nothing to fail. Through the public
``ResilientLLM.generate``; configured tiers are served by the fake OpenAI server over real HTTP."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from reliability_assets.resources.llm import LLMEndpoint, ResilientLLM
from reliability_assets.testing.fake_openai import FakeOpenAI, stub_answer

MESSAGES = [{"role": "user", "content": "Say something."}]


class Answer(BaseModel):
    text: str


TEMPLATE = Answer(text="template")


def ask(llm: ResilientLLM, chaos: str | None = None):
    return llm.generate(MESSAGES, schema=Answer, source="test", deterministic=lambda: TEMPLATE, chaos=chaos)


@pytest.fixture
def offline(tmp_path, monkeypatch: pytest.MonkeyPatch) -> ResilientLLM:
    """The reference LLM with no variable set: every OpenAI tier skipped, as on a laptop with no key."""
    from reliability_assets.reference.settings import reference_llm

    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "RELIABILITY_CHAOS", "RELIABILITY_LLM_LOCAL_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RELIABILITY_STORE_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")
    return reference_llm()


@pytest.fixture
def server():
    with FakeOpenAI(default_responder=stub_answer) as fake:
        yield fake


def test_offline_primary_down_is_recorded_with_nothing_to_fail(offline: ResilientLLM) -> None:
    clean, chaos = ask(offline), ask(offline, chaos="llm_primary_down")
    assert clean.tier == chaos.tier == "deterministic"
    assert clean.metadata()["llm/chaos"] == "off"
    assert (
        chaos.metadata()["llm/chaos"] == "llm_primary_down requested; primary not configured: nothing to fail"
    )
    event = next(e for e in chaos.events if e["event"] == "chaos")
    assert event["requested"] == "llm_primary_down" and event["targets"] == []


def test_offline_every_tier_down_is_recorded_too(offline: ResilientLLM) -> None:
    result = ask(offline, chaos="llm_down")
    assert result.metadata()["llm/chaos"] == "llm_down requested; no tier configured: nothing to fail"


def test_the_resource_field_asks_for_chaos_when_the_call_does_not(offline: ResilientLLM) -> None:
    """``RELIABILITY_CHAOS`` sets the field; a run tag (the ``chaos`` argument) overrides it."""
    llm = offline.model_copy(update={"chaos": "llm_down"})
    assert ask(llm).metadata()["llm/chaos"].startswith("llm_down requested")
    assert ask(llm, chaos="llm_primary_down").metadata()["llm/chaos"].startswith("llm_primary_down")


def test_a_data_api_fault_leaves_the_llm_alone_and_says_so(offline: ResilientLLM) -> None:
    """The one ``reliability/chaos`` tag carries data API faults too: the summary passes them on."""
    assert ask(offline, chaos="api_down").metadata()["llm/chaos"] == "off (api_down is a data API fault)"


def test_an_unknown_mode_is_refused_not_ignored(offline: ResilientLLM) -> None:
    with pytest.raises(ValueError, match="not a fault-injection mode"):
        ask(offline, chaos="llm_primary_dwn")


def test_a_configured_tier_stands_in_for_a_missing_primary(server: FakeOpenAI, tmp_path) -> None:
    """Primary without a key, a keyless local server configured: the local tier is failed on purpose."""
    llm = ResilientLLM(
        endpoints=[
            LLMEndpoint(name="primary", model="p", base_url=server.base_url, api_key=None),
            LLMEndpoint(name="local", model="l", base_url=server.base_url, require_api_key=False),
        ],
        store_url=f"sqlite:///{tmp_path / 'store.sqlite'}",
        backoff_initial_s=0.01,
        backoff_max_s=0.02,
    )
    clean = ask(llm)
    assert clean.tier == "local" and clean.metadata()["llm/chaos"] == "off"
    result = ask(llm, chaos="llm_primary_down")
    assert result.tier == "cache" and len(server.requests_for("l")) == 1  # the clean call's answer
    assert result.metadata()["llm/chaos"] == (
        "llm_primary_down requested; injected: local refused connections; "
        "primary not configured, so the first configured tier stood in"
    )


def test_a_request_that_ends_before_any_tier_says_chaos_was_not_injected(
    server: FakeOpenAI, tmp_path
) -> None:
    """The store is down: no provider is called, so the fault was never injected, and the result says so."""
    llm = ResilientLLM(
        endpoints=[LLMEndpoint(name="primary", model="p", base_url=server.base_url, api_key="k")],
        store_url=f"sqlite:///{tmp_path / 'missing' / 'deeper' / 'store.sqlite'}",
    )
    (tmp_path / "missing").write_text("a file where the store's folder should be")
    result = ask(llm, chaos="llm_primary_down")
    assert result.tier == "deterministic" and result.store_unavailable
    assert result.metadata()["llm/chaos"].startswith(
        "llm_primary_down requested; not injected: primary: not sent"
    )
    assert server.requests == []
