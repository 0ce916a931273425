"""No secret reaches any sink, the way users run it: `dagster dev` with the daemon, runs launched through
GraphQL, a provider and a data API on 127.0.0.1 that echo the configured secrets back everywhere they can
(an error message, an error code, a response header, a refusal, a model answer).

After a failed run (the data API refuses the token, echoing it) and a full materialization (the API's first
answer per page is a 429 echoing the token in its code, message and header; the primary model answers 500s
echoing the key; the secondary refuses once with the key, then answers with the key in its text), nothing
under $DAGSTER_HOME (event logs, compute logs, the store, reports, snapshots, DuckDB, pickles), no CLI
output and no GraphQL run or resource config contains a secret. Run alone with `pytest -m live`.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from dagster import DagsterEventType

from reliability_assets.incidents import IncidentLog
from reliability_assets.reference.data_api import DataAPI
from reliability_assets.resources.store import ReliabilityStore
from reliability_assets.testing.fake_openai import FakeOpenAI, Fault
from reliability_assets.testing.live import LiveDagster, hermetic_env
from tests.support import BIN, REPO

KEY = f"sk-live-{secrets.token_hex(16)}"
TOKEN = f"tok-{secrets.token_hex(12)}"
PRIMARY, SECONDARY = "gpt-4o-mini", "gpt-4o"
#: In one process, and a few feedback texts: every one goes to the secondary (the primary always fails),
#: paced by its tokens-per-minute quota.
IN_PROCESS = {
    "execution": {"config": {"in_process": {}}},
    "ops": {"feedback_topics": {"config": {"rows": 20}}},
}


class EchoingProxy:
    """In front of the real data API: ``refuse`` answers 401 echoing the bearer token; otherwise the first
    request for each path is a 429 that echoes it (code, message, header), later ones are forwarded."""

    def __init__(self, upstream: str) -> None:
        self.upstream, self.refuse, self.seen = upstream, False, set[str]()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                token = self.headers.get("authorization", "").removeprefix("Bearer ")
                path = self.path.split("?", 1)[0]
                if proxy.refuse or path not in proxy.seen:
                    proxy.seen.add(path)
                    status = 401 if proxy.refuse else 429
                    body = {"error": {"code": f"rate_limit_{token}", "message": f"token {token} was refused"}}
                    self._send(status, json.dumps(body).encode(), {"x-echo": token, "retry-after": "0"})
                    return
                answer = httpx.get(proxy.upstream + self.path, timeout=30)
                self._send(answer.status_code, answer.content, {"x-echo": token})

            def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _answer(body: dict[str, Any]) -> str:
    """A valid answer for every schema the pipeline asks for, with the key in its text where it has one
    (a feedback label has no free text: the batch is served, and its store rows and metadata are swept)."""
    if (body.get("response_format") or {}).get("json_schema", {}).get("name") == "TopicLabel":
        return json.dumps({"topic": "billing", "sentiment": "negative", "confidence": 0.9})
    if "what_failed" in json.dumps(body.get("response_format") or body.get("messages")):
        return json.dumps(
            {"what_failed": f"a check, said {KEY}", "likely_cause": "unknown", "action_taken": "alerted"}
        )
    insight = {"text": f"Revenue held, key {KEY}", "segment": "all", "kpi": "revenue"}
    return json.dumps({"headline": f"Steady quarter {KEY}", "insights": [insight] * 3, "risks": ["none"]})


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("secrets") / "dagster_home"
    home.mkdir()
    with DataAPI(size=1_000) as api, FakeOpenAI() as llm:  # small data: the secrets, not the rows, matter
        llm.set_default(
            PRIMARY, Fault.status(500, message=f"bad key {KEY}", code_=f"err_{KEY}", headers={"x-k": KEY})
        )
        llm.script(SECONDARY, Fault.refusal(f"I will not repeat {KEY}", headers={"x-k": KEY}))
        llm.set_responder(SECONDARY, _answer)
        proxy = EchoingProxy(api.base_url)
        env = hermetic_env(
            home,
            OPENAI_API_KEY=KEY,
            OPENAI_BASE_URL=llm.base_url,
            RELIABILITY_API_URL=proxy.url,
            RELIABILITY_API_TOKEN=TOKEN,
            DAGSTER_HOME=str(home),  # the CLI reads the same deployment
        )
        live = LiveDagster(home, project=REPO, env=env)
        try:
            live.start()
            yield {"live": live, "proxy": proxy, "env": env, "home": home, "llm": llm}
        finally:
            live.stop()
            proxy.server.shutdown()


def _forms(secret: str) -> list[bytes]:
    return [secret.encode(), quote(secret, safe="").encode()]


def test_a_failed_and_a_full_run_leave_no_secret_anywhere(deployment: dict[str, Any]) -> None:
    live: LiveDagster = deployment["live"]
    proxy: EchoingProxy = deployment["proxy"]

    proxy.refuse = True
    failed = live.ui.launch("reference_pipeline", run_config=IN_PROCESS)
    assert live.ui.wait(failed, timeout_s=300)["status"] == "FAILURE"
    with live.instance() as instance:  # refused, not down: the steps' RetryPolicy must not run them again
        assert instance.all_logs(failed, of_type=DagsterEventType.STEP_UP_FOR_RETRY) == []
    proxy.refuse = False
    full = live.ui.launch("reference_pipeline", run_config=IN_PROCESS)
    assert live.ui.wait(full, timeout_s=420)["status"] == "SUCCESS"

    store = ReliabilityStore(deployment["env"]["RELIABILITY_STORE_URL"])
    incidents = IncidentLog(store)
    live.wait("the failed run's incident", lambda: incidents.list(limit=50) or None, 120)
    time.sleep(10)  # a few sensor ticks: alerts, triage (through the echoing provider), outbox

    # The echoes did happen: the provider and the API saw the secrets and sent them back.
    assert any(r.model == SECONDARY for r in deployment["llm"].requests)
    assert proxy.seen

    found: list[str] = []
    for path in sorted(deployment["home"].rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {s[:12]!r}" for s in (*_forms(KEY), *_forms(TOKEN)) if s in data]

    settled = [letter for letter in store.dead_letters(status=None) if letter["status"] != "in_flight"]
    assert settled, "the failed run left no dead letter to show"
    commands = [
        ["reliability", "dlq", "list", "--status", "all"],
        ["reliability", "incidents", "list"],
        ["reliability", "alerts", "list"],
        ["reliability", "report"],
        ["reliability", "status", "--run-id", failed],
        # Settled letters only: an in_flight row is a request being served right now (the sensor's triage,
        # a remediation run) and vanishes when it is answered, as it should.
        *(["reliability", "dlq", "show", letter["key"]] for letter in settled[:3]),
        *(["reliability", "incidents", "show", incident.id] for incident in incidents.list(limit=3)),
    ]
    for command in commands:
        out = subprocess.run(
            [str(BIN / command[0]), *command[1:]],
            cwd=REPO,
            env=deployment["env"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.stdout and (out.returncode == 0 or command[1] == "status"), out.stderr[
            -2000:
        ]  # 1: a failed run
        found += [f"`{' '.join(command)}`" for s in (KEY, TOKEN) if s in out.stdout + out.stderr]

    for run_id in (failed, full):
        graphql = live.ui.query(
            "query($id: ID!) { runOrError(runId: $id) { ... on Run { runConfigYaml tags { key value } } } }",
            {"id": run_id},
        )
        found += [f"GraphQL run {run_id[:8]}" for s in (KEY, TOKEN) if s in json.dumps(graphql)]
    location, repository = live.ui.location()
    for resource in ("llm", "triage_llm", "source", "reliability"):
        graphql = live.ui.query(
            "query($s: ResourceSelector!) { topLevelResourceDetailsOrError(resourceSelector: $s) {"
            " ... on ResourceDetails { configuredValues { key value type } } } }",
            {
                "s": {
                    "repositoryLocationName": location,
                    "repositoryName": repository,
                    "resourceName": resource,
                }
            },
        )
        found += [f"GraphQL resource {resource}" for s in (KEY, TOKEN) if s in json.dumps(graphql)]

    assert found == []
    # And the redacted texts are still there, masked: the evidence was kept, not dropped.
    letters = store.dead_letters(status=None)
    assert any("***" in json.dumps(letter, default=str) for letter in letters)


def test_the_cli_outputs_were_real(deployment: dict[str, Any]) -> None:
    """Guard for the test above: the CLI commands it searched do print the store's content."""
    out = subprocess.run(
        [str(BIN / "reliability"), "incidents", "list"],
        cwd=REPO,
        env=deployment["env"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "customers" in out.stdout or "job:reference_pipeline" in out.stdout, out.stdout[-2000:]
