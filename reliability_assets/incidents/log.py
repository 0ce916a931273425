"""The incident log: failed asset checks grouped per (asset, check), what was done, and the timestamps MTTD
and MTTR come from. A failure joins the newest unresolved incident of its (asset, check) when within
``window_s`` of its failures, else opens one; idempotent per evaluation, under a row lock on a per-(asset,
check) pointer so two sensor processes never open two incidents. open -> mitigated -> resolved (or open ->
resolved); open -> action_failed when an automatic action did not take effect (a person must act);
each timestamp set once; a mitigated incident that fails again is open again. A transition whose evidence
is older than the incident's last failure is stale and changes nothing, and the timeline only moves
forward, so a late tick cannot make an incident flap. What is stored is in ``records``; triage and the
post-incident review in ``triage`` and ``review``.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from sqlalchemy import Connection, select

from reliability_assets.incidents.modes import declared_mode, with_declared_mode
from reliability_assets.incidents.records import (
    STATUSES,
    TABLES,
    By,
    Incident,
    action_entry,
    appended,
    current_incident,
    evaluation_key,
    find_incident,
    incident_evaluations,
    incident_heads,
    incident_of,
    incidents,
)
from reliability_assets.incidents.review import Review, review_markdown, save_review
from reliability_assets.resources.store import ReliabilityStore, ensure_tables

_SEVERITY_RANK = {"WARN": 1, "ERROR": 2}


class IncidentLog:
    """Incidents in the reliability store (SQLite or PostgreSQL). ``window_s``: how long after its last
    failure an unresolved incident still takes new failures of its (asset, check)."""

    def __init__(self, store: ReliabilityStore | None = None, *, window_s: float = 6 * 3600) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0, got {window_s}")
        self.store = store or ReliabilityStore()
        self.window_s = window_s
        ensure_tables(self.store, *TABLES)

    def record_failure(
        self,
        *,
        asset: str,
        check: str,
        severity: str,
        failed_at: float,
        run_id: str,
        evaluation_id: str,
        description: str,
        evidence: str = "",
        failure_mode: str | None = None,
    ) -> tuple[Incident, bool]:
        """Add a failed evaluation to its incident (or open one). Returns (incident, created).
        ``failure_mode``: the one the check declares (``modes``), kept with the evidence; a failure
        recorded without one keeps the incident's."""
        key = evaluation_key(asset, check, evaluation_id)
        with self.store.transaction() as c:
            self._lock_head(c, asset, check)
            seen = c.execute(
                select(incident_evaluations.c.incident_id).where(incident_evaluations.c.key == key)
            )
            if (known := seen.scalar()) is not None:
                return self._get(c, known), False
            current = current_incident(c, asset, check)
            window = self.window_s
            if current and current.opened_at - window <= failed_at <= current.last_failed_at + window:
                values: dict[str, Any] = {"occurrences": current.occurrences + 1}
                if _SEVERITY_RANK.get(severity, 0) > _SEVERITY_RANK.get(current.severity, 0):
                    values["severity"] = severity
                if failed_at < current.opened_at:  # recorded out of order: the first failure moves back
                    values |= {"opened_at": failed_at, "first_run_id": run_id}
                if failed_at >= current.last_failed_at:
                    values |= {"last_failed_at": failed_at, "last_run_id": run_id, "description": description}
                    mode = failure_mode or declared_mode(current.evidence)
                    values["evidence"] = with_declared_mode(evidence or current.evidence, mode)
                    if current.status == "mitigated":  # the mitigation did not hold
                        entry = action_entry("reopened", failed_at, run_id, "failed again after mitigation")
                        values |= {"status": "open", "actions": appended(current.actions, entry)}
                self.store.update_row(c, incidents, current.id, values)
                incident_id, created = current.id, False
            else:
                incident_id, created = f"INC-{secrets.token_hex(4)}", True
                row: dict[str, Any] = {"id": incident_id, "asset": asset, "check_name": check}
                row |= {"severity": severity, "status": "open", "opened_at": failed_at, "occurrences": 1}
                row |= {"last_failed_at": failed_at, "first_run_id": run_id, "last_run_id": run_id}
                row |= {"description": description, "actions": [], "triage": ""}
                row["evidence"] = with_declared_mode(evidence, failure_mode)
                c.execute(incidents.insert().values({**row, "triage_tier": "", "created_at": time.time()}))
            occurrence = dict(key=key, incident_id=incident_id, evaluation_id=evaluation_id, run_id=run_id)
            c.execute(incident_evaluations.insert().values({**occurrence, "failed_at": failed_at}))
            self.store.update_row(c, incident_heads, f"{asset}:{check}", {"incident_id": incident_id})
            return self._get(c, incident_id), created

    def was_recorded(self, *, asset: str, check: str, evaluation_id: str) -> bool:
        """Whether this evaluation is already in an incident (a re-read after a restart is not news)."""
        with self.store.engine.connect() as c:
            key = evaluation_key(asset, check, evaluation_id)
            query = select(incident_evaluations.c.key).where(incident_evaluations.c.key == key)
            return c.execute(query).first() is not None

    def detected(self, incident_id: str, *, at: float, alert_id: str | None = None) -> Incident:
        """The first detection (an alert sent) sets ``detected_at``; later ones change nothing."""
        with self.store.transaction() as c:
            incident = self._get(c, incident_id, lock=True)
            if incident.detected_at is None:
                entry = {**action_entry("alerted", at, None, ""), "alert_id": alert_id}
                values = {"detected_at": at, "actions": appended(incident.actions, entry)}
                self.store.update_row(c, incidents, incident.id, values)
            return self._get(c, incident.id)

    def action_taken(
        self,
        incident_id: str,
        *,
        action: str,
        run_id: str | None = None,
        at: float,
        note: str = "",
        key: str | None = None,
    ) -> Incident:
        """Append an action. With ``key``, once: a retried tick recording the same action changes nothing."""
        with self.store.transaction() as c:
            incident = self._get(c, incident_id, lock=True)
            if key is not None and any(a.get("key") == key for a in incident.actions):
                return incident
            entry = action_entry(action, at, run_id, note) | ({"key": key} if key is not None else {})
            self.store.update_row(c, incidents, incident.id, {"actions": appended(incident.actions, entry)})
            return self._get(c, incident.id)

    def mitigate(self, *, asset: str, check: str, at: float, run_id: str, note: str) -> Incident | None:
        """open -> mitigated. None when the (asset, check) has no unresolved incident."""
        with self.store.transaction() as c:
            self._lock_head(c, asset, check)
            current = current_incident(c, asset, check)
            return None if current is None else self._mitigate(c, current, at, run_id, note)

    def mitigate_by_id(self, incident_id: str, *, at: float, run_id: str | None, note: str) -> Incident:
        """open | action_failed -> mitigated, after a remediation's effect was verified."""
        with self.store.transaction() as c:
            return self._mitigate(c, self._locked(c, incident_id), at, run_id, note)

    def remediation_failed(self, incident_id: str, *, at: float, run_id: str | None, note: str) -> Incident:
        """open | mitigated -> action_failed: the automatic action did not take effect."""
        with self.store.transaction() as c:
            incident = self._locked(c, incident_id)
            if incident.status == "resolved":
                return incident
            entry = action_entry("remediation failed", at, run_id, note)
            values = {"status": "action_failed", "actions": appended(incident.actions, entry)}
            self.store.update_row(c, incidents, incident.id, values)
            return self._get(c, incident.id)

    def resolve(
        self, *, asset: str, check: str, at: float, run_id: str | None, note: str, by: By = "auto"
    ) -> Incident | None:
        """open|mitigated -> resolved. None when the (asset, check) has no unresolved incident."""
        with self.store.transaction() as c:
            self._lock_head(c, asset, check)
            current = current_incident(c, asset, check)
            if current is not None and at < current.last_failed_at:
                return current  # stale: a pass older than the last failure proves nothing
            return None if current is None else self._resolve(c, current, at, run_id, note, by)

    def resolve_by_id(
        self, incident_id: str, *, note: str, by: By = "person", at: float | None = None
    ) -> Incident:
        """Resolve one incident (a resolved one is returned unchanged)."""
        with self.store.transaction() as c:
            incident = self._get(c, incident_id, lock=True)
            if incident.status == "resolved":
                return incident
            return self._resolve(c, incident, time.time() if at is None else at, None, note, by)

    def set_triage(self, incident_id: str, *, text: str, tier: str) -> Incident:
        with self.store.transaction() as c:
            incident = self._get(c, incident_id, lock=True)
            self.store.update_row(c, incidents, incident.id, {"triage": text, "triage_tier": tier})
            return self._get(c, incident.id)

    def get(self, incident_id: str) -> Incident:
        with self.store.engine.connect() as c:
            return self._get(c, incident_id)

    def list(
        self, *, status: str | None = None, asset: str | None = None, limit: int = 100
    ) -> list[Incident]:
        """Newest first (by first failure)."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)} or None, got {status!r}")
        query = select(incidents).order_by(incidents.c.opened_at.desc(), incidents.c.created_at.desc())
        if status is not None:
            query = query.where(incidents.c.status == status)
        if asset is not None:
            query = query.where(incidents.c.asset == asset)
        with self.store.engine.connect() as c:
            return [incident_of(row) for row in c.execute(query.limit(limit)).mappings()]

    def open_for(self, *, asset: str, check: str) -> Incident | None:
        """The newest unresolved incident of (asset, check)."""
        with self.store.engine.connect() as c:
            return current_incident(c, asset, check)

    def review(
        self,
        incident_id: str,
        *,
        failure_mode: str | None = None,
        root_cause: str | None = None,
        remediation: str | None = None,
        author: str = "reliability-assets",
    ) -> Review:
        """Store the post-incident review. A field not given keeps what a person wrote earlier, else is
        derived from the incident again (so a review made while it was open catches up later)."""
        given = {"failure_mode": failure_mode, "root_cause": root_cause, "remediation": remediation}
        return save_review(self, incident_id, given=given, author=author)

    def review_markdown(self, incident_id: str) -> str:
        """The review as markdown: timeline with time to detect/mitigate/resolve, actions, triage, causes."""
        return review_markdown(self, incident_id)

    # --- internals ----------------------------------------------------------------------------------

    def _lock_head(self, c: Connection, asset: str, check: str) -> None:
        self.store.locked_row(c, incident_heads, f"{asset}:{check}", {"incident_id": None})

    def _locked(self, c: Connection, incident_id: str) -> Incident:
        """The incident, read again once its (asset, check) head is locked (as every transition does)."""
        incident = self._get(c, incident_id)
        self._lock_head(c, incident.asset, incident.check)
        return self._get(c, incident_id)

    def _get(self, c: Connection, incident_id: str, *, lock: bool = False) -> Incident:
        return find_incident(c, incident_id, for_update=lock and not self.store.is_sqlite)

    def _mitigate(
        self, c: Connection, incident: Incident, at: float, run_id: str | None, note: str
    ) -> Incident:
        if incident.status not in ("open", "action_failed") or at < incident.last_failed_at:
            return incident  # already mitigated or resolved, or the evidence predates the last failure
        values = {"status": "mitigated", "mitigated_at": incident.mitigated_at or at}
        values["actions"] = appended(incident.actions, action_entry("mitigated", at, run_id, note))
        self.store.update_row(c, incidents, incident.id, values)
        return self._get(c, incident.id)

    def _resolve(
        self, c: Connection, incident: Incident, at: float, run_id: str | None, note: str, by: By
    ) -> Incident:
        if by not in ("auto", "person"):
            raise ValueError(f"resolved_by must be 'auto' or 'person', got {by!r}")
        values = {"status": "resolved", "resolved_at": at, "resolved_by": by}
        values["actions"] = appended(
            incident.actions, {**action_entry("resolved", at, run_id, note), "by": by}
        )
        self.store.update_row(c, incidents, incident.id, values)
        return self._get(c, incident.id)
