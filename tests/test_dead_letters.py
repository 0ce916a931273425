"""The dead-letter queue from a person's side: the CLI and the replay job in Dagster."""

import json
import os
import subprocess

import pytest

from reliability_assets.reference.analytics.summary import ExecutiveBrief, Insight
from reliability_assets.resources.llm import LLMEndpoint, ResilientLLM
from reliability_assets.resources.store import ReliabilityStore
from reliability_assets.testing.fake_openai import FakeOpenAI, Fault
from tests.support import BIN, REPO

BRIEF = ExecutiveBrief(
    headline="h", insights=[Insight(text="t", segment="all", kpi="revenue_365d")] * 3, risks=["r"]
)
MESSAGES = [{"role": "user", "content": "KPIs: revenue 10"}]


@pytest.fixture
def server():
    with FakeOpenAI() as fake:
        for model in ("gpt-4o-mini", "gpt-4o"):
            fake.set_responder(model, lambda body: BRIEF.model_dump_json())
        yield fake


def _dead_letter(server: FakeOpenAI, store_url: str) -> str:
    """One request no tier could serve: both models down, no fallback."""
    for model in ("gpt-4o-mini", "gpt-4o"):
        server.set_default(model, Fault.status(503))
    endpoints = [
        LLMEndpoint(name=name, model=model, base_url=server.base_url, api_key="sk-test", max_attempts=1)
        for name, model in (("primary", "gpt-4o-mini"), ("secondary", "gpt-4o"))
    ]
    result = ResilientLLM(endpoints=endpoints, store_url=store_url).generate(
        MESSAGES, schema=ExecutiveBrief, source="executive_summary"
    )
    assert result.deferred
    for model in ("gpt-4o-mini", "gpt-4o"):
        server.set_default(model, None)  # the provider recovers
    return result.dead_letter_key


def _cli(*args: str, home, server: FakeOpenAI) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": server.base_url,
    }
    return subprocess.run(
        [str(BIN / "reliability"), "dlq", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_list_show_replay_resolve_from_the_cli(server, tmp_path) -> None:
    home = tmp_path / "home"
    key = _dead_letter(server, f"sqlite:///{home / 'reliability_store.sqlite'}")
    listed = _cli("list", home=home, server=server)
    assert listed.returncode == 0 and key in listed.stdout and "executive_summary" in listed.stdout
    shown = json.loads(_cli("show", key, home=home, server=server).stdout)
    assert shown["status"] == "open" and len(shown["attempts"]) == 2
    assert shown["request"]["schema"] == "reliability_assets.reference.analytics.summary:ExecutiveBrief"
    assert "sk-test" not in json.dumps(shown)

    replayed = _cli("replay", home=home, server=server)
    assert replayed.returncode == 0, replayed.stderr[-2000:]
    assert f"{key}  served by primary" in replayed.stdout
    assert _cli("list", home=home, server=server).stdout.strip() == "empty"  # nothing open any more
    assert key in _cli("list", "--status", "replayed", home=home, server=server).stdout

    resolved = _cli("resolve", key, "--note", "checked by hand", home=home, server=server)
    assert resolved.returncode == 0
    entry = ReliabilityStore(f"sqlite:///{home / 'reliability_store.sqlite'}").dead_letter_entry(key)
    assert (entry["status"], entry["note"]) == ("resolved", "checked by hand")


def test_replay_job_in_dagster_serves_the_open_entries(server, tmp_path) -> None:
    from dagster import instance_for_test

    from reliability_assets.dead_letters import dead_letter_replay

    store_url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    key = _dead_letter(server, store_url)
    llm = ResilientLLM(
        endpoints=[LLMEndpoint(name="primary", model="gpt-4o-mini", base_url=server.base_url, api_key="k")],
        store_url=store_url,
    )
    with instance_for_test() as instance:
        result = dead_letter_replay.execute_in_process(resources={"llm": llm}, instance=instance)
    assert result.success and result.output_for_node("replay_dead_letters") == 1
    assert ReliabilityStore(store_url).dead_letter_entry(key)["status"] == "replayed"
