"""`reliability reports serve`: a drift check's report link opens over HTTP, and nothing else does."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pandas as pd
import pytest
from dagster import DagsterInstance, FilesystemIOManager, asset, materialize

from reliability_assets.checks.drift import build_drift_check
from reliability_assets.resources.store_resource import ReliabilityStoreResource
from tests.support import REPO


def start(*command: str) -> tuple[subprocess.Popen[str], str]:
    """A server process and the URL it printed (``--port 0``: a free port)."""
    process = subprocess.Popen(
        [sys.executable, "-m", *command, "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until the server listens (or exits)
    if not line:
        process.wait(10)
        pytest.fail(f"the server did not start: {process.stderr.read() if process.stderr else ''}")
    return process, line.rsplit(" at ", 1)[1].strip().rstrip("/")


def stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`reliability reports serve` on the reports directory of this test's drift check."""
    root = tmp_path / "reports"
    process, url = start("reliability_assets.reference.cli", "reports", "serve", "--dir", str(root))
    yield url, root
    assert stop(process) == 0


def features(shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(int(shift * 10))
    return pd.DataFrame(
        {"amount": rng.normal(shift, 1.0, 2_000), "plan": rng.choice(["free", "pro"], 2_000, p=[0.7, 0.3])}
    )


@asset
def scores() -> pd.DataFrame:
    return features(0.8)


def get(url: str, raw_path: str) -> tuple[int, bytes]:
    """A request with the path sent exactly as written (httpx would normalise ``..`` away)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request("GET", raw_path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_a_drift_checks_report_link_opens_from_the_server(
    server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, root = server
    monkeypatch.setenv("RELIABILITY_REPORTS_URL", url + "/")  # a trailing slash is tolerated
    check = build_drift_check("scores", reference="baseline", baseline=features(0.0), categorical=["plan"])
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [scores, check],
            instance=instance,
            resources={
                "io_manager": FilesystemIOManager(base_dir=str(tmp_path / "io")),
                "reliability": ReliabilityStoreResource(
                    store_url=f"sqlite:///{tmp_path / 'store.sqlite'}", reports_dir=str(root)
                ),
            },
        )
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed  # amount shifted by 0.8 standard deviations
    link = evaluation.metadata["report"].value
    report = Path(evaluation.metadata["report_file"].value)
    assert link == f"{url}/{report.relative_to(root).as_posix()}"
    assert link.startswith(f"{url}/drift/scores/drift/")

    response = httpx.get(link, timeout=10)
    assert response.status_code == 200 and response.headers["content-type"] == "text/html"
    assert response.content == report.read_bytes() and len(response.content) > 100_000

    # Nothing outside the reports directory: `..` (raw and encoded) and a symlink leading out.
    (tmp_path / "secret.txt").write_text("TOP SECRET, not a report")
    (root / "out").symlink_to(tmp_path)
    for path in (
        "/../secret.txt",
        "/drift/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/drift/%2E%2E%2F%2E%2E%2Fsecret.txt",
        "/out/secret.txt",
    ):
        status, body = get(url, path)
        assert status in (403, 404) and b"TOP SECRET" not in body, path
    assert get(url, "/out/secret.txt")[0] == 403
    assert httpx.post(link, timeout=10).status_code == 501  # read-only


def test_module_entry_point_reports_a_busy_port_and_stops_on_sigterm(tmp_path: Path) -> None:
    process, url = start("reliability_assets.reports", "serve", "--dir", str(tmp_path / "reports"))
    assert (tmp_path / "reports").is_dir()  # created, so the server can start before the first report
    assert httpx.get(url + "/", timeout=10).status_code == 200  # the directory listing
    port = url.rsplit(":", 1)[1]
    busy = subprocess.run(
        [sys.executable, "-m", "reliability_assets.reports", "serve", "--port", port],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
    )
    assert busy.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in busy.stderr
    started = time.monotonic()
    assert stop(process) == 0 and time.monotonic() - started < 5
    assert process.stderr is not None and process.stderr.read() == ""  # quiet: no line per request
