"""`make dev`'s server: `reliability dev` supervises `dagster dev -w workspace.yaml` (and its helpers); the UI
serves the whole graph over GraphQL, the terminal stays quiet, and Ctrl-C stops every process it started."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from reliability_assets.launch import DagsterUI
from reliability_assets.testing.live import free_port, hermetic_env
from tests.support import BIN, CHECK_NAMES, LOCATION_ASSET_NAMES, NON_BLOCKING, REPO

QUERY = """{ assetNodes { assetKey { path }
  assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } }"""
SENSOR_TICKS = """query Ticks($selector: RepositorySelector!) {
  sensorsOrError(repositorySelector: $selector) { ... on Sensors { results { name
  sensorState { ticks(limit: 5) { status } } } } } }"""
STOP_WITHIN_S = 15.0


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _alive(pid: int) -> bool:
    """Running (a zombie has finished: only its parent's bookkeeping is left)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def _descendants(root: int) -> dict[int, str]:
    """Every live process under ``root`` (children in their own sessions too), with its command line."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[stat.rfind(")") + 2 :].split()[1])
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = commands.get(pid, "")
                frontier.append(pid)
    return {pid: command for pid, command in found.items() if _alive(pid)}


class Dev:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process, self.port, self.log = process, port, log

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    """``reliability dev`` on free ports, in a session of its own (as a terminal runs ``make dev``)."""
    home = tmp_path_factory.mktemp("dev") / "dagster_home"
    log = home.parent / "reliability-dev.log"
    port = free_port()
    ports = ["--reports-port", str(free_port()), "--llm-port", str(free_port())]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(BIN / "reliability"), "dev", "--host", "127.0.0.1", "--port", str(port), *ports],
            cwd=REPO,
            env=hermetic_env(home, DAGSTER_HOME=str(home)),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started = Dev(process, port, log)
    try:
        yield started
    finally:
        left = _descendants(process.pid)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=10)


def _wait_for_graph(dev: Dev) -> list[dict]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and dev.process.poll() is None:
        try:
            nodes = _graphql(dev.port, QUERY).get("data", {}).get("assetNodes")
            if nodes:
                return nodes
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"reliability dev did not serve the graph; output:\n{dev.output()[-3000:]}")


def test_ui_serves_the_full_graph_over_graphql_quietly(dev: Dev) -> None:
    nodes = _wait_for_graph(dev)
    assert sorted("/".join(n["assetKey"]["path"]) for n in nodes) == sorted(LOCATION_ASSET_NAMES)
    checks = {
        f"{'/'.join(n['assetKey']['path'])}:{c['name']}": c["blocking"]
        for n in nodes
        for c in n["assetChecksOrError"].get("checks", [])
    }
    assert checks == {name: name not in NON_BLOCKING for name in CHECK_NAMES}
    with urllib.request.urlopen(f"http://127.0.0.1:{dev.port}/", timeout=10) as response:
        assert response.status == 200 and b"Dagster" in response.read()

    # The daemon has ticked the sensors (each tick that launched nothing logs two INFO lines)...
    with DagsterUI(f"http://127.0.0.1:{dev.port}") as ui:
        location, repository = ui.location()
        selector = {"repositoryLocationName": location, "repositoryName": repository}

        def skipped_ticks() -> int:
            sensors = ui.query(SENSOR_TICKS, {"selector": selector})["sensorsOrError"]["results"]
            return sum(t["status"] == "SKIPPED" for s in sensors for t in s["sensorState"]["ticks"])

        deadline = time.monotonic() + 60
        while skipped_ticks() == 0 and time.monotonic() < deadline:
            time.sleep(1)
        assert skipped_ticks() > 0
    time.sleep(1)  # the daemon logs a tick before it stores it
    # ...and the terminal shows the UI's address but none of those lines.
    output = dev.output()
    assert f"Dagster UI http://127.0.0.1:{dev.port}" in output
    assert "Serving dagster-webserver" in output
    assert "Checking for new runs for sensor" not in output and " skipped: " not in output, output[-2000:]


def test_ctrl_c_stops_every_process_it_started_within_15_s(dev: Dev) -> None:
    _wait_for_graph(dev)
    started = _descendants(dev.process.pid)
    commands = " | ".join(started.values())
    assert "dagster_webserver" in commands and "dagster._daemon" in commands and "code-server" in commands
    assert "reports serve" in commands  # the HTML report server, beside the UI
    assert "reliability_assets.testing.fake_openai" in commands  # no OPENAI_API_KEY: the local LLM server

    sent = time.monotonic()
    os.killpg(dev.process.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's foreground group
    left = [pid for pid in started if _alive(pid)]
    while (left or dev.process.poll() is None) and time.monotonic() - sent < STOP_WITHIN_S:
        time.sleep(0.2)
        left = [pid for pid in left if _alive(pid)]
    took = time.monotonic() - sent
    assert not left, f"still running {took:.1f} s after SIGINT: {[started[p][:80] for p in left]}"
    assert dev.process.poll() == 0, dev.output()[-2000:]
    assert "every process gone in" in dev.output()
    print(f"\nreliability dev: {len(started)} processes stopped {took:.1f} s after SIGINT")
