"""``reliability incidents list|show|review|resolve``: the incidents recorded from failed checks, in the
reliability store the environment names (``RELIABILITY_STORE_URL``, else ``DAGSTER_HOME``)."""

from __future__ import annotations

import argparse
import getpass
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reliability_assets.incidents import Incident, IncidentLog

STATUS_CHOICES = ("open", "mitigated", "action_failed", "resolved", "all")


def add_commands(subparsers: Any) -> None:
    """Add ``incidents`` to the ``reliability`` command's subparsers (dispatch with ``run(args)``)."""
    parser = subparsers.add_parser(
        "incidents", help="incidents from failed checks: list, show, review, resolve"
    )
    commands = parser.add_subparsers(dest="incidents_command", required=True)
    listing = commands.add_parser("list", help="newest first")
    listing.add_argument("--status", default="all", choices=STATUS_CHOICES)
    listing.add_argument("--asset", help="only this asset, e.g. customer_features")
    listing.add_argument("--limit", type=int, default=100)
    commands.add_parser("show", help="one incident: timeline, actions, evidence, triage").add_argument("id")
    review = commands.add_parser("review", help="store the post-incident review and print it as markdown")
    review.add_argument("id")
    review.add_argument("--failure-mode", help="default: from the check name and description")
    review.add_argument("--root-cause", help="default: from the triage, else the evidence")
    review.add_argument("--remediation", help="default: from the actions taken")
    review.add_argument("--author", help="default: the current user")
    review.add_argument("--out", type=Path, help="write the markdown to this file instead of printing it")
    resolve = commands.add_parser("resolve", help="a person resolved it")
    resolve.add_argument("id")
    resolve.add_argument("--note", required=True, help="what was done")


def run(args: argparse.Namespace) -> int:
    """0 when done, 2 when the incident does not exist."""
    from reliability_assets.incidents import IncidentLog, IncidentNotFound
    from reliability_assets.resources.store import ReliabilityStore

    log = IncidentLog(ReliabilityStore())
    try:
        return _COMMANDS[args.incidents_command](log, args)
    except IncidentNotFound as error:
        print(error.args[0], file=sys.stderr)
        return 2


def _list(log: IncidentLog, args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from reliability_assets.incidents import format_duration, utc

    status = None if args.status == "all" else args.status
    found = log.list(status=status, asset=args.asset, limit=args.limit)
    if not found:
        print("no incidents")
        return 0

    def after(incident: Incident, at: float | None) -> str:
        return format_duration(at - incident.opened_at) if at is not None else ""

    rows = []
    for i in found:
        since = [after(i, i.detected_at), after(i, i.mitigated_at), after(i, i.resolved_at)]
        rows.append(
            [i.id, i.status, i.severity, f"{i.asset}:{i.check}", i.occurrences, utc(i.opened_at), *since]
        )
    headers = ["id", "status", "severity", "check", "n", "first failure (UTC)", "detect", "mitigate"]
    print(tabulate(rows, headers=[*headers, "resolve"], disable_numparse=True))
    return 0


def _show(log: IncidentLog, args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from reliability_assets.incidents import format_duration, utc

    i = log.get(args.id)
    times = [("first failure", i.opened_at), ("detected", i.detected_at), ("mitigated", i.mitigated_at)]
    times += [("resolved", i.resolved_at), ("last failure", i.last_failed_at)]
    fields = [("id", i.id), ("asset", i.asset), ("check", i.check), ("severity", i.severity)]
    fields += [("status", i.status + (f" (by {i.resolved_by})" if i.resolved_by else ""))]
    fields += [("occurrences", str(i.occurrences)), ("runs", f"{i.first_run_id} .. {i.last_run_id}")]
    fields += [
        (name, f"{utc(at)} UTC (+{format_duration(at - i.opened_at)})")
        for name, at in times
        if at is not None
    ]
    print(tabulate(fields, tablefmt="plain", disable_numparse=True))
    if i.actions:
        actions = [
            (utc(a["at"]), a["action"], a.get("run_id") or "", textwrap.shorten(a.get("note") or "", 80))
            for a in i.actions
        ]
        print("\n" + tabulate(actions, headers=["at (UTC)", "action", "run", "note"], disable_numparse=True))
    evidence = i.evidence.removeprefix(i.description)  # the sensor's evidence starts with the description
    for title, text in (("description", i.description), ("evidence", evidence)):
        if text.strip():
            print(f"\n{title}:\n{textwrap.indent(text.strip(), '  ')}")
    if i.triage:
        print(f"\ntriage ({i.triage_tier}):\n{textwrap.indent(i.triage.strip(), '  ')}")
    return 0


def _review(log: IncidentLog, args: argparse.Namespace) -> int:
    author = args.author or _user()
    fields = {"failure_mode": args.failure_mode, "root_cause": args.root_cause}
    review = log.review(args.id, **fields, remediation=args.remediation, author=author)
    markdown = log.review_markdown(review.incident_id)
    if args.out is None:
        print(markdown, end="")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown, encoding="utf-8")
    print(f"{review.incident_id}: review written to {args.out}")
    return 0


def _resolve(log: IncidentLog, args: argparse.Namespace) -> int:
    before = log.get(args.id)
    if before.status == "resolved":
        print(f"{before.id} was already resolved ({before.resolved_by}); nothing changed")
        return 0
    after = log.resolve_by_id(before.id, note=args.note, by="person")
    print(f"{after.id}: resolved")
    return 0


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (e.g. a container with an unknown uid)
        return "reliability-assets"


_COMMANDS = {"list": _list, "show": _show, "review": _review, "resolve": _resolve}
