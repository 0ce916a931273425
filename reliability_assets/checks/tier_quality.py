"""Quality per tier: is the tier that served a batch still good enough?

A tiered LLM keeps answering when providers fail: a fallback model, the cache, deterministic rules. Each
answer says which tier gave it, but "served" is not "right". On a labelled sample (rows whose true label is
known: a gold set, or a generator's truth) ``tier_accuracy`` measures each tier's accuracy, and the check
fails when a tier that served more than ``min_share`` of the rows is below its accuracy floor: a fallback
serving a handful of rows is noise, one serving most of them decides what the data says.

Tiers without a floor are reported, never judged (a dead-letter tier, say). A tier with fewer than
``min_labelled`` labelled rows is named as not judged: too few labels say nothing about a floor.

Two ways in: ``build_tier_quality_check`` (a check of its own that loads the asset's frame), or
``tier_quality_spec`` + ``tier_quality_result`` for an asset that yields its checks itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetIn,
    AssetKey,
    MetadataValue,
    multi_asset_check,
)

from reliability_assets.checks.severity import SeverityLike, check_severity
from reliability_assets.defaults import COMPUTE_RETRY
from reliability_assets.incidents.modes import FAILURE_MODE_KEY
from reliability_assets.resources.redaction import redact, redact_metadata

DEFAULT_FAILURE_MODE = "output quality: a tier serving many rows is below its accuracy floor"


def tier_accuracy(
    frame: pd.DataFrame, *, tier_col: str = "tier", predicted_col: str, truth_col: str
) -> dict[str, dict[str, Any]]:
    """Per tier that served rows of ``frame``: ``rows``, ``share`` of all rows, ``labelled`` (rows with a
    truth) and ``accuracy`` on those (None without any). Busiest tier first."""
    for column in (tier_col, predicted_col, truth_col):
        if column not in frame.columns:
            raise ValueError(
                f"tier_accuracy: column {column!r} is not in the frame ({', '.join(frame.columns)})"
            )
    total = len(frame)
    labelled = frame[truth_col].notna()
    correct = labelled & (frame[predicted_col] == frame[truth_col])
    grouped = pd.DataFrame({"tier": frame[tier_col].astype(str), "labelled": labelled, "correct": correct})
    counts = grouped.groupby("tier", sort=False).agg(
        rows=("labelled", "size"), labelled=("labelled", "sum"), correct=("correct", "sum")
    )
    result: dict[str, dict[str, Any]] = {}
    for tier, row in counts.sort_values("rows", ascending=False, kind="stable").iterrows():
        n = int(row["labelled"])
        result[str(tier)] = {
            "rows": int(row["rows"]),
            "share": round(int(row["rows"]) / total, 4) if total else 0.0,
            "labelled": n,
            "accuracy": round(int(row["correct"]) / n, 4) if n else None,
        }
    return result


def _check_floors(floors: Mapping[str, float], min_share: float, min_labelled: int, where: str) -> None:
    bad = {tier: floor for tier, floor in floors.items() if not 0 <= floor <= 1}
    if bad:
        raise ValueError(f"{where}: floors {bad} must be accuracies in [0, 1], e.g. {{'deterministic': 0.7}}")
    if not 0 <= min_share < 1:
        raise ValueError(f"{where}: min_share={min_share} must be in [0, 1), e.g. 0.2")
    if min_labelled < 1:
        raise ValueError(f"{where}: min_labelled={min_labelled} must be at least 1")


def tier_quality_spec(
    asset: str | Sequence[str] | AssetKey,
    *,
    floors: Mapping[str, float],
    name: str = "tier_quality",
    min_share: float = 0.2,
    blocking: bool = False,
    failure_mode: str | None = None,
) -> AssetCheckSpec:
    """The spec of a tier-quality check an asset yields itself (``check_specs=[...]``)."""
    stated = ", ".join(f"{tier} {floor:.0%}" for tier, floor in floors.items())
    return AssetCheckSpec(
        name,
        asset=AssetKey.from_coercible(asset),
        blocking=blocking,
        description=f"A tier serving more than {min_share:.0%} of the rows is at or above its accuracy "
        f"floor on the labelled sample ({stated}).",
        metadata={FAILURE_MODE_KEY: " ".join((failure_mode or DEFAULT_FAILURE_MODE).split())},
    )


def tier_quality_result(
    accuracy: Mapping[str, Mapping[str, Any]],
    *,
    floors: Mapping[str, float],
    min_share: float = 0.2,
    min_labelled: int = 20,
    check_name: str = "tier_quality",
    severity: SeverityLike = AssetCheckSeverity.ERROR,
    asset_key: AssetKey | None = None,
) -> AssetCheckResult:
    """The verdict on ``accuracy`` (what ``tier_accuracy`` returns, or the same read back from metadata):
    fails when a tier with a floor served more than ``min_share`` of the rows and its accuracy on at least
    ``min_labelled`` labelled rows is below that floor."""
    where = f"check {check_name!r}"
    level = check_severity(severity, where=where)
    _check_floors(floors, min_share, min_labelled, where)
    below: list[str] = []
    failing: list[str] = []
    unjudged: list[str] = []
    lines: list[str] = []
    for tier, stats in accuracy.items():
        floor = floors.get(tier)
        share, measured, n = float(stats["share"]), stats.get("accuracy"), int(stats.get("labelled", 0))
        verdict = "no floor"
        if floor is not None and share > min_share:
            if measured is None or n < min_labelled:
                verdict = f"not judged: {n} labelled rows, {min_labelled} needed"
                unjudged.append(tier)
            elif measured < floor:
                verdict = "BELOW FLOOR"
                failing.append(tier)
                below.append(
                    f"{tier} {measured:.1%} < {floor:.0%} on {n} labelled rows ({share:.0%} of rows)"
                )
            else:
                verdict = "ok"
        elif floor is not None:
            verdict = f"not gated: served {share:.0%}, at most {min_share:.0%}"
        shown = "n/a" if measured is None else f"{measured:.1%}"
        floor_shown = "-" if floor is None else f"{floor:.0%}"
        lines.append(
            f"| {tier} | {stats['rows']} | {share:.1%} | {n} | {shown} | {floor_shown} | {verdict} |"
        )
    header = "| tier | rows | share | labelled | accuracy | floor | verdict |"
    table = "\n".join([header, "| --- | ---: | ---: | ---: | ---: | ---: | --- |", *lines])
    judged = [t for t in accuracy if t in floors and float(accuracy[t]["share"]) > min_share]
    if below:
        description = "tier below its accuracy floor while serving many rows: " + "; ".join(below)
    elif not judged:
        description = f"no tier with a floor served more than {min_share:.0%} of the rows"
    else:
        ok = [t for t in judged if t not in unjudged]
        description = f"no tier serving more than {min_share:.0%} of the rows is below its floor" + "".join(
            [
                f"; at or above: {', '.join(ok)}" if ok else "",
                f"; not judged (too few labels): {', '.join(unjudged)}" if unjudged else "",
            ]
        )
    return AssetCheckResult(
        asset_key=asset_key,
        check_name=check_name,
        passed=not below,
        severity=level,
        description=redact(description),
        metadata=redact_metadata(
            {
                "tiers": MetadataValue.md(table),
                "per_tier": MetadataValue.json(
                    {t: dict(s) | {"floor": floors.get(t)} for t, s in accuracy.items()}
                ),
                "min_share": min_share,
                "min_labelled": min_labelled,
                "below_floor": MetadataValue.json(failing),
            }
        ),
    )


def build_tier_quality_check(
    asset: str | Sequence[str] | AssetKey,
    *,
    floors: Mapping[str, float],
    predicted_col: str,
    truth_col: str,
    tier_col: str = "tier",
    min_share: float = 0.2,
    min_labelled: int = 20,
    name: str = "tier_quality",
    severity: SeverityLike = AssetCheckSeverity.ERROR,
    blocking: bool = False,
    failure_mode: str | None = None,
) -> AssetChecksDefinition:
    """A check on ``asset`` (a DataFrame with a tier column, the predicted label and the true label where
    known) that fails when a tier serving more than ``min_share`` of the rows is below its floor.
    ``floors`` maps tier names (endpoint names, ``cache``, ``deterministic``) to accuracies in [0, 1]."""
    key = AssetKey.from_coercible(asset)
    where = f"tier quality check {name!r} on {key.to_user_string()}"
    check_severity(severity, where=where)
    _check_floors(floors, min_share, min_labelled, where)
    spec = tier_quality_spec(
        key, floors=floors, name=name, min_share=min_share, blocking=blocking, failure_mode=failure_mode
    )

    @multi_asset_check(
        name=f"{'_'.join(key.path)}_{name}",
        specs=[spec],
        ins={"table": AssetIn(key=key)},
        retry_policy=COMPUTE_RETRY,
        description=f"Accuracy per serving tier of {key.to_user_string()} on its labelled sample",
    )
    def _tier_quality(table: pd.DataFrame) -> AssetCheckResult:
        try:
            accuracy = tier_accuracy(
                table, tier_col=tier_col, predicted_col=predicted_col, truth_col=truth_col
            )
        except ValueError as error:  # the data under check lacks a column: a finding, not a retry
            return AssetCheckResult(
                asset_key=key,
                check_name=name,
                passed=False,
                severity=AssetCheckSeverity.ERROR,
                description=redact(f"tier quality cannot be judged: {error}"),
            )
        return tier_quality_result(
            accuracy,
            floors=floors,
            min_share=min_share,
            min_labelled=min_labelled,
            check_name=name,
            severity=severity,
            asset_key=key,
        )

    return _tier_quality
