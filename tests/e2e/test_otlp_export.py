"""Traces leave the process over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set: a real receiver on
127.0.0.1 decodes what a Dagster run in a subprocess exports, in-process and with the multiprocess executor
(steps in forkserver children that exit through os._exit: their spans must be flushed before)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.support import REPO

KEY = "sk-test-SECRET123"
PROMPT = "PROMPT-TEXT-4410 churn rose"

RUN = (
    textwrap.dedent(
        '''
    """Two assets that ask the fake provider, materialized in-process and then in step processes."""
    import json
    import os

    from dagster import (
        DagsterInstance, Definitions, asset, define_asset_job, execute_job, materialize,
        multiprocess_executor, reconstructable,
    )
    from pydantic import BaseModel

    from reliability_assets.resources.llm import LLMEndpoint, ResilientLLM

    MODEL = "gpt-4o-mini"
    MESSAGES = [{"role": "user", "content": "PROMPT_TEXT"}]


    class Answer(BaseModel):
        text: str


    @asset
    def summary(llm: ResilientLLM) -> str:
        return llm.generate(MESSAGES, schema=Answer, source="summary").tier


    @asset
    def headline(summary: str, llm: ResilientLLM) -> str:
        return llm.generate(MESSAGES, schema=Answer, source="headline").tier


    def resources() -> dict:
        endpoint = LLMEndpoint(
            name="primary", model=MODEL, base_url=os.environ["FAKE_OPENAI_URL"], api_key="API_KEY"
        )
        llm = ResilientLLM(
            endpoints=[endpoint], backoff_initial_s=0.05, store_url=os.environ["STORE_URL"]
        )
        return {"llm": llm}


    def traced_job():
        job = define_asset_job("traced", executor_def=multiprocess_executor)
        defs = Definitions(assets=[summary, headline], jobs=[job], resources=resources())
        return defs.resolve_job_def("traced")


    if __name__ == "__main__":
        from reliability_assets.testing.fake_openai import FakeOpenAI, Fault

        with FakeOpenAI() as server:
            server.set_responder(MODEL, lambda body: Answer(text="ok").model_dump_json())
            os.environ["FAKE_OPENAI_URL"] = server.base_url
            server.script(MODEL, Fault.status(503))
            in_process = materialize([summary, headline], resources=resources())
            server.script(MODEL, Fault.status(503))
            forkserver = {"execution": {"config": {"start_method": {"forkserver": {}}}}}
            with DagsterInstance.get() as instance:  # DAGSTER_HOME: the test's tmp_path
                steps = execute_job(reconstructable(traced_job), instance, run_config=forkserver)
                assert steps.success
        print(json.dumps({"in_process": in_process.run_id, "multiprocess": steps.run_id}))
    '''
    )
    .replace("PROMPT_TEXT", PROMPT)
    .replace("API_KEY", KEY)
)


class Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver: every span of every POST /v1/traces, decoded, and the raw bodies."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.bodies: list[bytes] = []
        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path != "/v1/traces" or self.headers["Content-Type"] != "application/x-protobuf":
            self.send_response(404)
            self.end_headers()
            return
        request = ExportTraceServiceRequest.FromString(body)
        decoded = []
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    decoded.append(
                        {
                            "name": span.name,
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "attributes": {a.key: _value(a.value) for a in span.attributes},
                            "resource": resource,
                        }
                    )
        with self.server.lock:
            self.server.bodies.append(body)
            self.server.spans.extend(decoded)
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_run_in_a_subprocess_exports_its_spans_over_otlp(receiver: Receiver, tmp_path: Path) -> None:
    script = tmp_path / "traced_run.py"
    script.write_text(RUN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_SERVICE_NAME="otlp-e2e",
        STORE_URL=f"sqlite:///{tmp_path / 'store.sqlite'}",
        DAGSTER_HOME=str(tmp_path),
        PYTHONPATH=str(REPO),
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = json.loads(done.stdout.strip().splitlines()[-1])

    with receiver.lock:
        spans, bodies = list(receiver.spans), list(receiver.bodies)
    for executor, run_id in runs.items():
        mine = [s for s in spans if s["attributes"].get("dagster.run_id") == run_id]
        by_name: dict[str, list[dict[str, Any]]] = {}
        for span in mine:
            by_name.setdefault(span["name"], []).append(span)
        for key in ("summary", "headline"):  # one materialization span per asset, and its calls under it
            [materialization] = by_name[f"materialize {key}"]
            [call] = [
                s for s in by_name["reliability.llm.generate"] if s["attributes"]["dagster.asset_key"] == key
            ]
            assert call["parent"] == materialization["span_id"], executor
        attempts = by_name["chat gpt-4o-mini"]
        assert {a["attributes"]["dagster.asset_key"] for a in attempts} == {"summary", "headline"}
        assert [a["attributes"]["error.type"] for a in attempts if "error.type" in a["attributes"]] == ["503"]
        assert all(s["trace_id"] == uuid.UUID(run_id).hex for s in mine), executor  # trace id = run id
        assert all(s["resource"]["service.name"] == "otlp-e2e" for s in mine)
    assert not any(KEY.encode() in body or PROMPT.encode() in body for body in bodies)


def test_a_collector_that_never_answers_holds_a_process_at_most_the_export_timeout(tmp_path: Path) -> None:
    """A step process exits through tracing.shutdown(): with the collector hanging it waits for the export
    at most EXPORT_TIMEOUT_S (not the SDK's 10 s), and a resource's teardown does not wait at all."""
    import socket

    from reliability_assets.resources.tracing import EXPORT_TIMEOUT_S

    with socket.socket() as hanging:  # accepts connections (the backlog) and never answers
        hanging.bind(("127.0.0.1", 0))
        hanging.listen(8)
        code = textwrap.dedent(
            """
            import time
            from reliability_assets.resources import tracing

            with tracing.span("one", {"n": 1}):
                pass
            started = time.monotonic(); tracing.finish(); teardown = time.monotonic() - started
            started = time.monotonic(); tracing.shutdown(); exit_s = time.monotonic() - started
            print(teardown, exit_s)
            """
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{hanging.getsockname()[1]}"
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 0, done.stderr[-2000:]
    teardown, exit_s = map(float, done.stdout.split())
    assert teardown < 0.1
    assert exit_s < EXPORT_TIMEOUT_S + 1.5
