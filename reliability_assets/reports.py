"""``reliability reports serve``: the HTML reports (Evidently drift reports) over HTTP on 127.0.0.1, so a
check's ``report`` link opens in the browser. Browsers refuse ``file://`` links from an ``http://`` page
(the Dagster UI could only copy the path to the clipboard).

The server is the standard library's (``ThreadingHTTPServer`` + ``SimpleHTTPRequestHandler``): read-only
(GET and HEAD), rooted at the reports directory, refusing any path that resolves outside it (``..``,
a symlink out), quiet (no line per request). ``report_url`` turns a report file into the link a check
stores, under ``RELIABILITY_REPORTS_URL`` (default ``http://127.0.0.1:8766``, where ``make dev`` serves).
Also runnable as ``python -m reliability_assets.reports serve``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

from reliability_assets.resources.paths import dagster_home

URL_ENV = "RELIABILITY_REPORTS_URL"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8766
DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"


def default_root() -> Path:
    """Where ``ReliabilityStoreResource`` writes reports when ``reports_dir`` is not set."""
    return dagster_home() / "reports"


def base_url() -> str:
    return (os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")


def report_url(path: str | Path, root: str | Path, *, base: str | None = None) -> str | None:
    """The served URL of ``path`` (a file under ``root``), or None when it lies outside ``root`` (no
    server can show it)."""
    try:
        relative = Path(path).resolve().relative_to(Path(root).resolve())
    except ValueError:
        return None
    return f"{(base or base_url()).rstrip('/')}/{quote(relative.as_posix())}"


class ReportHandler(SimpleHTTPRequestHandler):
    """Files under ``directory`` only; no log line per request (``make dev``'s terminal stays readable)."""

    server_version = "reliability-reports"
    sys_version = ""

    def send_head(self) -> Any:
        # translate_path already drops ".." segments; a symlink can still lead out, so resolve and compare.
        target = Path(self.translate_path(self.path)).resolve()
        if not target.is_relative_to(Path(self.directory).resolve()):
            self.send_error(HTTPStatus.FORBIDDEN, "outside the reports directory")
            return None
        return super().send_head()

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def make_server(
    root: str | Path, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
) -> ThreadingHTTPServer:
    """A server for ``root`` (created if missing, so it can start before the first report); ``port=0``
    picks a free port (``server.server_address`` has it)."""
    directory = Path(root).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer((host, port), partial(ReportHandler, directory=str(directory)))
    server.daemon_threads = True
    return server


def serve(root: str | Path, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> int:
    """Serve until SIGINT or SIGTERM; the first stdout line is the URL (with the real port)."""
    try:
        server = make_server(root, host=host, port=port)
    except OSError as error:
        print(
            f"reliability reports serve: cannot listen on {host}:{port}: {error.strerror or error} "
            "(another server running? pick one with --port)",
            file=sys.stderr,
        )
        return 2
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: --host {host} serves the reports beyond this machine", file=sys.stderr)
    bound_port = server.server_address[1]
    print(f"serving {Path(root).resolve()} at http://{host}:{bound_port}/", flush=True)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _serve_options(serving: argparse.ArgumentParser) -> None:
    serving.add_argument("--host", default=DEFAULT_HOST)
    serving.add_argument("--port", type=int, default=DEFAULT_PORT, help="0: a free port")
    serving.add_argument(
        "--dir",
        type=Path,
        help="the reports directory (default: $DAGSTER_HOME/reports, where drift checks write)",
    )


def _subcommands(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="reports_command", required=True)
    _serve_options(
        sub.add_parser("serve", help=f"serve the reports directory read-only (default port {DEFAULT_PORT})")
    )


def add_commands(commands: Any) -> None:
    """Add ``reports`` to the ``reliability`` command's subparsers (dispatch with ``run(args)``)."""
    _subcommands(commands.add_parser("reports", help="the HTML reports (drift) over HTTP on 127.0.0.1"))


def run(args: argparse.Namespace) -> int:
    return serve(args.dir or default_root(), host=args.host, port=args.port)


def main(argv: list[str] | None = None) -> int:
    """``python -m reliability_assets.reports serve [--host] [--port] [--dir]``."""
    parser = argparse.ArgumentParser(prog="python -m reliability_assets.reports", description=__doc__)
    _subcommands(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
