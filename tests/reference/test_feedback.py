"""The feedback pipeline: free-text feedback labelled by the tiered LLM in one batch (``feedback_topics``),
its gates, and the topic shares the KPIs and the summary carry. Offline through the session's reference
runs; with a model through the real fake OpenAI server, whose primary answers the generator's truth."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from dagster import ExecuteInProcessResult, instance_for_test, materialize

from reliability_assets.reference.analytics.feedback import MAX_TEXT_CHARS, feedback_topics
from reliability_assets.reference.analytics.feedback_checks import (
    REFERENCE_MIX,
    TIER_FLOORS,
    feedback_tier_quality,
    reference_mix,
)
from reliability_assets.reference.analytics.feedback_generator import (
    FEEDBACK_CORRUPTION,
    FEEDBACK_DRIFT,
    TOPICS,
    UNCLASSIFIED,
    generate_feedback,
    keyword_label,
)
from reliability_assets.reference.analytics.generator import generate
from reliability_assets.reference.analytics.sources import customers
from reliability_assets.reference.policy import CHAOS_TAG
from reliability_assets.resources.llm import LLMEndpoint, ResilientLLM
from reliability_assets.resources.store import ReliabilityStore, quarantined
from reliability_assets.testing.fake_openai import FakeOpenAI
from tests.resources.llm_support import PRIMARY, SECONDARY
from tests.support import check_results, materialized, reference_resources

ROWS = 100  # what the reference labels for its default 5,000 customers
FAKE_ROWS = 60  # what the runs against the fake server label (each request costs a CI second or so)


def _feedback(scenario: str, rows: int = ROWS) -> pd.DataFrame:
    """The texts the reference labels: its customers (corrupted ones too) as the source serves them."""
    world = generate(seed=7, size=5_000, scenario=scenario)
    return generate_feedback(world.customers, rows=rows, seed=7, scenario=scenario)


def _keyword_accuracy(feedback: pd.DataFrame) -> float:
    labels = [keyword_label(text).topic for text in feedback["text"]]
    return float((pd.Series(labels, index=feedback.index) == feedback["true_topic"]).mean())


def test_the_generator_is_deterministic_and_each_scenario_does_what_it_states() -> None:
    clean = _feedback("clean")
    pd.testing.assert_frame_equal(clean, _feedback("clean"))
    assert len(clean) == ROWS and clean["customer_id"].is_unique
    assert set(clean["true_topic"]) == set(TOPICS)
    # The keyword rules are decent, not perfect, on clean text: accuracy per tier differs.
    assert 0.75 <= _keyword_accuracy(clean) <= 0.92
    drifted = _feedback("drifted")
    assert abs((drifted["true_topic"] == FEEDBACK_DRIFT.topic).mean() - FEEDBACK_DRIFT.share) < 0.08
    assert _keyword_accuracy(drifted) < TIER_FLOORS["deterministic"] - 0.1  # new words, old rules
    kinds = _feedback("corrupted")["kind"].value_counts()
    spec = FEEDBACK_CORRUPTION
    for kind, share in (("empty", spec.empty_share), ("injection", spec.injection_share)):
        assert kinds[kind] == round(ROWS * share), kind
    assert _feedback("corrupted")["text"].str.len().max() == spec.huge_chars


def test_the_pinned_reference_mix_is_what_the_generator_draws() -> None:
    assert reference_mix() == REFERENCE_MIX


def test_offline_the_keyword_rules_label_every_row_and_every_gate_passes(reference_runs) -> None:
    result, _ = reference_runs["clean"]
    meta = materialized(result)["feedback_topics"].metadata
    assert json.loads(meta["llm/batch/per_tier"].value) == {"deterministic": ROWS}
    assert meta["served"].value.startswith("no model configured: the keyword rules labelled every row")
    accuracy = meta["llm/quality_per_tier"].value["deterministic"]
    assert accuracy["rows"] == accuracy["labelled"] == ROWS  # the generator knows every truth
    assert TIER_FLOORS["deterministic"] < accuracy["accuracy"] < 0.95
    assert meta["llm/batch/checkpoint"].value == f"feedback_topics:{result.run_id}"
    checks = check_results(result)
    for name in ("deferred_share", "degraded_share", "label_drift", "tier_quality"):
        assert checks[f"feedback_topics:{name}"].passed, name
    kpis = result.output_for_node("executive_kpis")
    assert {"negative_feedback_share", "top_complaint", "top_complaint_share"} <= set(kpis.columns)
    assert kpis["feedback_rows"].iloc[-1] == ROWS and set(kpis["top_complaint"]) <= set(TOPICS)
    assert checks["executive_kpis:reconciles"].passed
    summary = result.output_for_node("executive_summary")
    assert "the top complaint there is" in summary and "| top complaint |" in summary
    assert checks["executive_summary:grounded"].passed  # its shares are KPI figures


def test_drifted_feedback_fails_label_drift_and_the_rules_fall_below_their_floor(reference_runs) -> None:
    checks = check_results(reference_runs["drifted"][0])
    drift = checks["feedback_topics:label_drift"]
    assert not drift.passed and drift.severity.value == "ERROR"
    assert "most moved: delivery" in drift.description and drift.metadata["psi"].value > 0.2
    # No model configured: the keyword rules serve every row, and they do not know the new words.
    quality = checks["feedback_topics:tier_quality"]
    assert not quality.passed and quality.metadata["below_floor"].value == ["deterministic"]
    assert "deterministic" in quality.description and "< 70%" in quality.description


def _truthful(scenario: str) -> dict[str, str]:
    """What the fake primary answers per text sent: the generator's truth (a model that reads well)."""
    feedback = _feedback(scenario, FAKE_ROWS)
    return {
        text[:MAX_TEXT_CHARS]: json.dumps({"topic": topic, "sentiment": sentiment, "confidence": 0.9})
        for text, topic, sentiment in feedback[["text", "true_topic", "true_sentiment"]].itertuples(
            index=False
        )
    }


def _sent_text(body: dict) -> str:
    """The feedback text inside a request (a re-ask appends messages after it)."""
    content = next(m["content"] for m in body["messages"] if "<<<\n" in m["content"])
    return content.split("<<<\n", 1)[1].rsplit("\n>>>", 1)[0]


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def _llm(server: FakeOpenAI, home: Path) -> ResilientLLM:
    """Primary and secondary on the fake, both answering the truth; timeouts a loaded CI machine meets."""
    endpoint = {"base_url": server.base_url, "api_key": "sk-test", "timeout_s": 15.0}
    return ResilientLLM(
        endpoints=[
            LLMEndpoint(name="primary", model=PRIMARY, **endpoint),
            LLMEndpoint(name="secondary", model=SECONDARY, **endpoint),
        ],
        store_url=f"sqlite:///{home / 'store.sqlite'}",
        backoff_initial_s=0.05,
        backoff_max_s=0.1,
    )


def _run(server: FakeOpenAI, scenario: str, home: Path, **tags: str) -> ExecuteInProcessResult:
    answers = _truthful(scenario)
    for model in (PRIMARY, SECONDARY):
        server.set_responder(model, lambda body: answers[_sent_text(body)])
    with instance_for_test() as instance:
        return materialize(
            [customers, feedback_topics, feedback_tier_quality],
            resources=reference_resources(scenario, home, llm=_llm(server, home)),
            instance=instance,
            raise_on_error=False,
            tags=tags,
            run_config={"ops": {"feedback_topics": {"config": {"rows": FAKE_ROWS}}}},
        )


def test_poisoned_rows_become_dead_letters_and_the_asset_still_materializes(
    server: FakeOpenAI, tmp_path: Path
) -> None:
    result = _run(server, "corrupted", tmp_path)
    assert result.success
    frame = result.output_for_node("feedback_topics")
    feedback = _feedback("corrupted", FAKE_ROWS).set_index("customer_id").loc[frame["customer_id"]]
    assert len(frame) == FAKE_ROWS  # nothing dropped
    injected = frame[(feedback["kind"] == "injection").to_numpy()]
    assert len(injected) == round(FAKE_ROWS * FEEDBACK_CORRUPTION.injection_share)
    assert injected["deferred"].all() and (injected["topic"] == UNCLASSIFIED).all()
    store = ReliabilityStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
    letters = [e for e in store.dead_letters(limit=1000) if e["source"] == "feedback_topics"]
    assert len(letters) == len(injected)
    assert all("prompt injection" in e["reason"] for e in letters)
    # Screened out before any provider saw them: no injection text reached the server.
    sent = [_sent_text(r.body) for r in server.requests]
    assert not any("instructions" in text.lower() for text in sent)
    empty = frame[(feedback["kind"] == "empty").to_numpy()]
    assert empty["quarantined"].all() and (empty["tier"] == "quarantined").all()
    assert len(quarantined(store, "feedback_topics")) >= 1  # identical empty texts are stored once
    huge = frame[(feedback["kind"] == "huge").to_numpy()]
    assert huge["truncated"].all() and max(len(t) for t in sent) <= MAX_TEXT_CHARS
    meta = materialized(result)["feedback_topics"].metadata
    assert meta["feedback/quarantined"].value == len(empty)
    assert meta["llm/batch/deferred"].value == len(injected)
    per_tier = json.loads(meta["llm/batch/per_tier"].value)
    assert set(per_tier) <= {"primary", "secondary"}  # a model labelled every text sent
    assert sum(per_tier.values()) == FAKE_ROWS - len(empty) - len(injected)
    checks = check_results(result)
    assert checks["feedback_topics:deferred_share"].passed  # 2 of 58: below the 10% gate
    assert checks["feedback_topics:tier_quality"].passed


def test_tier_quality_fails_when_the_rules_serve_drifted_text_and_passes_when_the_model_does(
    server: FakeOpenAI, tmp_path: Path
) -> None:
    served = _run(server, "drifted", tmp_path / "model")
    quality = check_results(served)["feedback_topics:tier_quality"]
    assert quality.passed and "at or above: primary" in quality.description
    accuracy = materialized(served)["feedback_topics"].metadata["llm/quality_per_tier"].value
    assert accuracy["primary"]["accuracy"] == 1.0 and "deterministic" not in accuracy
    assert check_results(served)["feedback_topics:degraded_share"].passed

    down = _run(server, "drifted", tmp_path / "down", **{CHAOS_TAG: "llm_down"})
    assert down.success  # a non-blocking ERROR: the data still ships, and the check says why
    meta = materialized(down)["feedback_topics"].metadata
    assert json.loads(meta["llm/batch/per_tier"].value) == {"deterministic": FAKE_ROWS}
    checks = check_results(down)
    quality = checks["feedback_topics:tier_quality"]
    assert not quality.passed and quality.metadata["below_floor"].value == ["deterministic"]
    degraded = checks["feedback_topics:degraded_share"]
    assert not degraded.passed and degraded.severity.value == "WARN"
