"""The alert inbox, where people look: an observed asset in the UI and ``reliability alerts`` in a terminal.

Why an external asset observed by the sensor, not an ``@asset``: an inbox is a view of the reliability
store, which the sensors write between and during runs. As an ``@asset`` it was only as current as its
last materialization, and *Materialize all* built it first (it has no upstream), so it said "no alerts"
while that very run raised one. ``alert_inbox`` is now an ``AssetSpec`` (not executable, so no job and no
*Materialize all* includes it), and the remediation sensor records a runless ``AssetObservation`` on it
whenever the inbox changed (a new alert or a standing entry raised or cleared; one cheap query a tick
tells). The asset page's latest observation is the inbox as of that change: counts, the standing entries
and the latest alerts as a table, without anyone materializing anything. ``@observable_source_asset`` was
the other candidate; it needs a run (or a schedule) to observe, i.e. a stale view again.
"""

from __future__ import annotations

import argparse
import textwrap
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dagster import (
    AssetKey,
    AssetObservation,
    AssetSpec,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
)

from reliability_assets.resources.redaction import redact_metadata

if TYPE_CHECKING:
    from reliability_assets.alerts import AlertRouter, InboxEntry

INBOX_KEY = AssetKey("alert_inbox")
#: Alerts shown in the observation's table (the CLI and the store keep every one).
SHOWN = 20

alert_inbox = AssetSpec(
    INBOX_KEY,
    group_name="reliability",
    kinds={"python"},
    tags={"layer": "reliability"},
    description="The alerts the remediation sensors sent (the local inbox, always on), newest first, and "
    "the standing entries (degraded states such as no model configured, shown once). Observed by the "
    "check_failure_remediation sensor whenever the inbox changes: nothing to materialize. In a terminal: "
    "reliability alerts list.",
)


def utc_text(at: float) -> str:
    """A timestamp as the inbox and the health board show it (UTC, to the second)."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


def md_cell(text: str | None, width: int = 120) -> str:
    """``text`` on one line, shortened, safe inside a markdown table cell."""
    return textwrap.shorten(text.replace("|", "/").replace("\n", " "), width) if text else ""


def inbox_markdown(entries: list[InboxEntry]) -> str:
    if not entries:
        return "no alerts"
    lines = [
        "| at (UTC) | severity | check | status | incident | title | run |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        run = f"[{e.alert.run_id[:8]}]({e.alert.run_url})" if e.alert.run_url and e.alert.run_id else ""
        lines.append(
            f"| {utc_text(e.created_at)} | {e.alert.severity} | {e.alert.asset}:{e.alert.check} | "
            f"{e.status} | {e.alert.incident_id or ''} | {md_cell(e.alert.title)} | {run} |"
        )
    return "\n".join(lines)


INBOX_COLUMNS = ("at (UTC)", "severity", "check", "status", "incident", "title", "run")


def inbox_table(entries: list[InboxEntry]) -> MetadataValue:
    """The latest alerts as a Dagster table: the asset page shows it without a click (markdown longer
    than a screenful hides behind *[Show Markdown]*)."""
    records = [
        TableRecord(
            dict(
                zip(
                    INBOX_COLUMNS,
                    (
                        utc_text(e.created_at),
                        e.alert.severity,
                        f"{e.alert.asset}:{e.alert.check}",
                        e.status,
                        e.alert.incident_id or "",
                        md_cell(e.alert.title),
                        e.alert.run_url or "",
                    ),
                    strict=True,
                )
            )
        )
        for e in entries
    ]
    schema = TableSchema(columns=[TableColumn(name, "string") for name in INBOX_COLUMNS])
    return MetadataValue.table(records=records, schema=schema)


def inbox_observation(alerts: AlertRouter) -> AssetObservation:
    """The inbox now, as a runless observation of ``alert_inbox``."""
    latest = alerts.inbox(limit=SHOWN)
    standing = alerts.standing_entries()
    seq, _ = alerts.version()
    return AssetObservation(
        asset_key=INBOX_KEY,
        metadata=redact_metadata(
            {
                "alerts": inbox_table(latest),
                "alerts_shown": len(latest),
                "errors_shown": sum(e.alert.severity == "ERROR" for e in latest),
                "standing": len(standing),
                "standing_entries": MetadataValue.md(
                    "\n".join(f"- **{e.alert.asset}:{e.alert.check}** {e.alert.title}" for e in standing)
                    or "none"
                ),
                "latest": MetadataValue.md(inbox_markdown(latest)),
                "inbox_seq": seq,
            }
        ),
    )


def add_commands(commands: argparse._SubParsersAction) -> None:
    alerts = commands.add_parser("alerts", help="the alert inbox: list; retry pending deliveries")
    sub = alerts.add_subparsers(dest="alerts_command", required=True)
    listing = sub.add_parser("list", help="newest first")
    listing.add_argument("--asset")
    listing.add_argument("--limit", type=int, default=50)
    sub.add_parser("retry", help="deliver what failed earlier to the configured channels")


def run(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from reliability_assets.alerts import AlertRouter

    router = AlertRouter()
    if args.alerts_command == "retry":
        print(f"delivered {router.retry_pending()} pending alert(s)")
        return 0
    entries = router.inbox(limit=args.limit, asset=args.asset)
    rows = [
        (
            utc_text(e.created_at),
            e.alert.severity,
            f"{e.alert.asset}:{e.alert.check}",
            e.status,
            e.alert.incident_id or "",
            textwrap.shorten(e.alert.title, 80),
        )
        for e in entries
    ]
    headers = ["at (UTC)", "severity", "check", "status", "incident", "title"]
    print(tabulate(rows, headers=headers) if rows else "no alerts")
    return 0
