"""Progress for the long CLI commands (`reliability demo`, `reliability scenario`): a line per
materialized asset and per failure on stderr and, in a terminal, a live bar with the steps running now.
Dagster's own event stream (about 200 DEBUG lines a run) goes to a log file, or to the terminal with `-v`.

The steps come from the run's event log in the Dagster instance (the same storage the UI reads), polled
from a thread, so it works whether the run executes in a Dagster CLI subprocess or in the daemon behind the
webserver, and nothing parses log text.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

POLL_S = 0.5


@dataclass
class RunProgress:
    """What the run's events said so far."""

    run_id: str | None = None
    planned: int = 0  # assets the run plans to materialize
    running: list[str] = field(default_factory=list)  # steps started, not finished
    materialized: list[str] = field(default_factory=list)
    failed_steps: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)


def _step_events() -> set[Any]:
    from dagster import DagsterEventType

    return {
        DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
        DagsterEventType.ASSET_MATERIALIZATION,
        DagsterEventType.STEP_START,
        DagsterEventType.STEP_SUCCESS,
        DagsterEventType.STEP_FAILURE,
        DagsterEventType.STEP_SKIPPED,
        DagsterEventType.STEP_UP_FOR_RETRY,
        DagsterEventType.ASSET_CHECK_EVALUATION,
    }


class RunWatcher:
    """Follows one run's events in `instance` and calls `on_change(progress, news)`: `news` is a line worth
    printing (an asset materialized, a step or a check failed) or None."""

    def __init__(
        self,
        instance: Any,
        *,
        find_run: Callable[[], str | None],
        on_change: Callable[[RunProgress, str | None], None],
    ) -> None:
        self._instance = instance
        self._find_run = find_run
        self._on_change = on_change
        self._cursor: str | None = None
        self.progress = RunProgress()
        self.title = ""  # what the command is doing now; shown before the running steps

    def phase(self, title: str) -> None:
        """Say what the command is doing now (launching, waiting for the sensors...)."""
        self.title = title
        self._on_change(self.progress, None)

    def poll(self) -> None:
        from dagster import DagsterEventType as T

        progress = self.progress
        if progress.run_id is None:
            progress.run_id = self._find_run()
            if progress.run_id is None:
                return
        connection = self._instance.get_records_for_run(
            progress.run_id, cursor=self._cursor, of_type=_step_events()
        )
        self._cursor = connection.cursor
        for record in connection.records:
            event = record.event_log_entry.dagster_event
            if event is None:
                continue
            step = event.step_key or ""
            kind = event.event_type
            news: str | None = None
            if kind == T.ASSET_MATERIALIZATION_PLANNED:
                progress.planned += 1
            elif kind == T.ASSET_MATERIALIZATION:
                asset = event.asset_key.to_user_string() if event.asset_key else step
                progress.materialized.append(asset)
                news = f"[green]✓[/] {asset}"
            elif kind == T.STEP_START:
                progress.running.append(step)
            elif kind in (T.STEP_SUCCESS, T.STEP_FAILURE, T.STEP_SKIPPED, T.STEP_UP_FOR_RETRY):
                if step in progress.running:
                    progress.running.remove(step)
                if kind == T.STEP_FAILURE:
                    progress.failed_steps.append(step)
                    news = f"[red]✗[/] step {step} failed"
                elif kind == T.STEP_UP_FOR_RETRY:
                    news = f"[yellow]↻[/] step {step} failed; retrying"
            elif kind == T.ASSET_CHECK_EVALUATION:
                evaluation = event.event_specific_data
                if not evaluation.passed:
                    key = evaluation.asset_check_key
                    name = f"{key.asset_key.to_user_string()}:{key.name}"
                    severity = evaluation.severity.value
                    progress.failed_checks.append(f"{name} ({severity})")
                    color = "red" if severity == "ERROR" else "yellow"
                    news = f"[{color}]![/] check {name} failed ({severity})"
            self._on_change(progress, news)
        if not connection.records:
            self._on_change(progress, None)


@contextmanager
def watch_run(
    find_run: Callable[[], str | None], *, title: str, enabled: bool = True
) -> Iterator[RunWatcher | None]:
    """While the body runs: a live bar (in a terminal) and a line per finished step on stderr, from the run
    ``find_run()`` names once it exists. ``enabled=False`` (``-v``): nothing, Dagster's stream is shown."""
    if not enabled:
        yield None
        return
    from dagster import DagsterInstance
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(stderr=True, highlight=False)
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,  # piped or captured: the printed lines only
    )
    task = bar.add_task(title, total=None)
    began = time.monotonic()
    stop = threading.Event()

    def show(progress: RunProgress, news: str | None) -> None:
        if news is not None:
            console.print(f"{news} [dim]{time.monotonic() - began:.0f} s[/]")
        now = ", ".join(progress.running) or ("waiting for the run" if progress.run_id is None else "")
        label = watcher.title or title
        bar.update(
            task,
            description=f"{label}: {now}" if now else label,
            total=progress.planned or None,
            completed=len(progress.materialized),
        )

    with DagsterInstance.get() as instance:
        watcher = RunWatcher(instance, find_run=find_run, on_change=show)
        watcher.title = title

        def loop() -> None:
            while not stop.wait(POLL_S):
                try:
                    watcher.poll()
                except Exception:  # storage busy for a moment (SQLite): the next poll catches up
                    continue

        thread = threading.Thread(target=loop, name="run-progress", daemon=True)
        with bar:
            thread.start()
            try:
                yield watcher
            finally:
                stop.set()
                thread.join(timeout=5)
                with suppress(Exception):
                    watcher.poll()  # the last events, so every finished step is printed


@contextmanager
def spinner(title: str, *, enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr while a short, stepless job runs; the callback changes its text."""
    if not enabled:
        yield lambda _text: None
        return
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    with console.status(title) as status:
        yield lambda text: status.update(f"{title}: {text}")
