"""A batch killed mid-way resumes without paying twice, the way users meet it: `dagster dev` (webserver +
daemon), `feedback_topics` launched through GraphQL as "Materialize selected" does, its run worker
SIGKILLed while the model is labelling, run monitoring marking the run failed, then "Re-execute from
failure" through GraphQL. The provider is the fake OpenAI server on 127.0.0.1, answering slowly so the
kill lands half-way. Run alone with `pytest -m e2e -k batch_resume`.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey, DagsterEventType

from reliability_assets.reference.analytics.feedback import TopicLabel
from reliability_assets.resources.llm_request import request_key
from reliability_assets.testing.fake_openai import FakeOpenAI
from reliability_assets.testing.fake_openai.offline import PRIMARY_MODEL, offline_llm_env
from reliability_assets.testing.fake_openai.stub import stub_answer
from reliability_assets.testing.live import LiveDagster, hermetic_env
from tests.support import REPO

ROWS = 240
RUN_CONFIG = {
    "execution": {"config": {"in_process": {}}},
    "ops": {"feedback_topics": {"config": {"rows": ROWS}}},
}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("batch-resume") / "dagster_home"
    home.mkdir()
    with FakeOpenAI() as fake:

        def slow(body: dict[str, Any]) -> str:
            time.sleep(0.4)  # 8 workers: ~20 items/s, so the kill lands mid-batch
            return stub_answer(body)

        fake.set_responder(PRIMARY_MODEL, slow)
        env = hermetic_env(home, **offline_llm_env(fake.base_url), DAGSTER_HOME=str(home))
        live = LiveDagster(home, project=REPO, env=env)
        try:
            live.start()
            yield {"live": live, "fake": fake, "store": home / "store.sqlite"}
        finally:
            live.stop()


def _checkpointed(store: Path, checkpoint: str) -> dict[str, str]:
    """Item id -> request key of what the checkpoint holds (read with sqlite3, not the package)."""
    if not store.exists():
        return {}
    with sqlite3.connect(store) as connection:
        try:
            rows = connection.execute(
                "SELECT item, request_key FROM batch_items WHERE checkpoint = ?", (checkpoint,)
            ).fetchall()
        except sqlite3.OperationalError:  # not created yet
            return {}
    return dict(rows)


def _run_worker_pid(live: LiveDagster, run_id: str) -> int | None:
    with live.instance() as instance:
        for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
            text = entry.message or ""
            if "Started process for run" in text and "pid:" in text:
                return int(text.split("pid:")[1].split(")")[0].strip())
    return None


def test_a_killed_batch_re_executed_from_failure_resends_nothing_served(deployment: dict[str, Any]) -> None:
    live: LiveDagster = deployment["live"]
    fake: FakeOpenAI = deployment["fake"]
    store: Path = deployment["store"]
    first = live.ui.launch(
        "reference_pipeline", run_config=RUN_CONFIG, assets=["customers", "feedback_topics"]
    )
    checkpoint = f"feedback_topics:{first}"
    pid = live.wait("the run worker's pid", lambda: _run_worker_pid(live, first), 120)
    live.wait(
        "a third of the batch served",
        lambda: True if len(_checkpointed(store, checkpoint)) >= ROWS // 3 else None,
        240,
        poll_s=0.1,
    )
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    served_before = _checkpointed(store, checkpoint)
    assert live.ui.wait(first, timeout_s=180)["status"] == "FAILURE"
    assert len(served_before) < ROWS  # killed mid-way, not after

    second = live.ui.reexecute(first)  # "Re-execute from failure": the same root run, so the same checkpoint
    assert live.ui.wait(second, timeout_s=300)["status"] == "SUCCESS"

    after = [r for r in fake.requests_for(PRIMARY_MODEL) if r.received_at > killed_at]
    resent = [r for r in after if request_key(r.body["messages"], TopicLabel) in set(served_before.values())]
    assert resent == []  # nothing served before the kill was asked again
    assert after  # and the rest was asked
    with live.instance() as instance:
        event = instance.get_latest_materialization_event(AssetKey("feedback_topics"))
    assert event is not None and event.run_id == second
    metadata = {k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}
    assert metadata["llm/batch/resumed"] == len(served_before)
    handled = metadata["llm/batch/served"] + metadata["llm/batch/deferred"] + metadata["feedback/quarantined"]
    assert handled == metadata["feedback/rows"]  # every row is served, a dead letter or quarantined: 0 lost
    assert len(_checkpointed(store, checkpoint)) == metadata["llm/batch/served"]
