"""OpenTelemetry traces (resources/tracing.py): the spans of LLM calls, attempts and API pulls, recorded
into an in-memory exporter, with the GenAI attributes, the Dagster run and asset, and no secret or prompt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from dagster import asset, materialize
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from reliability_assets.reference.analytics.raw_sources import CustomerRecord
from reliability_assets.reference.data_api import DataAPI
from reliability_assets.resources import tracing
from reliability_assets.resources.api import ResilientAPI
from reliability_assets.resources.llm import LLMEndpoint, ResilientLLM
from reliability_assets.resources.redaction import MASK
from reliability_assets.testing.fake_openai import Fault
from tests.resources.llm_support import PRIMARY, SECONDARY, Brief, make_llm
from tests.support import REPO

KEY = "sk-test-SECRET123"
PROMPT = "PROMPT-TEXT-7731: revenue grew in the north"
MESSAGES = [{"role": "system", "content": "Summarize."}, {"role": "user", "content": f"{PROMPT}; key {KEY}"}]


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    with tracing.exporting_to(exporter):
        yield exporter


def llm_with_key(server, tmp_path, **options) -> ResilientLLM:
    common = {"base_url": server.base_url, "api_key": KEY, "timeout_s": 2.0}
    endpoints = [
        LLMEndpoint(
            name="primary", model=PRIMARY, input_price_per_1k=0.15, output_price_per_1k=0.6, **common
        ),
        LLMEndpoint(name="secondary", model=SECONDARY, **common),
    ]
    return make_llm(server, tmp_path, endpoints=endpoints, **options)


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


def every_value(exporter: InMemorySpanExporter) -> str:
    """All that the spans carry as text: names, attribute keys and values, status, events, resource."""
    parts = []
    for s in exporter.get_finished_spans():
        parts += [s.name, json.dumps(dict(s.attributes or {}), default=str), str(s.status.description)]
        parts += [json.dumps(dict(e.attributes or {}), default=str) for e in s.events]
        parts.append(json.dumps(dict(s.resource.attributes), default=str))
    return "\n".join(parts)


def materialize_summary(llm: ResilientLLM, messages=MESSAGES, **resources):
    @asset
    def executive_summary(llm: ResilientLLM) -> str:
        return llm.generate(messages, schema=Brief, source="summary").tier

    run = materialize([executive_summary], resources={"llm": llm, **resources})
    tracing.finish(run.run_id)  # in this process the step's span ends here (a run worker: at its exit)
    return run


def test_an_llm_call_with_a_retry_follows_the_genai_conventions_inside_its_materialization(
    server, tmp_path, spans
) -> None:
    server.script(PRIMARY, Fault.status(503))  # the first attempt fails, the retry serves
    run = materialize_summary(llm_with_key(server, tmp_path))
    assert run.output_for_node("executive_summary") == "primary"

    [call] = named(spans, "reliability.llm.generate")
    first, second = named(spans, f"chat {PRIMARY}")
    [materialization] = named(spans, "materialize executive_summary")
    assert first.kind is SpanKind.CLIENT and first.parent.span_id == call.context.span_id
    assert call.parent.span_id == materialization.context.span_id and materialization.parent is None
    for attempt in (first, second):
        assert attempt.attributes["gen_ai.operation.name"] == "chat"
        assert attempt.attributes["gen_ai.provider.name"] == "openai"
        assert attempt.attributes["gen_ai.request.model"] == PRIMARY
        assert attempt.attributes["gen_ai.request.max_tokens"] == 800
        assert attempt.attributes["server.address"] == "127.0.0.1"
        assert attempt.attributes["reliability.tier"] == "primary"
        assert attempt.attributes["reliability.breaker.state"] == "closed"
    assert first.attributes["error.type"] == "503" and first.status.status_code is StatusCode.ERROR
    assert (first.attributes["reliability.attempt"], first.attributes["reliability.decision"]) == (1, "retry")
    assert "error.type" not in second.attributes and second.attributes["reliability.decision"] == "ok"
    assert second.attributes["reliability.waited_s"] > 0  # the backoff before the retry
    assert call.attributes["gen_ai.request.model"] == PRIMARY
    assert call.attributes["gen_ai.usage.input_tokens"] > 0
    assert call.attributes["gen_ai.usage.output_tokens"] > 0
    assert call.attributes["reliability.tier"] == "primary" and call.attributes["reliability.cost_usd"] > 0
    assert (call.attributes["reliability.degraded"], call.attributes["reliability.deferred"]) == (
        False,
        False,
    )
    # An alert names the run and the asset: every span carries both, and the trace id is the run id.
    for span in spans.get_finished_spans():
        assert span.attributes["dagster.run_id"] == run.run_id
        assert span.attributes["dagster.asset_key"] == "executive_summary"
        assert span.context.trace_id == uuid.UUID(run.run_id).int
    assert materialization.end_time >= second.end_time


def test_no_secret_and_no_prompt_text_on_spans_unless_content_capture_is_on(
    server, tmp_path, spans, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The provider echoes the key in its error code: the reason reaches the span, masked.
    server.script(PRIMARY, Fault.status(401, code_=f"invalid_api_key_{KEY}"))
    llm = llm_with_key(server, tmp_path)
    materialize_summary(llm)
    [refused] = [s for s in named(spans, f"chat {PRIMARY}") if s.attributes.get("error.type") == "401"]
    assert MASK in refused.attributes["reliability.reason"]
    text = every_value(spans)
    assert KEY not in text and "SECRET123" not in text
    assert PROMPT not in text and "revenue grew" not in text
    assert "gen_ai.input.messages" not in text

    spans.clear()
    monkeypatch.setenv(tracing.CAPTURE_VAR, "true")
    materialize_summary(llm)
    [call] = named(spans, "reliability.llm.generate")
    captured = json.loads(call.attributes["gen_ai.input.messages"])
    assert captured[1]["role"] == "user" and PROMPT in captured[1]["parts"][0]["content"]
    assert json.loads(call.attributes["gen_ai.output.messages"])[0]["role"] == "assistant"
    assert KEY not in every_value(spans)  # content capture records the prompt, never a secret in it


def test_a_key_of_no_known_shape_is_masked_on_every_span(server, tmp_path, spans) -> None:
    # Not an sk- shape: only the resource's registration of its key (during the call) masks it.
    key = f"azure{uuid.uuid4().hex}"
    endpoint = LLMEndpoint(name="azure", model=PRIMARY, base_url=server.base_url, api_key=key)
    server.set_default(PRIMARY, Fault.status(401, code_=f"invalid_api_key_{key}"))
    llm = make_llm(server, tmp_path, endpoints=[endpoint])
    assert llm.generate(MESSAGES, schema=Brief, source="t").deferred
    [call] = named(spans, "reliability.llm.generate")
    assert "invalid_api_key_" in call.attributes["reliability.reason"]
    assert key not in every_value(spans)


def test_fail_over_a_refusing_breaker_and_defer_each_show_on_the_spans(server, tmp_path, spans) -> None:
    server.set_default(PRIMARY, Fault.status(503))
    llm = llm_with_key(server, tmp_path, minimum_number_of_calls=2, wait_duration_in_open_state_s=60)
    for _ in range(2):  # two failed calls: the primary's breaker opens
        assert llm.generate(MESSAGES, schema=Brief, source="t").tier == "secondary"
    spans.clear()
    server.set_default(SECONDARY, Fault.status(503))
    result = llm.generate(MESSAGES, schema=Brief, source="t", use_cache=False)
    assert result.deferred

    [refused] = named(spans, f"chat {PRIMARY}")  # no request went out: attempt 0 says why
    assert refused.attributes["reliability.attempt"] == 0
    assert refused.attributes["error.type"] == "circuit_open"
    assert refused.attributes["reliability.breaker.state"] == "open"
    tried = named(spans, f"chat {SECONDARY}")
    assert tried and all(s.attributes["error.type"] == "503" for s in tried)
    [call] = named(spans, "reliability.llm.generate")
    assert call.attributes["reliability.deferred"] is True
    assert call.attributes["reliability.tier"] == "human_review"
    assert call.attributes["error.type"] == "deferred" and call.status.status_code is StatusCode.ERROR
    assert "dagster.run_id" not in call.attributes  # outside a run: no run to name


def test_an_api_pull_is_a_span_with_one_span_per_page_and_a_degraded_fallback(tmp_path, spans) -> None:
    def pull(api: ResilientAPI, chaos: str = ""):
        return api.pull("/v1/customers", schema=CustomerRecord, name="customers", chaos=chaos)

    with DataAPI(size=150, slow_s=5.0) as data_api:
        api = ResilientAPI(
            base_url=data_api.base_url,
            store_url=f"sqlite:///{tmp_path / 'store.sqlite'}",
            snapshot_dir=str(tmp_path / "snapshots"),
            page_size=100,
            read_timeout_s=1.0,
            deadline_s=3.0,
            backoff_initial_s=0.05,
            backoff_max_s=0.1,
            max_attempts=2,
        )
        pull(api).commit()
        [live] = named(spans, "reliability.api.pull")
        pages = named(spans, "GET /v1/customers")
        assert len(pages) == 2 and all(p.parent.span_id == live.context.span_id for p in pages)
        assert all(p.kind is SpanKind.CLIENT and p.attributes["server.address"] == "127.0.0.1" for p in pages)
        assert (
            live.attributes["reliability.served_from"] == "api" and live.attributes["reliability.pages"] == 2
        )
        assert (live.attributes["reliability.received"], live.attributes["reliability.degraded"]) == (
            150,
            False,
        )

        spans.clear()
        assert pull(api, chaos="api_down").served_from == "snapshot"
    [fallback] = named(spans, "reliability.api.pull")
    assert fallback.attributes["reliability.degraded"] is True
    assert fallback.attributes["reliability.served_from"] == "snapshot"
    assert "pull of /v1/customers incomplete" in fallback.attributes["reliability.reason"]
    failed = named(spans, "GET /v1/customers")
    assert failed and all(s.attributes["error.type"] == "503" for s in failed)


def test_materialization_spans_the_asset_body_exactly_and_records_its_failure(spans) -> None:
    @asset
    def exact() -> int:
        with tracing.materialization():
            with tracing.span("step one"):
                pass
            return 1

    @asset
    @tracing.materialization()
    def broken(exact: int) -> int:
        raise ValueError(f"{PROMPT} must not reach a span")

    run = materialize([exact, broken], raise_on_error=False)
    [ok] = named(spans, "materialize exact")
    [inner] = named(spans, "step one")
    [failed] = named(spans, "materialize broken")
    assert inner.parent.span_id == ok.context.span_id and ok.attributes["reliability.span_bounds"] == "asset"
    assert ok.attributes["dagster.run_id"] == run.run_id
    assert failed.attributes["error.type"] == "ValueError" and failed.status.status_code is StatusCode.ERROR
    assert PROMPT not in every_value(spans)


def test_off_no_span_is_made_and_no_opentelemetry_module_is_imported(tmp_path) -> None:
    code = f"""
import sys
import reliability_assets.reference.definitions
from reliability_assets.resources import tracing
from reliability_assets.testing.fake_openai import FakeOpenAI
from tests.resources.llm_support import GOOD, PRIMARY, SECONDARY, LOCAL, ask, make_llm
from pathlib import Path

with FakeOpenAI() as server:
    for model in (PRIMARY, SECONDARY, LOCAL):
        server.set_responder(model, lambda body: GOOD.model_dump_json())
    assert ask(make_llm(server, Path({str(tmp_path)!r}))).tier == "primary"
with tracing.span("x") as span:
    assert not span.recording and not tracing.enabled()
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
