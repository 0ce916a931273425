"""The post-incident review: failure mode, root cause and remediation (derived from the incident until a
person writes them), stored per incident, and the markdown that puts them under the incident's timeline."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from reliability_assets.incidents.formatting import (
    action_text,
    actions_summary,
    format_duration,
    shorten,
    since_opened,
    utc,
)
from reliability_assets.incidents.modes import failure_mode_of
from reliability_assets.incidents.records import incident_reviews
from reliability_assets.incidents.triage_notes import likely_cause

if TYPE_CHECKING:
    from reliability_assets.incidents.log import IncidentLog
    from reliability_assets.incidents.records import Incident

REVIEW_FIELDS = ("failure_mode", "root_cause", "remediation")


@dataclass(frozen=True, slots=True)
class Review:
    incident_id: str
    failure_mode: str
    root_cause: str
    remediation: str
    author: str
    updated_at: float
    derived: tuple[str, ...] = ()  # fields derived from the incident rather than written by a person


def review_defaults(incident: Incident) -> dict[str, str]:
    """The fields derived from the incident: its check's failure mode, the triage's likely cause, what
    was done."""
    mode = failure_mode_of(incident.check, incident.evidence)
    found = re.search(r"^Likely cause: (.+)$", incident.triage, re.MULTILINE)
    cause = found.group(1) if found else (incident.triage.strip() or likely_cause(incident))
    remedy = actions_summary(incident) or "no action recorded"
    return {
        "failure_mode": f"{mode} ({shorten(incident.description, 160)})",
        "root_cause": cause,
        "remediation": remedy,
    }


def save_review(
    log: IncidentLog,
    incident_id: str,
    *,
    given: dict[str, str | None],
    author: str,
) -> Review:
    """``IncidentLog.review``: a field not given keeps what a person wrote earlier, else is derived again."""
    incident = log.get(incident_id)
    defaults = review_defaults(incident)
    with log.store.transaction() as c:
        blank = {**dict.fromkeys(REVIEW_FIELDS, ""), "derived": list(REVIEW_FIELDS), "updated_at": 0.0}
        stored = log.store.locked_row(c, incident_reviews, incident.id, blank | {"author": author})
        values: dict[str, Any] = {"derived": [], "author": author, "updated_at": time.time()}
        for name in REVIEW_FIELDS:
            value = given.get(name)
            if value is None and (name in stored["derived"] or not stored[name]):
                value = defaults[name]
                values["derived"].append(name)
            values[name] = stored[name] if value is None else value
        log.store.update_row(c, incident_reviews, incident.id, values)
    return _review(incident.id, values)


def review_markdown(log: IncidentLog, incident_id: str) -> str:
    """``IncidentLog.review_markdown``: timeline with time to detect/mitigate/resolve, actions, triage,
    the review (the derived fields when none is stored yet)."""
    i = log.get(incident_id)
    with log.store.engine.connect() as c:
        query = select(incident_reviews).where(incident_reviews.c.incident_id == i.id)
        row = c.execute(query).mappings().first()
    defaults = {**review_defaults(i), "author": "", "updated_at": 0.0, "derived": REVIEW_FIELDS}
    review = _review(i.id, dict(row) if row else defaults)
    out = [f"# {i.id}: `{i.asset}` check `{i.check}` failed", ""]
    by = f" (by {i.resolved_by})" if i.resolved_by else ""
    out += [f"**Severity** {i.severity} · **Status** {i.status}{by}"]
    out += ["", "## Timeline (UTC)", "", "| event | at | after first failure |", "|---|---|---|"]
    events = {"first failure": i.opened_at, "detected": i.detected_at, "mitigated": i.mitigated_at}
    events |= {"resolved": i.resolved_at, "last failure": i.last_failed_at}
    timed = sorted((at, name) for name, at in events.items() if at is not None)
    out += [f"| {name} | {utc(at)} | {format_duration(at - i.opened_at)} |" for at, name in timed]
    stages = (("detect", i.detected_at), ("mitigate", i.mitigated_at), ("resolve", i.resolved_at))
    out += [""] + [f"- **Time to {stage}**: {since_opened(i, at)}" for stage, at in stages]
    runs = f"first in run `{i.first_run_id}`, last in run `{i.last_run_id}`"
    out += ["", "## Occurrences", "", f"{i.occurrences} failed evaluation(s), {runs}."]
    out += ["", "## Actions", ""] + [f"- {utc(a['at'])}: {action_text(a)}" for a in i.actions]
    out += [] if i.actions else ["_None recorded._"]
    out += ["", f"## Triage ({i.triage_tier or 'not run'})", "", i.triage or "_No triage yet._"]
    for title, text in (("Failure mode", review.failure_mode), ("Root cause", review.root_cause)):
        out += ["", f"## {title}", "", text]
    out += ["", "## Remediation", "", review.remediation, ""]
    if review.author:
        out += [f"_Review by {review.author}, {utc(review.updated_at)} UTC._", ""]
    return "\n".join(out)


def _review(incident_id: str, values: dict[str, Any]) -> Review:
    fields = {name: values[name] for name in (*REVIEW_FIELDS, "author", "updated_at")}
    return Review(incident_id=incident_id, **fields, derived=tuple(values["derived"]))
