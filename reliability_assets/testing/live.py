"""A live Dagster for tests and benchmarks: ``dagster dev`` (webserver + daemon) on its own
``DAGSTER_HOME``, runs launched through GraphQL, and a webhook receiver for alerts.

Sensors are only trustworthy when tested the way they run: ticked by the daemon *while* runs launched from
the webserver are going. This starts exactly what ``make dev`` starts, in its own process group, so
stopping it leaves nothing behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

from reliability_assets.launch import DagsterUI

T = TypeVar("T")
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def hermetic_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any ``RELIABILITY_*`` or ``OPENAI_*`` variable of the caller,
    plus a store and DuckDB file in ``home``, third-party telemetry off, and ``extra``."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("RELIABILITY_", "OPENAI_"))}
    return keep | {
        "RELIABILITY_STORE_URL": f"sqlite:///{home / 'store.sqlite'}",
        "RELIABILITY_DUCKDB_PATH": str(home / "reliability.duckdb"),
        "DO_NOT_TRACK": "1",
        "GX_ANALYTICS_ENABLED": "false",
        **extra,
    }


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


class LiveDagster:
    """``dagster dev -w workspace.yaml`` in ``project`` with ``env`` on ``home`` (created with run
    monitoring on, as ``reliability init-home`` does)."""

    def __init__(self, home: Path, *, project: Path, env: Mapping[str, str], port: int | None = None) -> None:
        self.home, self.project, self.port = home, project, port or free_port()
        self.env = {**env, "DAGSTER_HOME": str(home)}
        self.log = home / "dagster-dev.log"
        self.ui = DagsterUI(f"http://127.0.0.1:{self.port}")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout_s: float = 240.0) -> LiveDagster:
        from dagster import DagsterInstance

        from reliability_assets.home import init_home

        init_home(self.home)
        # Create the instance's databases before two processes race to (dagster-io/dagster#27390).
        with DagsterInstance.from_config(str(self.home)) as instance:
            instance.all_instigator_state()
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [
                    str(BIN / "dagster"),
                    "dev",
                    "-w",
                    "workspace.yaml",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                ],
                cwd=self.project,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # stopping the group stops the webserver, daemon and code servers
            )
        self.wait("the code location to load", self._loaded, timeout_s)
        return self

    def _loaded(self) -> bool | None:
        if not self.ui.ready():
            return None
        from reliability_assets.launch import LaunchError

        try:
            self.ui.location()
        except LaunchError as error:
            if "failed to load" in str(error):
                raise AssertionError(f"dagster dev: {error}") from None
            return None
        return True

    def instance(self) -> Any:
        from dagster import DagsterInstance

        return DagsterInstance.from_config(str(self.home))

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "(no log)"

    def wait(self, what: str, probe: Callable[[], T | None], timeout_s: float, *, poll_s: float = 0.5) -> T:
        """Poll ``probe`` until it returns something; on timeout (or a dead server) fail with the log."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = probe()
            if found is not None:
                return found
            dead = self.process is not None and self.process.poll() is not None
            if dead or time.monotonic() > deadline:
                state = "dagster dev exited" if dead else f"still waiting after {timeout_s:g} s"
                raise AssertionError(f"{what}: {state}.\ndagster dev log tail:\n{self.tail()}")
            time.sleep(poll_s)

    def stop(self, grace_s: float = 30.0) -> None:
        if self.process is None:
            return
        # SIGINT, as Ctrl-C: `dagster dev` stops its webserver, daemon and code servers on it within seconds;
        # on SIGTERM it was seen to sit out the whole grace period (30 s a deployment).
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace_s)
        with suppress(ProcessLookupError):  # whatever is left of the group
            os.killpg(self.process.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self.ui.__exit__()
