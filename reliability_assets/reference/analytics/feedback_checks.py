"""The gates of ``feedback_topics``: share deferred, share served degraded, label distribution drift, and
quality per tier on the labelled sample.

- ``deferred_share`` (ERROR, blocking): above :data:`MAX_DEFERRED_SHARE` of the texts sent went to human
  review (dead letters): topic shares per segment would rest on too few rows, so the KPIs wait.
- ``degraded_share`` (WARN): above :data:`MAX_DEGRADED_SHARE` of the served rows came from a fallback tier.
  With no model configured at all the keyword rules are what the deployment asked for: the check passes,
  says so, and carries ``reliability/standing`` (one standing inbox entry, as the summary's check does).
- ``label_drift`` (ERROR, not blocking): the population stability index (PSI) of the labelled topic mix
  against the clean world's mix, above :data:`MAX_LABEL_PSI` (0.1 is a small shift, above 0.2 the usual
  "act on it"). Rows labelled ``other`` or ``unclassified`` are left out: they are no topic, and their share
  is in the metadata. The reference is pinned (the clean world drawn with a seed of its own, as the drift
  checks of ``drift_checks`` do), so a drift is measured against what the business expects, whichever
  tier labelled the rows.
- ``tier_quality`` (ERROR, not blocking; the framework's ``build_tier_quality_check``): a tier serving more
  than :data:`TIER_MIN_SHARE` of the rows is at or above its accuracy floor in :data:`TIER_FLOORS`.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue

from reliability_assets import (
    FAILURE_MODE_KEY,
    STANDING_KEY,
    build_tier_quality_check,
    redact,
    redact_metadata,
    tier_quality_spec,
)
from reliability_assets.reference.analytics.feedback_generator import TOPICS, generate_feedback
from reliability_assets.reference.analytics.generator import Scenario, generate

ASSET = "feedback_topics"
MAX_DEFERRED_SHARE = 0.10
MAX_DEGRADED_SHARE = 0.25
MAX_LABEL_PSI = 0.20
MIN_DRIFT_ROWS = 50  # fewer labelled rows than this: the PSI is sampling noise, not a verdict
PSI_FLOOR = 1e-4  # a topic absent on one side: a small share instead of log(0)
#: Accuracy floors per tier on the labelled sample. The keyword rules measure ~85% on clean text (see the
#: generator); a model tier below 85% is worse than what it replaces.
TIER_FLOORS = {"primary": 0.85, "secondary": 0.85, "local": 0.75, "deterministic": 0.70}
TIER_MIN_SHARE = 0.2
BASELINE_SEED = 1
BASELINE_ROWS = 5_000

FEEDBACK_CHECK_SPECS = [
    AssetCheckSpec(
        "deferred_share",
        asset=ASSET,
        blocking=True,
        description=f"At most {MAX_DEFERRED_SHARE:.0%} of the texts sent went to human review "
        "(dead letters).",
        metadata={FAILURE_MODE_KEY: "LLM batch: too many items deferred to human review"},
    ),
    AssetCheckSpec(
        "degraded_share",
        asset=ASSET,
        blocking=False,
        description=f"WARN when more than {MAX_DEGRADED_SHARE:.0%} of the rows were labelled by a "
        "fallback tier.",
        metadata={FAILURE_MODE_KEY: "LLM degraded: fallback tiers labelled the batch"},
    ),
    AssetCheckSpec(
        "label_drift",
        asset=ASSET,
        blocking=False,
        description=f"The topic mix's PSI against the clean world's mix is at most {MAX_LABEL_PSI}.",
        metadata={FAILURE_MODE_KEY: "label drift: the topic mix shifted"},
    ),
]
#: Declared by the spec the builder writes; evaluated by its own step, which loads the stored table.
feedback_tier_quality = build_tier_quality_check(
    ASSET,
    floors=TIER_FLOORS,
    predicted_col="topic",
    truth_col="true_topic",
    min_share=TIER_MIN_SHARE,
    failure_mode="LLM output quality: the tier labelling most feedback is below its accuracy floor",
)
#: The same spec, for the docs and tests that describe the check without building it.
TIER_QUALITY_SPEC = tier_quality_spec(ASSET, floors=TIER_FLOORS, min_share=TIER_MIN_SHARE)


#: The clean world's topic mix: the true topics of 5,000 texts of the clean world drawn with seed 1 (a seed of
#: its own, as ``drift_checks`` pins its baselines), rounded. Pinned, not recomputed per run (0.8 s);
#: tests/reference/test_feedback.py recomputes it from the generator and fails if they part.
REFERENCE_MIX = {
    "billing": 0.2268,
    "delivery": 0.2112,
    "product_quality": 0.2108,
    "support": 0.1808,
    "pricing": 0.1704,
}


def reference_mix(*, seed: int = BASELINE_SEED, rows: int = BASELINE_ROWS) -> dict[str, float]:
    """The clean world's topic mix (true topics) as the generator draws it: what ``REFERENCE_MIX`` pins."""
    world = generate(seed=seed, size=rows, scenario=Scenario.clean)
    truth = generate_feedback(world.customers, rows=rows, seed=seed)["true_topic"]
    shares = truth.value_counts(normalize=True)
    return {topic: round(float(shares.get(topic, 0.0)), 4) for topic in TOPICS}


def psi(current: dict[str, float], reference: dict[str, float]) -> float:
    """Population stability index: sum of (current - reference) * ln(current / reference) over topics."""
    total = 0.0
    for topic in TOPICS:
        c, r = max(current.get(topic, 0.0), PSI_FLOOR), max(reference.get(topic, 0.0), PSI_FLOOR)
        total += (c - r) * math.log(c / r)
    return total


def deferred_share_result(*, deferred: int, sent: int, reasons: str) -> AssetCheckResult:
    share = deferred / sent if sent else 0.0
    passed = share <= MAX_DEFERRED_SHARE
    return AssetCheckResult(
        check_name="deferred_share",
        passed=passed,
        description=redact(
            f"{deferred} of {sent} texts ({share:.1%}) in human review, at most {MAX_DEFERRED_SHARE:.0%}"
            + ("" if passed else ": see `reliability dlq`")
        ),
        metadata=redact_metadata(
            {"deferred": deferred, "sent": sent, "share": round(share, 4), "reasons": reasons}
        ),
    )


def degraded_share_result(
    *, degraded: int, served: int, per_tier: dict[str, int], standing: str | None
) -> AssetCheckResult:
    share = degraded / served if served else 0.0
    meta: dict[str, Any] = {
        "degraded": degraded,
        "served": served,
        "share": round(share, 4),
        "per_tier": json.dumps(per_tier),
    }
    if standing:  # degraded by configuration: said once, in the inbox, never per run
        meta[STANDING_KEY] = standing
        return AssetCheckResult(
            check_name="degraded_share",
            passed=True,
            description=redact(standing),
            metadata=redact_metadata(meta),
        )
    passed = share <= MAX_DEGRADED_SHARE
    tiers = ", ".join(f"{tier} {n}" for tier, n in sorted(per_tier.items(), key=lambda kv: -kv[1]))
    return AssetCheckResult(
        check_name="degraded_share",
        passed=passed,
        severity=AssetCheckSeverity.WARN,
        description=redact(
            f"{degraded} of {served} rows ({share:.1%}) labelled by a fallback tier "
            f"({'at most' if passed else 'above'} {MAX_DEGRADED_SHARE:.0%}); served by {tiers or 'none'}"
        ),
        metadata=redact_metadata(meta),
    )


def label_drift_result(labels: pd.Series) -> AssetCheckResult:
    """PSI of the labelled topic mix (``other`` and ``unclassified`` left out) against the clean mix."""
    reference = REFERENCE_MIX
    topical = labels[labels.isin(TOPICS)]
    current = {t: float(v) for t, v in topical.value_counts(normalize=True).items()}
    left_out = round(1 - len(topical) / len(labels), 4) if len(labels) else 0.0
    table = "\n".join(
        ["| topic | reference | current |", "| --- | ---: | ---: |"]
        + [f"| {t} | {reference[t]:.1%} | {current.get(t, 0.0):.1%} |" for t in TOPICS]
    )
    meta: dict[str, Any] = {
        "topics": MetadataValue.md(table),
        "reference": "clean world, seed 1 (pinned)",
        "rows_compared": len(topical),
        "other_or_unclassified_share": left_out,
        "threshold": MAX_LABEL_PSI,
    }
    if len(topical) < MIN_DRIFT_ROWS:
        return AssetCheckResult(
            check_name="label_drift",
            passed=True,
            description=redact(f"not judged: {len(topical)} labelled rows, {MIN_DRIFT_ROWS} needed"),
            metadata=redact_metadata(meta),
        )
    value = psi(current, reference)
    moved = max(TOPICS, key=lambda t: abs(current.get(t, 0.0) - reference[t]))
    passed = value <= MAX_LABEL_PSI
    return AssetCheckResult(
        check_name="label_drift",
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        description=redact(
            f"topic mix PSI {value:.3f} ({'at most' if passed else 'above'} {MAX_LABEL_PSI}) vs the clean "
            f"mix; most moved: {moved} {reference[moved]:.0%} -> {current.get(moved, 0.0):.0%}"
        ),
        metadata=redact_metadata({**meta, "psi": round(value, 4)}),
    )
