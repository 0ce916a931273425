"""Failure modes: what kind of failure an incident is, in a person's terms (the review's first line).

A check declares its own in its spec's metadata under ``FAILURE_MODE_KEY``::

    @asset_check(asset=churn_model, metadata={FAILURE_MODE_KEY: "model quality below its floor"})

The check-failure sensor copies the declared mode onto the incident when it records the failure (as the
last line of its evidence: the store has no column for it), so reviews written later, from the CLI,
without the code location, still say it. Undeclared checks of the framework's own builders get a built-in
mode by their default names; any other check is "check X failed".
"""

from __future__ import annotations

#: Check metadata key (``AssetCheckSpec(metadata=...)``, ``@asset_check(metadata=...)``): the failure mode
#: a failing evaluation of the check is, e.g. "model quality below its floor".
FAILURE_MODE_KEY = "reliability/failure_mode"
_DECLARED = "Failure mode (declared by the check): "
#: The framework builders' default check names (fragments) -> their failure mode. Built-in names only:
#: a pipeline declares its own checks' modes (``FAILURE_MODE_KEY``).
_BUILT_IN_MODES = {
    "gx_suite": "data quality: rows broke Great Expectations rules",  # build_gx_checks (+ _warnings, _info)
    "drift": "data drift: column distributions shifted from the reference",  # build_drift_check
    "schema": "schema change",  # build_schema_check ("schema_unchanged")
    "volume": "volume anomaly: row count outside its usual range",  # build_volume_check
}


def mode_metadata(failure_mode: str | None, *, builder: str) -> dict[str, str]:
    """The check-spec metadata a framework builder writes: the caller's ``failure_mode``, else the
    builder's built-in one (``builder``: gx_suite, drift, schema or volume), so a renamed check keeps it."""
    return {FAILURE_MODE_KEY: " ".join((failure_mode or _BUILT_IN_MODES[builder]).split())}


def with_declared_mode(evidence: str, mode: str | None) -> str:
    """``evidence`` ending with the declared failure mode on a line of its own (none when ``mode`` is
    None or blank); a mode already there is replaced."""
    if (old := declared_mode(evidence)) is not None:
        evidence = evidence.rstrip().removesuffix(f"{_DECLARED}{old}").rstrip()
    if not (mode := " ".join((mode or "").split())):
        return evidence
    return f"{evidence}\n\n{_DECLARED}{mode}" if evidence else f"{_DECLARED}{mode}"


def declared_mode(evidence: str) -> str | None:
    """The failure mode ``with_declared_mode`` put on the evidence's last line, if any."""
    last = evidence.rstrip().rpartition("\n")[2]
    return last.removeprefix(_DECLARED) if last.startswith(_DECLARED) else None


def failure_mode_of(check: str, evidence: str = "") -> str:
    """The mode the check declared, else the built-in one of a framework check, else "check X failed"."""
    if declared := declared_mode(evidence):
        return declared
    built_in = (mode for fragment, mode in _BUILT_IN_MODES.items() if fragment in check.lower())
    return next(built_in, f"check {check} failed")
