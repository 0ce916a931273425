"""Incidents: failed checks grouped per (asset, check), what was done about them, triage and the
post-incident review.

``records``: what is stored (the tables, the ``Incident`` a row becomes); ``log``: the ``IncidentLog``
state machine over them; ``triage_notes``: the first note (LLM or rule-based); ``modes``: failure modes,
declared by a check (``FAILURE_MODE_KEY``) or built in; ``review``: the post-incident review;
``formatting``: durations and times as reports show them. Names resolve on first use, so reading
``FAILURE_MODE_KEY`` while a code location loads costs no SQLAlchemy.
"""

from __future__ import annotations

from reliability_assets._lazy import lazy_attributes

_LAZY: dict[str, str] = {
    **dict.fromkeys(
        ("Incident", "IncidentNotFound", "Status", "By", "STATUSES", "TABLES"),
        "reliability_assets.incidents.records",
    ),
    **dict.fromkeys(
        ("incidents", "incident_heads", "incident_evaluations", "incident_reviews"),
        "reliability_assets.incidents.records",
    ),
    "IncidentLog": "reliability_assets.incidents.log",
    **dict.fromkeys(
        ("TriageNote", "triage", "rule_based_note", "render_note", "likely_cause", "evidence_facts"),
        "reliability_assets.incidents.triage_notes",
    ),
    "RULE_BASED": "reliability_assets.incidents.triage_notes",
    **dict.fromkeys(("FAILURE_MODE_KEY", "failure_mode_of"), "reliability_assets.incidents.modes"),
    **dict.fromkeys(("Review", "review_defaults"), "reliability_assets.incidents.review"),
    **dict.fromkeys(("format_duration", "utc"), "reliability_assets.incidents.formatting"),
}

__all__ = [
    "FAILURE_MODE_KEY",
    "RULE_BASED",
    "STATUSES",
    "TABLES",
    "By",
    "Incident",
    "IncidentLog",
    "IncidentNotFound",
    "Review",
    "Status",
    "TriageNote",
    "evidence_facts",
    "failure_mode_of",
    "format_duration",
    "incident_evaluations",
    "incident_heads",
    "incident_reviews",
    "incidents",
    "likely_cause",
    "render_note",
    "review_defaults",
    "rule_based_note",
    "triage",
    "utc",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from reliability_assets.incidents.formatting import format_duration, utc
    from reliability_assets.incidents.log import IncidentLog
    from reliability_assets.incidents.modes import FAILURE_MODE_KEY, failure_mode_of
    from reliability_assets.incidents.records import (
        STATUSES,
        TABLES,
        By,
        Incident,
        IncidentNotFound,
        Status,
        incident_evaluations,
        incident_heads,
        incident_reviews,
        incidents,
    )
    from reliability_assets.incidents.review import Review, review_defaults
    from reliability_assets.incidents.triage_notes import (
        RULE_BASED,
        TriageNote,
        evidence_facts,
        likely_cause,
        render_note,
        rule_based_note,
        triage,
    )


__getattr__, __dir__ = lazy_attributes(globals(), _LAZY)
