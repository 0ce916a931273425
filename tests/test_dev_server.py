"""`make dev`'s server: `dagster dev -w workspace.yaml` serves the UI and GraphQL lists the whole graph."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from reliability_assets.cli import init_home
from tests.support import BIN, CHECK_NAMES, LOCATION_ASSET_NAMES, NON_BLOCKING, REPO

QUERY = """{ assetNodes { assetKey { path }
  assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@pytest.fixture
def dagster_dev(tmp_path):
    home = init_home(tmp_path / "dagster_home")
    port = _free_port()
    process = subprocess.Popen(
        [str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env={**os.environ, "DAGSTER_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "dagster-dev.log", "w"),  # noqa: SIM115 - closed with the process
        start_new_session=True,  # its own process group: stopping it stops the webserver and gRPC server
    )
    try:
        yield port, process, tmp_path / "dagster-dev.log"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_ui_serves_the_full_graph_over_graphql(dagster_dev) -> None:
    port, process, log = dagster_dev
    deadline = time.monotonic() + 90
    nodes = None
    while time.monotonic() < deadline and process.poll() is None:
        try:
            data = _graphql(port, QUERY)
            nodes = data.get("data", {}).get("assetNodes")
            if nodes:
                break
        except OSError:
            pass
        time.sleep(0.5)
    assert nodes, f"dagster dev did not serve the graph; log:\n{log.read_text()[-3000:]}"
    assert sorted("/".join(n["assetKey"]["path"]) for n in nodes) == sorted(LOCATION_ASSET_NAMES)
    checks = {
        f"{'/'.join(n['assetKey']['path'])}:{c['name']}": c["blocking"]
        for n in nodes
        for c in n["assetChecksOrError"].get("checks", [])
    }
    assert checks == {name: name not in NON_BLOCKING for name in CHECK_NAMES}
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
        assert response.status == 200 and b"Dagster" in response.read()
