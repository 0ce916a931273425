"""End to end with the Dagster daemon running, as under `make dev`: a failing blocking check on a raw source
leads the check-failure sensor (ticked by `dagster-daemon`) to launch a fallback run, which the daemon's run
queue executes and which serves the last-good data; the alert reaches a webhook on 127.0.0.1; the incident
ends mitigated. Measures detection latency (failed evaluation -> fallback run created) and recovery time
(failed evaluation -> fallback materialization of the source)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from reliability_assets.check_history import run_evaluations
from reliability_assets.cli import init_home
from reliability_assets.definitions import build_defs
from reliability_assets.incidents import IncidentLog
from reliability_assets.remediation import ACTION_TAG, REMEDIATES_TAG, TRIGGER_RUN_TAG
from resources.store import ReliabilityStore
from tests.support import BIN, REPO, reference_resources

SENSOR = "check_failure_remediation"
ASSET, CHECK = "customers", "gx_suite"  # the blocking gate the corrupted source fails
FALLBACK_RUNS = RunsFilter(tags={ACTION_TAG: "fallback"})
#: Generous bounds: they only catch a hang; the point is the measured numbers.
DETECTION_BOUND_S = 120.0
RECOVERY_BOUND_S = 300.0
FIRST_TICK_TIMEOUT_S = 120.0  # the daemon loads the code location (GX, Evidently) before its first tick
RUN_TIMEOUT_S = 360.0
T = TypeVar("T")


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[tuple[float, str, str]]]]:
    """An HTTP receiver on 127.0.0.1: its URL and the POSTs it got as (arrival time, path, body)."""
    received: list[tuple[float, str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.append((time.time(), self.path, body.decode("utf-8", "replace")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _group_members(pgid: int) -> list[str]:
    """Live (non-zombie) processes of a process group, as 'pid command'."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()  # state, ppid, pgrp, ...
            if int(fields[2]) == pgid and fields[0] != "Z":
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                members.append(f"{entry.name} {cmd[:160]}")
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return members


class Daemon:
    """`dagster-daemon run -w workspace.yaml` in its own process group, logging to a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # stopping the group stops the gRPC code server and run workers
            )
        self.survivors: list[str] = []

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "(no log)"

    def stop(self, grace_s: float = 30.0) -> None:
        """SIGTERM to the group; what is still alive after ``grace_s`` is recorded and SIGKILLed."""
        pgid = self.process.pid
        with suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace_s)
        while _group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
        self.survivors = _group_members(pgid)
        if self.survivors or self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            self.process.wait(timeout=10)


def _sensor_ticks(instance: DagsterInstance, name: str = SENSOR, limit: int = 5) -> list[Any]:
    states = [s for s in instance.all_instigator_state() if s.instigator_name == name]
    ticks: list[Any] = []
    for state in states:
        ticks += instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=limit)
    return sorted(ticks, key=lambda t: t.timestamp, reverse=True)


def _ticks_summary(instance: DagsterInstance) -> str:
    lines = []
    for name in (SENSOR, "remediation_outcomes", "run_failure_incidents"):
        for tick in _sensor_ticks(instance, name, limit=3):
            error = f" error: {tick.error.message.strip()[:300]}" if tick.error else ""
            lines.append(f"  {name} @{tick.timestamp:.1f} {tick.status.value} runs={tick.run_ids}{error}")
    return "\n".join(lines) or "  (no sensor tick recorded)"


def _wait(
    what: str, probe: Callable[[], T | None], timeout_s: float, daemon: Daemon, instance: DagsterInstance
) -> T:
    """Poll ``probe`` until it returns something; on timeout (or a dead daemon) fail with the context."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found is not None:
            return found
        if daemon.process.poll() is not None or time.monotonic() > deadline:
            state = "exited" if daemon.process.poll() is not None else f"still waiting after {timeout_s:g} s"
            raise AssertionError(
                f"{what}: {state}.\nsensor ticks (newest first):\n{_ticks_summary(instance)}\n"
                f"daemon log tail:\n{daemon.tail()}"
            )
        time.sleep(0.5)


def _epoch(value: Any) -> float:
    """A run record's create_timestamp (a datetime, naive UTC in SQLite run storage) as epoch seconds."""
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def test_failing_check_launches_a_fallback_run_through_the_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    began = time.monotonic()
    home = init_home(tmp_path / "dagster_home")  # what `make dev` uses: telemetry off, default storage
    store_url = f"sqlite:///{home / 'store.sqlite'}"
    with webhook_receiver() as (hook_url, received):
        ours = {
            "DAGSTER_HOME": str(home),
            "RELIABILITY_STORE_URL": store_url,
            "RELIABILITY_DUCKDB_PATH": str(home / "reliability.duckdb"),
            "RELIABILITY_SCENARIO": "clean",
            "DO_NOT_TRACK": "1",
            "GX_ANALYTICS_ENABLED": "false",
        }
        # Hermetic: no other alert channel, API source, chaos or LLM endpoint leaks in from the caller.
        foreign = [k for k in os.environ if k.startswith(("RELIABILITY_", "OPENAI_")) and k not in ours]
        for key in foreign:
            monkeypatch.delenv(key)
        for key, value in ours.items():
            monkeypatch.setenv(key, value)
        # Only the daemon alerts (its sensors do): the webhook is its channel.
        env = dict(os.environ) | {"RELIABILITY_ALERT_WEBHOOK_URL": hook_url}

        def run(scenario: str) -> Any:
            defs = build_defs(reference_resources(scenario, home))  # the daemon's paths, this scenario
            return defs.resolve_job_def("reference_pipeline").execute_in_process(
                instance=instance, raise_on_error=False
            )

        # The instance (its SQLite run, event-log and schedule databases) exists before the daemon starts:
        # processes creating a fresh home at once can stamp alembic_version twice ("more than one head
        # present", dagster-io/dagster#27390) and the code location then never loads.
        with DagsterInstance.from_config(str(home)) as instance:
            instance.all_instigator_state()
            daemon = Daemon(env, tmp_path / "daemon.log")
            try:
                clean = run("clean")  # the raw assets' last-good data
                assert clean.success
                clean_record = instance.get_run_record_by_id(clean.run_id)
                assert clean_record is not None and clean_record.end_time is not None
                clean_end = clean_record.end_time

                def ticked_after_clean() -> Any:
                    ticks = [t for t in _sensor_ticks(instance) if t.timestamp >= clean_end]
                    if any(t.status.value == "FAILURE" for t in ticks):
                        raise AssertionError(f"{SENSOR} failed:\n{_ticks_summary(instance)}\n{daemon.tail()}")
                    return next((t for t in ticks if t.status.value in ("SKIPPED", "SUCCESS")), None)

                _wait(
                    "a sensor tick after the clean run",
                    ticked_after_clean,
                    FIRST_TICK_TIMEOUT_S,
                    daemon,
                    instance,
                )
                assert not instance.get_run_records(filters=FALLBACK_RUNS)  # a clean run needs nothing

                corrupted = run("corrupted")
                assert not corrupted.success  # the blocking gates stopped the run
                _, evaluations = run_evaluations(instance, corrupted.run_id, AssetKey(ASSET))
                (failed,) = [e for e in evaluations if e.check == CHECK]
                assert not failed.passed and failed.severity == "ERROR"

                def fallback_run() -> Any:
                    records = instance.get_run_records(filters=FALLBACK_RUNS)
                    return records[0] if records else None

                created = _wait(
                    "the sensor's fallback run", fallback_run, DETECTION_BOUND_S, daemon, instance
                )
                run_id = created.dagster_run.run_id

                def finished() -> Any:
                    record = instance.get_run_record_by_id(run_id)
                    return record if record and record.dagster_run.is_finished else None

                done = _wait(f"fallback run {run_id} to finish", finished, RUN_TIMEOUT_S, daemon, instance)
                fallback = done.dagster_run
                assert fallback.status == DagsterRunStatus.SUCCESS, (
                    f"fallback run {run_id} ended {fallback.status}\n{_ticks_summary(instance)}\n"
                    f"daemon log tail:\n{daemon.tail()}"
                )
                assert fallback.tags[REMEDIATES_TAG] == "customers,orders"
                assert fallback.tags[TRIGGER_RUN_TAG] == corrupted.run_id
                assert len(instance.get_run_records(filters=FALLBACK_RUNS)) == 1  # once, not per check

                materialized = {
                    entry.dagster_event.asset_key.to_user_string(): entry
                    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
                    if entry.dagster_event is not None and entry.dagster_event.asset_key is not None
                }
                assert {"customers", "orders", "executive_summary"} <= materialized.keys()
                materialization = materialized[ASSET].asset_materialization
                assert materialization is not None
                served = materialization.metadata
                assert served["degraded"].value is True
                assert served["last_good_run_id"].value == clean.run_id

                def alert_received() -> Any:
                    return next((post for post in received if f"{ASSET}:{CHECK}" in post[2]), None)

                alert_at, path, body = _wait("the webhook alert", alert_received, 30, daemon, instance)
                assert path == "/hook"
                payload = json.loads(body)
                assert "fallback launched" in payload["title"], payload

                incidents = IncidentLog(ReliabilityStore(store_url))

                def mitigated() -> Any:
                    incident = incidents.open_for(asset=ASSET, check=CHECK)
                    return incident if incident is not None and incident.status == "mitigated" else None

                incident = _wait(f"the {ASSET}:{CHECK} incident mitigated", mitigated, 60, daemon, instance)
                assert incident.first_run_id == corrupted.run_id
                assert incident.detected_at is not None

                measured = {
                    "detection_latency_s": _epoch(created.create_timestamp) - failed.timestamp,
                    "alert_latency_s": alert_at - failed.timestamp,
                    "recovery_s": materialized[ASSET].timestamp - failed.timestamp,
                    "fallback_run_done_s": (done.end_time or 0.0) - failed.timestamp,
                    "mitigated_s": (incident.mitigated_at or 0.0) - failed.timestamp,
                }
            finally:
                daemon.stop()
        assert not daemon.survivors, f"processes left after SIGTERM to the daemon's group: {daemon.survivors}"

    measured["test_runtime_s"] = time.monotonic() - began
    request.node.user_properties += [(key, round(value, 2)) for key, value in measured.items()]
    print("daemon e2e: " + ", ".join(f"{k}={v:.1f}" for k, v in measured.items()))
    assert 0 < measured["detection_latency_s"] < DETECTION_BOUND_S, measured
    assert measured["detection_latency_s"] <= measured["recovery_s"] < RECOVERY_BOUND_S, measured
