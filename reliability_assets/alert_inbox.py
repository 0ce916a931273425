"""The alert inbox, where people look: an asset in the UI and ``reliability alerts`` in a terminal."""

import argparse
import textwrap
from datetime import UTC, datetime

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, asset

from reliability_assets.policy import COMPUTE_RETRY, OWNERS
from resources.redaction import redact_metadata
from resources.reliability import ReliabilityStoreResource

INBOX_LIMIT = 200
COLUMNS = ["at", "severity", "asset", "check", "status", "repeats", "incident", "title", "run_url"]


def inbox_frame(reliability: ReliabilityStoreResource, *, limit: int = INBOX_LIMIT) -> pd.DataFrame:
    from reliability_assets.alerts import AlertRouter

    rows = [
        {
            "at": datetime.fromtimestamp(e.created_at, UTC).replace(tzinfo=None),
            "severity": e.alert.severity,
            "asset": e.alert.asset,
            "check": e.alert.check,
            "status": e.status,
            "repeats": e.repeats,
            "incident": e.alert.incident_id or "",
            "title": e.alert.title,
            "run_url": e.alert.run_url or "",
        }
        for e in AlertRouter(reliability.store).inbox(limit=limit)
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


@asset(
    group_name="reliability",
    kinds={"python", "pandas", "duckdb"},
    owners=OWNERS,
    retry_policy=COMPUTE_RETRY,
    tags={"layer": "reliability"},
)
def alert_inbox(context: AssetExecutionContext, reliability: ReliabilityStoreResource) -> pd.DataFrame:
    """The latest alerts the remediation sensors sent (the local inbox, always on), newest first."""
    frame = inbox_frame(reliability)
    shown = frame.head(20)[["at", "severity", "asset", "check", "status", "incident", "title"]]
    context.add_output_metadata(
        redact_metadata(
            {
                "alerts": len(frame),
                "errors": int((frame["severity"] == "ERROR").sum()),
                "latest": MetadataValue.md(shown.to_markdown(index=False) if len(shown) else "no alerts"),
            }
        )
    )
    return frame


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
            datetime.fromtimestamp(e.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S"),
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
