"""What an incident is, as stored: the four tables (registered on the reliability store's ``metadata``,
so the migrations and ``ensure_tables`` know them; names and sizes match the deployed schema), the
``Incident`` a row becomes, and how it is read and its actions appended. ``log.IncidentLog`` changes them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import Connection, select

from reliability_assets.resources.redaction import RedactedMessage
from reliability_assets.resources.store import metadata

#: ``action_failed``: an automatic remediation did not take effect (a person must act). Status names fit the
#: deployed column (16 characters).
Status = Literal["open", "mitigated", "action_failed", "resolved"]
By = Literal["auto", "person"]
STATUSES: tuple[Status, ...] = ("open", "mitigated", "action_failed", "resolved")


def _columns(kind: Any, *names: str, nullable: bool = False) -> list[sa.Column]:
    return [sa.Column(name, kind, nullable=nullable) for name in names]


incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),
    *_columns(sa.String(400), "asset", "check_name"),
    *_columns(sa.String(16), "severity", "status"),
    *_columns(sa.Float, "opened_at", "last_failed_at", "created_at"),  # created_at: recorded (wall clock)
    *_columns(sa.Float, "detected_at", "mitigated_at", "resolved_at", nullable=True),
    sa.Column("resolved_by", sa.String(16)),
    sa.Column("occurrences", sa.Integer, nullable=False),
    *_columns(sa.String(200), "first_run_id", "last_run_id", "triage_tier"),
    *_columns(sa.Text, "description", "evidence", "triage"),
    sa.Column("actions", sa.JSON, nullable=False),
    sa.Index("ix_incidents_asset_check_status", "asset", "check_name", "status"),
    sa.Index("ix_incidents_opened_at", "opened_at"),
)
incident_heads = sa.Table(  # one row per "asset:check", locked while its incidents change
    "incident_heads",
    metadata,
    sa.Column("key", sa.String(610), primary_key=True),
    sa.Column("incident_id", sa.String(16)),  # the newest incident of the (asset, check)
)
incident_evaluations = sa.Table(  # the incident each evaluation went to: a repeat changes nothing
    "incident_evaluations",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),  # sha256 of asset, check and evaluation id
    *_columns(sa.String(200), "incident_id", "evaluation_id", "run_id"),
    sa.Column("failed_at", sa.Float, nullable=False),
)
incident_reviews = sa.Table(
    "incident_reviews",
    metadata,
    sa.Column("incident_id", sa.String(16), primary_key=True),
    *_columns(sa.Text, "failure_mode", "root_cause", "remediation", "author"),
    sa.Column("derived", sa.JSON, nullable=False),  # fields derived from the incident, refreshed on review
    sa.Column("updated_at", sa.Float, nullable=False),
)
TABLES = (incidents, incident_heads, incident_evaluations, incident_reviews)


class IncidentNotFound(RedactedMessage, KeyError):
    """No incident with that id (the message says where to find the ids)."""


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    asset: str
    check: str
    severity: str
    status: Status
    opened_at: float  # first failure
    last_failed_at: float
    detected_at: float | None
    mitigated_at: float | None
    resolved_at: float | None
    resolved_by: By | None
    occurrences: int
    first_run_id: str
    last_run_id: str
    description: str
    evidence: str
    actions: tuple[dict[str, Any], ...]  # {"action", "at", "run_id", "note"}, oldest first
    triage: str
    triage_tier: str


def incident_of(row: Any) -> Incident:
    values = {k: v for k, v in row.items() if k not in ("check_name", "created_at", "actions")}
    return Incident(**values, check=row["check_name"], actions=tuple(row["actions"]))


def evaluation_key(asset: str, check: str, evaluation_id: str) -> str:
    """The key of ``incident_evaluations``: one evaluation goes to one incident, once."""
    return hashlib.sha256(f"{asset}\x00{check}\x00{evaluation_id}".encode()).hexdigest()


def find_incident(c: Connection, incident_id: str, *, for_update: bool = False) -> Incident:
    """By id, in any case (``inc-1A2B3C4D`` too); ``for_update``: row-locked (PostgreSQL)."""
    wanted = incident_id.strip()
    wanted = "INC-" + wanted[4:].lower() if wanted.upper().startswith("INC-") else wanted
    query = select(incidents).where(incidents.c.id == wanted)
    row = c.execute(query.with_for_update() if for_update else query).mappings().first()
    if row is None:
        raise IncidentNotFound(
            f"no incident {incident_id!r} (ids look like INC-1a2b3c4d: `reliability incidents list`)"
        )
    return incident_of(row)


def current_incident(c: Connection, asset: str, check: str) -> Incident | None:
    """The newest unresolved incident of (asset, check)."""
    query = select(incidents).where(
        incidents.c.asset == asset, incidents.c.check_name == check, incidents.c.status != "resolved"
    )
    query = query.order_by(incidents.c.opened_at.desc(), incidents.c.created_at.desc()).limit(1)
    row = c.execute(query).mappings().first()
    return incident_of(row) if row else None


def action_entry(action: str, at: float, run_id: str | None, note: str) -> dict[str, Any]:
    return {"action": action, "at": at, "run_id": run_id, "note": note}


def appended(actions: Any, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The timeline only moves forward: an entry never goes before the one recorded last."""
    last = max((float(a.get("at") or 0.0) for a in actions), default=entry["at"])
    return [*actions, {**entry, "at": max(entry["at"], last)}]
