"""Remediation under a live daemon, the way users meet it: `dagster dev` (webserver + daemon) on a temporary
DAGSTER_HOME, runs launched through GraphQL as the Launchpad does, sensors ticking while they go.

One deployment, one story, in order: clean -> drifted -> clean -> corrupted -> a run killed with SIGKILL
-> three corrupted runs, the last two at once. The alert channels are a webhook on 127.0.0.1 that works
and an e-mail channel whose server does not exist (it fails at delivery time: remediation must not care).
Run alone with `pytest -m live`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from dagster import AssetKey, DagsterEventType, RunsFilter

from reliability_assets.alerts import AlertRouter
from reliability_assets.check_events import run_evaluations
from reliability_assets.incidents import IncidentLog
from reliability_assets.reference.analytics.champion import MODEL_NAME
from reliability_assets.reference.scenarios import plans_settled, run_config
from reliability_assets.registry import ModelRegistry
from reliability_assets.remediation import ACTION_TAG, REMEDIATES_TAG
from reliability_assets.remediation_plans import PlanBook
from reliability_assets.resources.store import ReliabilityStore
from reliability_assets.testing.live import LiveDagster, hermetic_env, webhook_receiver
from tests.support import BIN, REPO

SIZE = None  # the default 5,000 customers: fewer make the model miss its AUC floor
RUN_TIMEOUT_S = 420.0
MAX_ACTIONS = 3  # the raw sources' policy (reliability_policy's default)
#: The Launchpad's executor choice for these runs: in-process (one process, imports paid once).
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}
#: The e-mail channel's password: it must reach no file of the deployment (store, event logs, logs).
PLANTED = "pw-PLANTED-7731"


@dataclass
class Story:
    live: LiveDagster
    store: ReliabilityStore
    hook: list[tuple[float, str, str]]
    runs: dict[str, str] = field(default_factory=dict)
    measured: dict[str, float] = field(default_factory=dict)

    def launch(self, scenario: str, **tags: str) -> str:
        config = run_config(scenario, size=SIZE) | IN_PROCESS
        return self.live.ui.launch(
            "reference_pipeline", run_config=config, tags={"test/phase": scenario, **tags}
        )

    def run(self, scenario: str) -> dict[str, Any]:
        run_id = self.launch(scenario)
        return self.live.ui.wait(run_id, timeout_s=RUN_TIMEOUT_S) | {"runId": run_id}

    def settled(self, run_id: str, *, expect_plan: bool, timeout_s: float = 300.0) -> list[Any]:
        if not expect_plan:  # give the sensor a few ticks to (not) act
            time.sleep(15)
        return self.live.wait(
            f"plans of run {run_id[:8]} to settle",
            lambda: plans_settled(self.store, run_id, wait_for_plan=expect_plan),
            timeout_s,
        )

    def remediation_runs(self, action: str | None = None) -> list[Any]:
        with self.live.instance() as instance:
            records = instance.get_run_records(
                filters=RunsFilter(tags={ACTION_TAG: action} if action else {})
            )
            return [r.dagster_run for r in records if r.dagster_run.tags.get(ACTION_TAG)]

    def incident(self, asset: str, check: str) -> Any:
        found = [i for i in IncidentLog(self.store).list(asset=asset, limit=500) if i.check == check]
        return found[0] if found else None


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    home = tmp_path_factory.mktemp("live") / "dagster_home"
    home.mkdir()
    store_url = f"sqlite:///{home / 'store.sqlite'}"
    with webhook_receiver() as (hook_url, received):
        env = hermetic_env(
            home,
            RELIABILITY_ALERT_WEBHOOK_URL=hook_url,
            # No SMTP server on port 9: delivery fails at send time, every time.
            RELIABILITY_ALERT_EMAIL_URL=f"mailto://oncall:{PLANTED}@example.com:9?smtp=127.0.0.1"
            "&from=alerts@example.com&to=oncall@example.com&mode=insecure",
        )
        live = LiveDagster(home, project=REPO, env=env)
        try:
            live.start()
            yield Story(live, ReliabilityStore(store_url), received)
        finally:
            live.stop()
    print("live remediation: " + json.dumps({k: round(v, 2) for k, v in story_measured.items()}))


story_measured: dict[str, float] = {}


def test_clean_run_sets_the_champion_and_needs_nothing(story: Story) -> None:
    run = story.run("clean")
    assert run["status"] == "SUCCESS"
    story.runs["clean"] = run["runId"]
    assert story.settled(run["runId"], expect_plan=False) == []
    champion = ModelRegistry(story.store).champion(MODEL_NAME)
    assert champion is not None
    story.runs["champion"] = champion.version


def test_drifted_run_never_promotes_and_needs_no_rollback(story: Story) -> None:
    run = story.run("drifted")
    story.runs["drifted"] = run["runId"]
    plans = story.settled(run["runId"], expect_plan=True)
    registry = ModelRegistry(story.store)
    assert registry.champion(MODEL_NAME).version == story.runs["champion"]  # the clean champion serves
    assert not [m for m in registry.history(MODEL_NAME) if m.run_id == run["runId"]]  # never promoted
    # Design: zero rollbacks. The lineage gate kept the drifted model from being promoted, so the plan
    # says so ("unnecessary") instead of moving the pointer back past a good champion.
    assert [(p.action, p.status) for p in plans] == [("rollback", "unnecessary")]
    assert story.remediation_runs("rollback") == []
    incident = story.incident("customer_features", "drift")
    assert incident is not None and incident.status == "mitigated"
    # Detected = its alert delivered: the sensor sends it on a tick of its own, after the other incidents
    # of the run (the feedback labels' drift and accuracy fail on drifted data too).
    story.live.wait("the drift alert", lambda: story.incident("customer_features", "drift").detected_at, 90)
    assert any("customer_features:drift" in body and "rollback planned" in body for _, _, body in story.hook)
    feedback = {check: story.incident("feedback_topics", check) for check in ("label_drift", "tier_quality")}
    assert all(incident is not None for incident in feedback.values())  # alerted, nothing to roll back


def test_a_clean_run_after_the_drift_fails_nothing_and_launches_nothing(story: Story) -> None:
    run = story.run("clean")
    assert run["status"] == "SUCCESS"
    with story.live.instance() as instance:
        _, evaluations = run_evaluations(instance, run["runId"])
    assert [f"{e.asset}:{e.check}" for e in evaluations if not e.passed and e.severity == "ERROR"] == []
    assert story.settled(run["runId"], expect_plan=False) == []
    assert story.remediation_runs() == []
    drift = story.incident("customer_features", "drift")
    assert drift.status == "resolved"  # the primary path is back


def test_corrupted_run_gets_exactly_one_fallback_covering_both_sources(story: Story) -> None:
    run = story.run("corrupted")
    assert run["status"] == "FAILURE"
    story.runs["corrupted"] = run["runId"]
    (plan,) = story.settled(run["runId"], expect_plan=True)
    assert (plan.action, plan.status, set(plan.assets)) == ("fallback", "verified", {"customers", "orders"})
    (fallback,) = story.remediation_runs("fallback")
    assert fallback.tags[REMEDIATES_TAG] == "customers,orders" and fallback.run_id == plan.run_id
    with story.live.instance() as instance:
        record = instance.get_run_record_by_id(fallback.run_id)
        _, evaluations = run_evaluations(instance, run["runId"], AssetKey("customers"))
        materialized = [
            e
            for e in instance.all_logs(fallback.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
            if e.dagster_event and e.dagster_event.asset_key == AssetKey("customers")
        ]
    gate = story.incident("customers", "gx_suite")
    assert gate.status == "mitigated" and gate.mitigated_at >= record.end_time  # only after it succeeded
    failed_at = next(e.timestamp for e in evaluations if e.check == "gx_suite" and not e.passed)
    alert_at = min(at for at, _, body in story.hook if "customers:gx_suite" in body)
    story_measured["mttd_alert_s"] = alert_at - failed_at
    story_measured["mttr_fallback_materialized_s"] = materialized[0].timestamp - failed_at
    story_measured["mitigated_s"] = gate.mitigated_at - failed_at
    # The e-mail channel failed at delivery; the fallback launched anyway and the failure is in the outbox.
    alert_id = next(a["alert_id"] for a in gate.actions if a["action"] == "alerted")
    deliveries = {d.channel: d for d in AlertRouter(story.store, channels={}).deliveries(alert_id)}
    assert deliveries["webhook"].status == "delivered"
    assert deliveries["email"].status in ("pending", "failed") and deliveries["email"].last_error


def _run_worker_pid(story: Story, run_id: str) -> int | None:
    """The pid of the process executing the run, from its 'Started process for run' engine event."""
    with story.live.instance() as instance:
        for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
            text = entry.message or ""
            if "Started process for run" in text and "pid:" in text:
                return int(text.split("pid:")[1].split(")")[0].strip())
    return None


def test_a_run_killed_with_sigkill_is_marked_failed_and_opens_an_incident(story: Story) -> None:
    run_id = story.launch("clean")
    pid = story.live.wait("the run worker's pid", lambda: _run_worker_pid(story, run_id), 120)
    time.sleep(3)  # mid-work
    os.kill(pid, signal.SIGKILL)
    run = story.live.ui.wait(run_id, timeout_s=120)
    assert run["status"] == "FAILURE"

    def opened() -> Any:
        incident = story.incident("job:reference_pipeline", "run_failure")
        return incident if incident and run_id in (incident.first_run_id, incident.last_run_id) else None

    story.live.wait("the run-failure incident", opened, 90)


def test_a_killed_cli_run_is_failed_by_run_monitoring_and_opens_an_incident(story: Story) -> None:
    env = story.live.env
    # A CLI run has no code server watching it: only run monitoring (its max runtime) can fail it.
    tags = json.dumps({"dagster/max_runtime_seconds": "20", "test/phase": "cli"})
    command = ["job", "execute", "-m", "reliability_assets.reference.definitions", "-j", "reference_pipeline"]
    process = subprocess.Popen(
        [str(BIN / "dagster"), *command, "--tags", tags],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def started() -> Any:
        with story.live.instance() as instance:
            records = instance.get_run_records(filters=RunsFilter(tags={"test/phase": "cli"}), limit=1)
            return records[0].dagster_run.run_id if records else None

    run_id = story.live.wait("the CLI run to start", started, 120)
    time.sleep(5)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    run = story.live.ui.wait(run_id, timeout_s=180)
    assert run["status"] == "FAILURE"  # run monitoring: past its max runtime with no worker

    def opened() -> Any:
        incidents = IncidentLog(story.store).list(limit=500)
        return next(
            (i for i in incidents if i.check == "run_failure" and run_id in (i.first_run_id, i.last_run_id)),
            None,
        )

    story.live.wait("the CLI run's failure incident", opened, 90)


def scenario_cli(story: Story, name: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(BIN / "reliability"), "scenario", name, "--ui", story.live.ui.url],
        cwd=REPO,
        env=story.live.env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


def test_corrupted_runs_in_a_row_stay_within_the_bound_and_say_so(story: Story) -> None:
    """With the earlier corrupted run's fallback, the one here (through `reliability scenario`, as a user at
    a terminal runs it) takes the second of the bound's three actions; of the last two, launched at once,
    exactly one gets the third and the other is refused, and says so."""
    before = len(story.remediation_runs("fallback"))
    summary = scenario_cli(story, "corrupted")
    assert summary["run_status"] == "FAILURE" and "customers:gx_suite (ERROR)" in summary["failed_checks"]
    assert [p["action"] for p in summary["plans"]] == ["fallback"], summary
    # The killed runs froze nothing: a later failure on the same checks is acted on.
    (first,) = story.settled(summary["run_id"], expect_plan=True)
    assert first.status in ("verified", "failed") and first.run_id
    assert before + 1 == len(story.remediation_runs("fallback")) == MAX_ACTIONS - 1

    together = [story.launch("corrupted"), story.launch("corrupted")]  # the last two at once
    plans = []
    for run_id in together:
        assert story.live.ui.wait(run_id, timeout_s=RUN_TIMEOUT_S)["status"] == "FAILURE"
        plans += story.settled(run_id, expect_plan=True)
    # The bound is counted per plan as it is decided: one slot left, two failures, one fallback.
    assert sorted(p.status for p in plans) in (["failed", "refused"], ["refused", "verified"]), plans
    fallbacks = story.remediation_runs("fallback")
    assert len(fallbacks) == MAX_ACTIONS
    counted = [p for p in PlanBook(story.store).list() if p.action == "fallback" and p.status != "refused"]
    assert len(counted) == len(fallbacks) == MAX_ACTIONS
    titles = [
        e.alert.title for e in AlertRouter(story.store, channels={}).inbox(asset="customers", limit=200)
    ]
    assert any(f"NOT launched: {MAX_ACTIONS} automatic actions on customers" in t for t in titles), titles
    assert any("NOT launched" in body for _, _, body in story.hook)


def test_the_channel_password_reaches_no_file_of_the_deployment(story: Story) -> None:
    leaks = [
        str(path.relative_to(story.live.home))
        for path in story.live.home.rglob("*")
        if path.is_file() and PLANTED.encode() in path.read_bytes()
    ]
    assert leaks == []
