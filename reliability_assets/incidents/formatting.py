"""How incidents read in reports, notes and the CLI: durations, UTC times, actions, shortened text."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reliability_assets.incidents.records import Incident


def format_duration(seconds: float) -> str:
    """``3725`` -> "1h 2m 5s"; ``65`` -> "1m 5s"; ``5`` -> "5s"."""
    total = round(max(seconds, 0.0))
    hours, minutes, secs = total // 3600, total % 3600 // 60, total % 60
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def utc(at: float | None) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S") if at is not None else "—"


def since_opened(incident: Incident, at: float | None) -> str:
    return format_duration(at - incident.opened_at) if at is not None else "not yet"


def action_text(action: dict[str, Any]) -> str:
    text = str(action.get("action", "?"))
    text += f" (run {action['run_id']})" if action.get("run_id") else ""
    text += f" (alert {action['alert_id']})" if action.get("alert_id") else ""
    return text + (f": {action['note']}" if action.get("note") else "")


def actions_summary(incident: Incident) -> str:
    """What was done, oldest first (alerts left out: they are not remediation)."""
    return "; ".join(action_text(a) for a in incident.actions if a.get("action") != "alerted")


def shorten(text: str, width: int) -> str:
    return textwrap.shorten(" ".join(text.split()), width, placeholder=" …") or "(no description)"
