"""What the remediation sensor did, on the failing asset's own timeline: one runless ``AssetObservation``
per event (alerted, an incident opened or joined, a fallback or rollback planned, launched, verified,
failed or refused by its bound, a standing degraded state raised or cleared), so the asset's Events tab
says what happened and why, with links to the runs.

The sensor emits an observation exactly where the reliability store records the event for the first time
(a new alert, a plan added, a plan moved): the store's idempotency is the observation's, so a retried tick
or a lost cursor records nothing twice. The daemon writes a tick's events after the tick (at most once: a
daemon killed between the store write and the event write loses the observation, never the action).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from dagster import AssetKey, AssetObservation, MetadataValue

from reliability_assets.resources.redaction import redact_metadata

#: The metadata key that says what happened (filter the Events tab by it).
EVENT_KEY = "reliability/event"


UI_URL_ENV = "RELIABILITY_UI_URL"


def run_url(run_id: str) -> str:
    """The run's page in the Dagster UI (``RELIABILITY_UI_URL``, default the local ``dagster dev``)."""
    return f"{os.environ.get(UI_URL_ENV, 'http://127.0.0.1:3000').rstrip('/')}/runs/{run_id}"


def observation(
    asset: str,
    *,
    event: str,
    why: str,
    checks: Sequence[str] = (),
    severity: str | None = None,
    incident_ids: Sequence[str] = (),
    trigger_run_id: str | None = None,
    remediation_run_id: str | None = None,
    action: str | None = None,
    evidence: str | None = None,
    alert_id: str | None = None,
) -> AssetObservation:
    """One event on ``asset``'s timeline. ``checks``: "asset:check" names; ``why``: the sentence a person
    reads; ``evidence``: the failure's own words (the check's description and tables)."""
    meta: dict[str, object] = {EVENT_KEY: event, "why": why}
    if checks:
        meta["checks"] = ", ".join(checks)
    if severity:
        meta["severity"] = severity
    if action:
        meta["action"] = action
    if incident_ids:
        meta["incident"] = ", ".join(incident_ids)
    if alert_id:
        meta["alert"] = alert_id
    if trigger_run_id:
        meta["triggering_run"] = MetadataValue.url(run_url(trigger_run_id))
    if remediation_run_id:
        meta["remediation_run"] = MetadataValue.url(run_url(remediation_run_id))
    if evidence:
        meta["evidence"] = MetadataValue.md(evidence)
    return AssetObservation(asset_key=AssetKey.from_user_string(asset), metadata=redact_metadata(meta))
