"""``reliability dlq list|show|replay|resolve``: the queue the ``dead_letter_replay`` job reads."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from typing import Any


def add_commands(commands: Any) -> None:
    dlq = commands.add_parser("dlq", help="the dead-letter queue: list, show, replay, resolve")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = dlq_commands.add_parser("list")
    listing.add_argument(
        "--status", default="open", choices=["open", "in_flight", "replayed", "resolved", "all"]
    )
    listing.add_argument("--limit", type=int, default=100)
    dlq_commands.add_parser("show").add_argument("key")
    dlq_commands.add_parser("replay", help="default: every open entry").add_argument("keys", nargs="*")
    resolve = dlq_commands.add_parser("resolve", help="a person handled it")
    resolve.add_argument("key")
    resolve.add_argument("--note", required=True)


def run(args: argparse.Namespace, *, llm: Any | None) -> int:
    """``llm``: the project's ``ResilientLLM`` (a replay sends through it; its store holds the queue);
    None: the default store's queue (``RELIABILITY_STORE_URL``, else SQLite in DAGSTER_HOME), no replay."""
    from dagster import build_resources

    from reliability_assets.resources.store_resource import ReliabilityStoreResource

    if llm is None:
        return _act(args, ReliabilityStoreResource().store, llm=None)
    with build_resources({"llm": llm}) as resources:
        return _act(args, resources.llm.store, llm=resources.llm)


def _act(args: argparse.Namespace, store: Any, *, llm: Any | None) -> int:
    from tabulate import tabulate

    from reliability_assets.dead_letters import replay_entries

    if args.dlq_command == "list":
        entries = store.dead_letters(status=None if args.status == "all" else args.status, limit=args.limit)
        rows = [
            (e["key"], e["status"], e["source"], len(e["attempts"]), textwrap.shorten(e["reason"], 70))
            for e in entries
        ]
        print(tabulate(rows, headers=["key", "status", "source", "attempts", "reason"]) if rows else "empty")
    elif args.dlq_command == "show":
        entry = store.dead_letter_entry(args.key)
        if entry is None:
            print(f"no dead letter with key {args.key}", file=sys.stderr)
            return 2
        print(json.dumps(entry, indent=2, default=str))
    elif args.dlq_command == "replay":
        if llm is None:
            print("reliability dlq replay: no LLM to replay through", file=sys.stderr)
            return 2
        outcomes = replay_entries(llm, args.keys)
        table = tabulate([(r["key"], r["outcome"]) for r in outcomes], headers=["key", "outcome"])
        print(table if outcomes else "nothing to replay")
        return 0 if all(r["outcome"].startswith("served") for r in outcomes) else 1
    else:
        store.set_dead_letter_status(args.key, "resolved", args.note)
        print(f"{args.key}: resolved")
    return 0
