"""``reliability dev`` (what ``make dev`` runs): the Dagster UI and its local helpers as one supervised
process tree that stays quiet while it runs and leaves nothing behind when it stops.

It starts, each in its own process group (``start_new_session``): the HTML report server (``reliability
reports serve``), a local fault-injecting OpenAI-compatible server when ``OPENAI_API_KEY`` is unset, the
local data API with ``--api``, and ``dg dev`` (the project's ``[tool.dg]`` code location), with the
helpers' URLs in Dagster's environment. On SIGINT, SIGTERM or SIGHUP it sends SIGTERM to every group, then
SIGKILL to what is left after a grace period, so every process it started is gone within 15 s.

Why a supervisor, and whose were the leftovers (Dagster 1.13.27, measured here on 2 loaded cores):

- Plain ``dagster dev`` does stop everything it started: Ctrl-C (SIGINT to the terminal's process group)
  emptied the group in 6 s; SIGTERM to ``make``'s PID (GNU make forwards it to its child) in 19 s; the
  code server goes last. Slow under load because ``dagster dev`` asks the webserver and daemon to stop over
  a pipe and waits up to 60 s for each, and an orphaned code server only exits when its heartbeat (45 s)
  times out.
- The leftovers were ours, through a Dagster quirk. ``make dev-api`` started a process with ``&``; a
  non-interactive shell starts background jobs with SIGINT ignored, which children inherit. Dagster's
  ``setup_interrupt_handlers`` sets SIGTERM to whatever SIGINT does, so a ``dagster dev`` started under
  an ignored SIGINT ignores SIGTERM as well and, killed harder, leaves its code server orphaned.
- Here every child has its own process group and gets SIGTERM from us, whoever sent us the signal (our
  handlers are Python handlers, so children start with default dispositions, never ignored ones), then
  SIGKILL after ``GRACE_S``.

Quiet by default: run events go to the terminal at INFO (the code location's console logger reads
``RELIABILITY_VERBOSE``), and the daemon's per-tick sensor lines ("Checking for new runs...", "...
skipping") are dropped from ``dagster dev``'s output; the tick history in the UI keeps them. ``-v`` (or
``RELIABILITY_VERBOSE=1``) shows everything, run events at DEBUG. Helpers log to ``$DAGSTER_HOME/logs``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

VERBOSE_ENV = "RELIABILITY_VERBOSE"
#: The daemon's lines for every tick that did nothing worth reading: sensors that launched nothing (two a
#: tick, several sensors, every 5-30 s), run monitoring (two every 10 s per run), the queue's sort.
TICK_NOISE = re.compile(
    r"Checking for new runs for sensor: |No run requests returned for \S+, skipping|Sensor \S+ skipped: "
    r"|Collected \d+ runs for monitoring|Checking run [0-9a-f-]{36}$"
    r"|Priority sorting and checking tag concurrency limits"
)
#: ``dagster dev`` says it is superseded by ``dg dev`` at every start (two lines; this project keeps it).
SUPERSEDED = re.compile(r"SupersessionWarning: Function `dev_command` is superseded")
#: A record of Dagster's console format: "<time> [+zone] - <logger> - <LEVEL> - <message>".
RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\S*(?: [+-]\d{4})? - (\S+) - ([A-Z]+) - (.*)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
GRACE_S = 10.0  # SIGTERM, then SIGKILL: well inside the 15 s a stop may take
READY_S = 20.0


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _say(message: str) -> None:
    print(f"reliability dev: {message}", file=sys.stderr, flush=True)


@dataclass
class Child:
    """One process group we started: its leader and where its output goes."""

    name: str
    process: subprocess.Popen[bytes]
    log: IO[bytes] | None = None
    threads: list[threading.Thread] = field(default_factory=list)

    @property
    def pgid(self) -> int:
        return self.process.pid  # start_new_session: the leader's PID is the group's ID


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group ``pgid``, from /proc; a group whose leader exited can
    still hold its children. Falls back to ``killpg(pgid, 0)`` where there is no /proc."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (comm) "
        if fields and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def stop_groups(children: Sequence[Child], *, grace_s: float = GRACE_S) -> float:
    """SIGTERM every group, SIGKILL whatever is left after ``grace_s``; returns the seconds it took."""
    start = time.monotonic()
    for child in children:
        _killpg(child.pgid, signal.SIGTERM)
    deadline = start + grace_s
    while time.monotonic() < deadline:
        for child in children:
            child.process.poll()  # reap the leader, so it does not count as alive
        if not any(group_members(c.pgid) for c in children):
            break
        time.sleep(0.1)
    for child in children:
        if group_members(child.pgid):
            _say(f"{child.name} still running after {grace_s:g} s: SIGKILL")
            _killpg(child.pgid, signal.SIGKILL)
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(timeout=5)
        for thread in child.threads:
            thread.join(timeout=2)
        if child.log is not None:
            child.log.close()
    return time.monotonic() - start


class QuietFilter:
    """Which lines of ``dagster dev``'s output a person needs: no DEBUG records (each run's step events;
    run workers log to this same stream) and no per-tick sensor lines, each with its continuation lines.

    Why here and not in Dagster: a run's console logger is built from the run config's ``loggers`` section
    and, when it names none, at the instance's ``python_logs.python_log_level`` or DEBUG
    (``create_log_manager``/``default_system_loggers``), so ``Definitions(loggers=...)`` changes nothing
    for a Launchpad run; ``python_log_level: INFO`` would also drop ``context.log.debug`` from the event log
    the UI shows and could not follow ``-v``; ``dagster dev --log-level`` sets the services' level, not the
    runs', and the per-tick lines are INFO like the useful ones."""

    def __init__(self) -> None:
        self.dropping = False
        self.kept = self.dropped = 0

    def keep(self, line: str) -> bool:
        plain = ANSI.sub("", line).rstrip("\n")
        record = RECORD.match(plain)
        if SUPERSEDED.search(plain):
            self.dropping = True
        elif record is not None:
            name, level, message = record.groups()
            self.dropping = level == "DEBUG" or (
                name.startswith("dagster.daemon") and bool(TICK_NOISE.search(message))
            )
        keep = not self.dropping  # a line that is no record continues the one before
        self.kept += keep
        self.dropped += not keep
        return keep


def _pump(source: IO[bytes], sink: IO[bytes], *, quiet: bool) -> None:
    """Copy ``dagster dev``'s output line by line, through ``QuietFilter`` when ``quiet``."""
    lines = QuietFilter()
    for line in iter(source.readline, b""):
        if quiet and not lines.keep(line.decode("utf-8", "replace")):
            continue
        try:
            sink.write(line)
            sink.flush()
        except (BrokenPipeError, ValueError):
            break
    source.close()


def _die_with_parent() -> Callable[[], None] | None:
    """What a child runs before exec so that it gets SIGTERM when the supervisor dies, even by SIGKILL
    (Linux ``prctl(PR_SET_PDEATHSIG)``, looked up here, not after the fork); None elsewhere."""
    if sys.platform != "linux":
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)


def _start(
    name: str, command: Sequence[str], *, env: Mapping[str, str], log: Path | None, quiet: bool
) -> Child:
    """Start ``command`` in a new session (its own process group: a signal to it reaches its children)."""
    out = log.open("ab") if log is not None else None
    process = subprocess.Popen(
        list(command),
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=out if out is not None else subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_parent(),  # only dagster dev's output thread runs, and it starts after
    )
    child = Child(name, process, out)
    if process.stdout is not None:
        thread = threading.Thread(
            target=_pump, args=(process.stdout, sys.stdout.buffer), kwargs={"quiet": quiet}, daemon=True
        )
        thread.start()
        child.threads.append(thread)
    return child


def _answers(port: int, process: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """True once something accepts TCP connections on 127.0.0.1:``port``; False if it died or timed out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def _on(port: int) -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(port)]


def _available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


@dataclass(frozen=True)
class Options:
    host: str = "127.0.0.1"
    port: int = 3000
    #: None: ``dg dev`` on the project's ``[tool.dg]``; a path: ``dg dev -w`` on that workspace file.
    workspace: str | None = None
    #: The module ``--api`` runs as the local data API (``python -m``), e.g. the reference pipeline's.
    api_module: str | None = None
    #: ``module:function`` the local fake model answers with (``--responder``), e.g. the reference's.
    llm_responder: str | None = None
    reports_port: int = 8766
    llm_port: int = 8767
    api: bool = False
    api_port: int = 8765
    api_chaos: str = ""
    verbose: bool = False
    grace_s: float = GRACE_S


class Supervisor:
    """Starts the helpers, then ``dagster dev``; ``stop()`` (or a signal) ends every group it started."""

    def __init__(self, options: Options, *, home: Path) -> None:
        self.options, self.home = options, home
        self.children: list[Child] = []
        self.stopping = threading.Event()

    def _helper(self, name: str, command: list[str], port: int, *, env: Mapping[str, str]) -> bool:
        logs = self.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        child = _start(name, command, env=env, log=logs / f"{name}.log", quiet=False)
        self.children.append(child)
        if _answers(port, child.process, READY_S):
            return True
        _say(f"{name} did not answer on 127.0.0.1:{port}; see {logs / (name + '.log')}. Going on without it.")
        stop_groups([child], grace_s=2)
        self.children.remove(child)
        return False

    def start(self) -> subprocess.Popen[bytes]:
        o, python = self.options, sys.executable
        base = dict(os.environ) | {"DAGSTER_HOME": str(self.home)}
        dagster_env = dict(base)
        shown = []
        if not _available("reliability_assets.reports"):
            _say("report server not started: reliability_assets.reports is not installed")
        elif self._helper(
            "reports",
            [python, "-m", "reliability_assets.reports", "serve", *_on(o.reports_port)],
            o.reports_port,
            env=base,
        ):
            dagster_env["RELIABILITY_REPORTS_URL"] = f"http://127.0.0.1:{o.reports_port}"
            shown.append(f"reports {dagster_env['RELIABILITY_REPORTS_URL']}")
        if os.environ.get("OPENAI_API_KEY"):
            shown.append("LLM: OPENAI_API_KEY is set, no local model server")
        elif not _available("reliability_assets.testing.fake_openai"):
            _say("local LLM server not started: reliability_assets.testing.fake_openai is not installed")
        elif self._helper(
            "fake_openai",
            [
                python,
                "-m",
                "reliability_assets.testing.fake_openai",
                *_on(o.llm_port),
                *(["--responder", o.llm_responder] if o.llm_responder else []),
            ],
            o.llm_port,
            env=base,
        ):
            from reliability_assets.testing.fake_openai import offline_llm_env

            dagster_env |= offline_llm_env(f"http://127.0.0.1:{o.llm_port}/v1")
            shown.append(f"local LLM http://127.0.0.1:{o.llm_port}/v1")
        if o.api and not o.api_module:
            _say("--api: this project has no local data API; going on without it")
        elif (
            o.api
            and o.api_module
            and self._helper(
                "data_api",
                [python, "-m", o.api_module, *_on(o.api_port)],
                o.api_port,
                env=base | {"RELIABILITY_API_CHAOS": o.api_chaos},
            )
        ):
            dagster_env["RELIABILITY_API_URL"] = f"http://127.0.0.1:{o.api_port}"
            shown.append(f"data API {dagster_env['RELIABILITY_API_URL']}")
        # Run links in alerts and on the asset timeline point at this UI (unless the user set another).
        shown_host = "127.0.0.1" if o.host in ("0.0.0.0", "::") else o.host
        dagster_env.setdefault("RELIABILITY_UI_URL", f"http://{shown_host}:{o.port}")
        # dg dev: the project's [tool.dg] code location in this interpreter's venv (no supersession warning).
        command = [
            str(Path(python).with_name("dg")),
            "dev",
            "--use-active-venv",
            "-h",
            o.host,
            "-p",
            str(o.port),
        ]
        command += ["-w", o.workspace] if o.workspace else []
        dagster_env.setdefault("VIRTUAL_ENV", str(Path(python).parent.parent))
        ui = _start("dagster dev", command, env=dagster_env, log=None, quiet=not o.verbose)
        self.children.append(ui)
        noise = "everything (-v)" if o.verbose else "INFO and up, no per-tick daemon lines (-v: all)"
        _say(
            f"Dagster UI http://{o.host}:{o.port} | {' | '.join(shown) or 'no helpers'} | "
            f"DAGSTER_HOME={self.home} | logs: {noise}. Ctrl-C stops everything."
        )
        return ui.process

    def stop(self) -> float:
        self.stopping.set()
        took = stop_groups(self.children, grace_s=self.options.grace_s)
        self.children.clear()
        return took


def supervise(options: Options, *, home: Path) -> int:
    """Supervise until a signal or until ``dagster dev`` exits; return its exit code (0 when stopped)."""
    supervisor = Supervisor(options, home=home)
    received: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        supervisor.stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    code = 0
    try:
        ui = supervisor.start()
        while not supervisor.stopping.wait(0.5):
            if ui.poll() is not None:
                code = ui.returncode or 1
                _say(f"dagster dev exited ({ui.returncode}); stopping the helpers")
                break
    finally:
        took = supervisor.stop()
        if received:
            _say(f"stopped ({signal.Signals(received[0]).name}): every process gone in {took:.1f} s")
    return code


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``reliability dev`` and its options."""
    dev = commands.add_parser("dev", help="the Dagster UI with its helpers; Ctrl-C stops all of it")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    dev.add_argument("-w", "--workspace", default=None, help="a workspace file (default: the dg project)")
    dev.add_argument("--reports-port", type=int, default=8766, help="the HTML report server")
    dev.add_argument("--llm-port", type=int, default=8767, help="the local LLM server (no OPENAI_API_KEY)")
    dev.add_argument("--api", action="store_true", help="read customers and orders from the local data API")
    dev.add_argument("--api-port", type=int, default=8765)
    dev.add_argument("--chaos", default="", help="the data API's fault (api_down, api_slow, ...)")
    dev.add_argument(
        "-v", "--verbose", action="store_true", help=f"all output, run events at DEBUG ({VERBOSE_ENV}=1)"
    )


def run(
    args: argparse.Namespace, *, home: Path, api_module: str | None = None, llm_responder: str | None = None
) -> int:
    options = Options(
        api_module=api_module,
        llm_responder=llm_responder,
        host=args.host,
        port=args.port,
        workspace=args.workspace,
        reports_port=args.reports_port,
        llm_port=args.llm_port,
        api=args.api,
        api_port=args.api_port,
        api_chaos=args.chaos,
        verbose=args.verbose or verbose(),
    )
    return supervise(options, home=home)
