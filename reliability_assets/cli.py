"""``reliability_cli``: the framework's command line for any code location, extended by the project's own.

Every command follows one pattern: a module's ``add_commands(subparsers)`` adds it and ``run(args, ...)``
runs it. A project passes its code location (``definitions_module``, read when a command needs the asset
graph), its ``ResilientLLM`` factory for dead-letter replays, its local data API module for ``dev --api``,
and its own ``CLICommand``s (the reference pipeline adds ``demo`` and ``scenario``). Nothing here imports a
project: the module is imported by name only when a command needs it.
"""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CLICommand:
    """A project's own subcommand: ``add(subparsers)`` adds its parser(s) under ``name``; ``run(args)``."""

    name: str
    add: Callable[[Any], None]
    run: Callable[[argparse.Namespace], int]


def load_definitions(module: str) -> Any:
    """The ``defs`` of a code location module, e.g. ``my_project.definitions``."""
    try:
        return importlib.import_module(module).defs
    except (ImportError, AttributeError) as error:
        raise SystemExit(f"reliability: cannot load `defs` from {module!r}: {error}") from None


def _parser(prog: str, description: str | None, commands: Sequence[CLICommand]) -> argparse.ArgumentParser:
    from reliability_assets import (
        alert_inbox,
        dead_letters_cli,
        dev,
        home,
        incidents_cli,
        reports,
        run_status,
        scorecard_asset,
    )

    parser = argparse.ArgumentParser(prog=prog, description=description)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in (
        home,
        dev,
        run_status,
        dead_letters_cli,
        incidents_cli,
        alert_inbox,
        scorecard_asset,
        reports,
    ):
        module.add_commands(subparsers)
    framework = set(subparsers.choices)
    for command in commands:
        if command.name in framework:
            raise ValueError(f"reliability_cli: {command.name!r} is a framework command; choose another name")
        command.add(subparsers)
    return parser


def reliability_cli(
    argv: Sequence[str] | None = None,
    *,
    definitions_module: str,
    llm: Callable[[], Any] | None = None,
    api_module: str | None = None,
    llm_responder: str | None = None,
    commands: Sequence[CLICommand] = (),
    prog: str = "reliability",
    description: str | None = None,
) -> int:
    """Parse ``argv`` and run the command; returns the exit code (a console script: ``sys.exit(...)``).

    ``definitions_module``: the code location (``status`` and ``report`` read its asset graph). ``llm``: a
    factory of the project's ``ResilientLLM`` (``dlq replay`` sends through it; None: the default store's
    queue can still be listed, shown and resolved). ``api_module``: run by ``dev --api`` with ``python -m``.
    ``llm_responder``: ``module:function`` the local fake model of ``dev`` answers with (``(request body)
    -> str | None``; None: a schema-valid stub).
    """
    from reliability_assets import alert_inbox, dev, incidents_cli, reports, scorecard_asset
    from reliability_assets.home import init_home, upgrade_store
    from reliability_assets.resources.paths import dagster_home

    args = _parser(prog, description, commands).parse_args(argv)
    os.environ["DAGSTER_HOME"] = str(dagster_home())  # one home for this process and the Dagster CLI
    for command in commands:
        if args.command == command.name:
            return command.run(args)
    if args.command == "init-home":
        print(init_home(postgres=args.postgres))
        return upgrade_store(postgres=args.postgres)
    if args.command == "dev":
        return dev.run(args, home=init_home(), api_module=api_module, llm_responder=llm_responder)
    if args.command == "status":
        from reliability_assets import run_status

        return run_status.run(args, defs=load_definitions(definitions_module))
    if args.command == "dlq":
        from reliability_assets import dead_letters_cli

        return dead_letters_cli.run(args, llm=llm() if llm is not None else None)
    if args.command == "incidents":
        return incidents_cli.run(args)
    if args.command == "alerts":
        return alert_inbox.run(args)
    if args.command == "report":
        return scorecard_asset.run(args, defs=load_definitions(definitions_module))
    return reports.run(args)
