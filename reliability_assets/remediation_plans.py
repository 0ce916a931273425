"""Remediation plans: what the check-failure sensor decided for one failing run, and what became of it.

One row per (triggering run, action, job). The sensor writes it when the triggering run has ended and the
plan is decided, and moves it on as evidence arrives, so a restarted daemon, a retried tick or a second
sensor process re-reads the row instead of deciding again:

    requested  -> launched   the run it asked for exists (only then is the action recorded on incidents)
    launched   -> verified   that run succeeded and its effect is checked (latest materialization / champion)
    launched   -> failed     that run failed, or succeeded without the effect
    requested  -> failed     the run was never created
    refused, unnecessary     final at once: a bound was hit / nothing to undo

Bounds count rows per asset name (a JSON list per row, compared exactly), whatever run tags hold.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import select

from reliability_assets.resources.store import ReliabilityStore, ensure_tables, metadata

PlanStatus = Literal["requested", "launched", "verified", "failed", "refused", "unnecessary"]
OPEN: tuple[PlanStatus, ...] = ("requested", "launched")
#: Statuses that used an automatic action (what the bound counts).
COUNTED: tuple[PlanStatus, ...] = ("requested", "launched", "verified", "failed")

remediation_plans = sa.Table(
    "remediation_plans",
    metadata,
    sa.Column("key", sa.String(300), primary_key=True),  # also the RunRequest's run_key
    sa.Column("trigger_run_id", sa.String(64), nullable=False, index=True),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("job", sa.String(200), nullable=False),
    sa.Column("assets", sa.JSON, nullable=False),  # the assets whose checks failed (what the bound counts)
    sa.Column("checks", sa.JSON, nullable=False),  # "asset:check" that failed in the triggering run
    sa.Column("incident_ids", sa.JSON, nullable=False),
    sa.Column("target", sa.String(200)),  # a rollback's version
    sa.Column("run_id", sa.String(64)),  # the remediation run, once it exists
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index("ix_remediation_plans_status", "status"),
)


@dataclass(frozen=True, slots=True)
class Plan:
    key: str
    trigger_run_id: str
    action: str
    job: str
    assets: tuple[str, ...]
    checks: tuple[str, ...]
    incident_ids: tuple[str, ...]
    status: PlanStatus
    target: str | None = None
    run_id: str | None = None
    note: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0


class PlanBook:
    """The plans in the reliability store (SQLite or PostgreSQL)."""

    def __init__(self, store: ReliabilityStore) -> None:
        self.store = store
        ensure_tables(store, remediation_plans)

    def add(
        self,
        *,
        key: str,
        trigger_run_id: str,
        action: str,
        job: str,
        assets: Sequence[str],
        checks: Sequence[str],
        incident_ids: Sequence[str],
        status: PlanStatus,
        target: str | None = None,
        note: str = "",
    ) -> Plan:
        """Insert the plan unless one with ``key`` exists (then that one is returned unchanged): a retried
        tick or a second sensor process gets the plan decided first."""
        now = time.time()
        row: dict[str, Any] = dict(trigger_run_id=trigger_run_id, action=action, job=job, assets=list(assets))
        row |= dict(checks=list(checks), incident_ids=list(incident_ids), target=target, run_id=None)
        row |= dict(status=status, note=note, created_at=now, updated_at=now)
        with self.store.transaction() as connection:
            return _plan(self.store.locked_row(connection, remediation_plans, key, row))

    def move(
        self,
        key: str,
        status: PlanStatus,
        *,
        expect: Sequence[PlanStatus],
        note: str = "",
        run_id: str | None = None,
    ) -> Plan | None:
        """Move the plan to ``status`` if it is in one of ``expect`` (compare-and-set: of two sensor
        processes only one moves it); returns the moved plan, or None when it was not there."""
        values: dict[str, Any] = {"status": status, "updated_at": time.time()}
        values |= {"note": note} if note else {}
        values |= {"run_id": run_id} if run_id else {}
        table = remediation_plans
        with self.store.transaction() as connection:
            moved = connection.execute(
                table.update().where(table.c.key == key, table.c.status.in_(list(expect))).values(values)
            )
            if moved.rowcount != 1:
                return None
            return _plan(connection.execute(select(table).where(table.c.key == key)).mappings().one())

    def get(self, key: str) -> Plan | None:
        with self.store.engine.connect() as connection:
            row = connection.execute(select(remediation_plans).where(remediation_plans.c.key == key))
            found = row.mappings().first()
        return _plan(found) if found is not None else None

    def open(self) -> list[Plan]:
        """Plans still waiting for their run or its outcome, oldest first."""
        table = remediation_plans
        query = select(table).where(table.c.status.in_(list(OPEN))).order_by(table.c.created_at)
        with self.store.engine.connect() as connection:
            return [_plan(row) for row in connection.execute(query).mappings()]

    def list(self, *, trigger_run_id: str | None = None, limit: int = 200) -> list[Plan]:
        """Newest first."""
        table = remediation_plans
        query = select(table).order_by(table.c.created_at.desc()).limit(limit)
        if trigger_run_id is not None:
            query = query.where(table.c.trigger_run_id == trigger_run_id)
        with self.store.engine.connect() as connection:
            return [_plan(row) for row in connection.execute(query).mappings()]

    def actions_in_window(self, asset: str, *, window_s: float, now: float | None = None) -> int:
        """Automatic actions that covered ``asset`` in the last ``window_s`` seconds."""
        since = (time.time() if now is None else now) - window_s
        table = remediation_plans
        query = select(table.c.assets).where(table.c.created_at >= since, table.c.status.in_(list(COUNTED)))
        with self.store.engine.connect() as connection:
            return sum(asset in (assets or []) for (assets,) in connection.execute(query))


def _plan(row: Any) -> Plan:
    values = dict(row)
    for name in ("assets", "checks", "incident_ids"):
        values[name] = tuple(values[name] or ())
    return Plan(**values)
