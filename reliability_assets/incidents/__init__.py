"""Incidents. The next commit splits ``log`` into modules with one job each; this one only moves it."""

from reliability_assets.incidents.log import (
    Incident,
    IncidentLog,
    IncidentNotFound,
    TriageNote,
    format_duration,
    incident_evaluations,
    incidents,
    triage,
    utc,
)

__all__ = [
    "Incident",
    "IncidentLog",
    "IncidentNotFound",
    "TriageNote",
    "format_duration",
    "incident_evaluations",
    "incidents",
    "triage",
    "utc",
]
