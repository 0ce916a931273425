"""One severity vocabulary for the framework's checks: Dagster's own ``AssetCheckSeverity`` (ERROR, WARN).

Builders take the enum or its name in any case (``"ERROR"``, ``"warn"``), so YAML and Python read the same.
GX suite entries keep GX's own field (``critical``, ``warning``, ``info``: what GX writes into a suite), which
``build_gx_checks`` maps to ERROR, WARN and metadata-only.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

from dagster import AssetCheckSeverity

#: What a builder's ``severity=`` accepts.
SeverityLike: TypeAlias = AssetCheckSeverity | Literal["ERROR", "WARN", "error", "warn"]


def check_severity(value: AssetCheckSeverity | str, *, where: str) -> AssetCheckSeverity:
    """``value`` as Dagster's severity, or a ``ValueError`` naming ``where`` and the two choices."""
    if isinstance(value, AssetCheckSeverity):
        return value
    if isinstance(value, str) and value.upper() in AssetCheckSeverity.__members__:
        return AssetCheckSeverity[value.upper()]
    raise ValueError(
        f"{where}: severity={value!r} is not valid; pass severity='ERROR' (blocks downstream when "
        "blocking=True) or severity='WARN' (flags only), or a dagster.AssetCheckSeverity"
    )
