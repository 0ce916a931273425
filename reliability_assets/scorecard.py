"""The reliability scorecard: what stakeholders ask of a data platform, computed from real events.

Per asset and overall, over a window, three shares of the executions that add up: served at full quality
(materialized, no failed check in its run, served by its primary tier), degraded (materialized and up, but
a fallback served: last-good data, an API snapshot, a fallback LLM tier or the deterministic template, or
a WARN check of the asset failed in its run) and down (a failed ERROR check or a failed materialization);
uptime is full quality plus degraded. Then failures (failed ERROR checks, failed materializations, failed
runs), MTBF, and, only where there were failures, MTTD (failure -> alert) and MTTR (failure -> service
restored: mitigated by a fallback or rollback, or resolved) from the ERROR incidents, the share of them
restored without a person, the error budget against the asset's target (99.9% for assets behind a
blocking gate, 99% otherwise) and how much of it burned, which tier served (primary, fallback tiers), and
LLM cost per execution. For assets that ask a model per row (``generate_many``): the share of rows a
fallback tier served and the accuracy each tier reached on the asset's labelled sample. And the downtime
cost avoided: a configured $ per hour of an analytics outage x the hours a fallback served the asset
instead of it failing (from each fallback materialization until the asset's next one). Sources: the
Dagster event log (materializations, failures, check executions)
and the reliability store (incidents). Nothing is estimated.
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

CRITICAL_TARGET = 0.999
DEFAULT_TARGET = 0.99
PAGE = 1000


@dataclass
class AssetScore:
    asset: str
    target: float
    executions: int = 0
    good: int = 0  # up: served data (full quality or degraded)
    degraded: int = 0  # up, but a fallback served or a WARN check failed
    failures: int = 0
    tiers: Counter[str] = field(default_factory=Counter)
    cost_usd: float = 0.0
    rows: float = 0.0  # rows (a batch's items; one per single-answer materialization) ...
    fallback_rows: float = 0.0  # ... and those a fallback tier served
    labelled: Counter[str] = field(default_factory=Counter)  # per tier: labelled rows it served ...
    correct: Counter[str] = field(default_factory=Counter)  # ... and those it got right
    fallback_h: float = 0.0  # hours a fallback served the asset instead of it failing
    outage_cost_per_h: float = 0.0
    detect_s: list[float] = field(default_factory=list)
    restore_s: list[float] = field(default_factory=list)
    incidents: int = 0
    restored: int = 0
    auto_restored: int = 0

    def row(self, window_s: float) -> dict[str, Any]:
        allowed = (1 - self.target) * self.executions
        bad = self.executions - self.good
        failed = self.failures > 0  # no failure, no time to detect or restore: blank, not 0

        def share(count: int) -> float | None:
            return round(100 * count / self.executions, 2) if self.executions else None

        return {
            "asset": self.asset,
            "executions": self.executions,
            "uptime_pct": share(self.good),
            "full_quality_pct": share(self.good - self.degraded),
            "degraded_pct": share(self.degraded),
            "failures": self.failures,
            "mtbf_h": round(window_s / self.failures / 3600, 2) if failed else None,
            "mttd_s": _mean(self.detect_s) if failed else None,
            "mttr_s": _mean(self.restore_s) if failed else None,
            "incidents": self.incidents,
            "auto_resolved_pct": round(100 * self.auto_restored / self.restored, 1)
            if failed and self.restored
            else None,
            "target_pct": round(100 * self.target, 2),
            "budget_burn_pct": round(100 * bad / allowed, 1) if allowed else None,
            "budget_left_pct": round(max(0.0, 100 * (1 - bad / allowed)), 1) if allowed else None,
            "tiers": ", ".join(f"{t} {n}" for t, n in self.tiers.most_common()),
            "cost_per_execution_usd": round(self.cost_usd / self.executions, 6) if self.executions else None,
            "fallback_rows_pct": round(100 * self.fallback_rows / self.rows, 2) if self.rows else None,
            "quality_per_tier": ", ".join(
                f"{tier} {100 * self.correct[tier] / n:.0f}% (n={n})"
                for tier, n in self.labelled.most_common()
                if n
            )
            or None,  # no labelled sample: blank, not an empty string
            "fallback_hours": round(self.fallback_h, 2),
            "downtime_cost_avoided_usd": round(self.fallback_h * self.outage_cost_per_h, 2),
        }

    def add_rows(self, metadata: Mapping[str, Any]) -> float:
        """Count the materialization's rows and fallback rows; returns its fallback share (0..1)."""
        per_tier = _json(_value(metadata, "llm/batch/per_tier"))
        if per_tier:
            items = float(_value(metadata, "llm/batch/items") or sum(per_tier.values()))
            fallback = sum(n for tier, n in per_tier.items() if tier not in PRIMARY_TIERS)
        else:
            items, fallback = 1.0, float(is_degraded(metadata))
        self.rows += items
        self.fallback_rows += fallback
        for tier, measured in (_json(_value(metadata, QUALITY_PER_TIER_KEY)) or {}).items():
            labelled = int(measured.get("labelled") or 0)
            if labelled and measured.get("accuracy") is not None:
                self.labelled[tier] += labelled
                self.correct[tier] += round(float(measured["accuracy"]) * labelled)
        return fallback / items if items else 0.0


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _value(metadata: Mapping[str, Any], key: str) -> Any:
    value = metadata.get(key)
    return getattr(value, "value", value)


def _json(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


#: Tiers that serve at full quality; any other tier is a fallback.
PRIMARY_TIERS = frozenset({"primary", "cache"})
#: Materialization metadata with the accuracy each tier reached on the asset's labelled sample:
#: ``{tier: {"labelled": n, "accuracy": 0..1}}`` (``tier_accuracy`` writes it).
QUALITY_PER_TIER_KEY = "llm/quality_per_tier"


def tier_of(metadata: Mapping[str, Any]) -> str:
    """Which tier served a materialization, from what the assets record."""
    for key in ("tier", "llm/tier"):
        if _value(metadata, key) is not None:
            return str(_value(metadata, key))
    if _value(metadata, "last_good_run_id"):
        return "last_good"
    if _value(metadata, "api/served_from") == "snapshot":
        return "snapshot"
    return "fallback" if _value(metadata, "degraded") else "primary"


def is_degraded(metadata: Mapping[str, Any]) -> bool:
    """The materialization was served, but not at full quality: the asset said so (`degraded`,
    `llm/degraded`), or a fallback tier served (last-good data, a snapshot, a lower LLM tier, the
    deterministic template)."""
    if _value(metadata, "degraded") or _value(metadata, "llm/degraded"):
        return True
    return tier_of(metadata) not in PRIMARY_TIERS


def _records(instance: DagsterInstance, fetch: Any, key: AssetKey, since: float) -> list[Any]:
    records, cursor = [], None
    while True:
        result = fetch(AssetRecordsFilter(asset_key=key, after_timestamp=since), limit=PAGE, cursor=cursor)
        records += result.records
        if not result.has_more:
            return records
        cursor = result.cursor


def compute_scorecard(
    instance: DagsterInstance,
    *,
    assets: Iterable[AssetKey],
    critical: Iterable[AssetKey] = (),
    check_keys: Iterable[Any] = (),
    incidents: Iterable[Any] = (),
    window_s: float = 7 * 86400,
    now: float | None = None,
    outage_cost_per_hour_usd: float = 0.0,
) -> pd.DataFrame:
    """One row per asset, then ``overall``; ``incidents`` from ``IncidentLog.list``.
    ``outage_cost_per_hour_usd``: what an hour of an analytics asset being down costs the business."""
    from reliability_assets.check_events import CheckCursor, executions_since

    now = now or time.time()
    since = now - window_s
    critical = set(critical)
    failed_checks: dict[tuple[str, str], int] = defaultdict(int)
    warned: set[tuple[str, str]] = set()  # (asset, run) with a failed WARN check: served, degraded
    evaluations, _ = executions_since(instance, check_keys, CheckCursor())
    for _, e in evaluations:
        if e.timestamp >= since and not e.passed:
            if e.severity == "ERROR":
                failed_checks[(e.asset, e.run_id)] += 1
            else:
                warned.add((e.asset, e.run_id))
    scores: dict[str, AssetScore] = {}
    for key in assets:
        name = key.to_user_string()
        score = scores[name] = AssetScore(name, CRITICAL_TARGET if key in critical else DEFAULT_TARGET)
        score.outage_cost_per_h = outage_cost_per_hour_usd
        served = sorted(_records(instance, instance.fetch_materializations, key, since), key=_timestamp)
        for index, record in enumerate(served):
            metadata = record.asset_materialization.metadata if record.asset_materialization else {}
            score.executions += 1
            bad = failed_checks.get((name, record.run_id), 0)
            score.good += 0 if bad else 1
            score.failures += 1 if bad else 0
            if not bad and (is_degraded(metadata) or (name, record.run_id) in warned):
                score.degraded += 1
            score.tiers[tier_of(metadata)] += 1
            score.cost_usd += float(_value(metadata, "llm/cost_usd") or 0.0)
            fallback_share = score.add_rows(metadata)
            if not bad and fallback_share:  # served, by a fallback: these hours were not an outage
                until = _timestamp(served[index + 1]) if index + 1 < len(served) else now
                score.fallback_h += fallback_share * max(0.0, until - _timestamp(record)) / 3600
        failed = _records(instance, instance.fetch_failed_materializations, key, since)
        score.executions += len(failed)
        score.failures += len(failed)
    overall = AssetScore("overall", CRITICAL_TARGET)
    for incident in incidents:
        if incident.opened_at < since:
            continue
        target = scores.get(incident.asset, overall)
        for score in {id(target): target, id(overall): overall}.values():
            score.incidents += 1
            if incident.severity == "WARN":
                continue  # a degraded answer, not a failure: no detection or restore time to measure
            if incident.detected_at:
                score.detect_s.append(incident.detected_at - incident.opened_at)
            restored_at = incident.mitigated_at or incident.resolved_at
            if restored_at:
                score.restore_s.append(restored_at - incident.opened_at)
                score.restored += 1
                score.auto_restored += 0 if incident.resolved_by == "person" else 1
        if incident.asset.startswith("job:"):
            overall.failures += 1  # a failed run: counted once, overall
    for score in scores.values():
        overall.executions += score.executions
        overall.good += score.good
        overall.degraded += score.degraded
        overall.failures += score.failures
        overall.tiers.update(score.tiers)
        overall.cost_usd += score.cost_usd
        overall.rows += score.rows
        overall.fallback_rows += score.fallback_rows
        overall.labelled.update(score.labelled)
        overall.correct.update(score.correct)
        overall.fallback_h += score.fallback_h
    overall.outage_cost_per_h = outage_cost_per_hour_usd
    rows = [s.row(window_s) for s in scores.values()] + [overall.row(window_s)]
    frame = pd.DataFrame(rows)
    text = ["asset", "tiers", "quality_per_tier", "executions", "failures", "incidents"]
    for column in frame.columns.difference(text):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")  # None -> NaN
    return frame


COLUMNS = {
    "asset": "asset",
    "executions": "runs",
    "uptime_pct": "uptime %",
    "full_quality_pct": "full quality %",
    "degraded_pct": "degraded %",
    "failures": "failures",
    "mtbf_h": "MTBF h",
    "mttd_s": "MTTD s",
    "mttr_s": "MTTR s",
    "auto_resolved_pct": "auto-resolved %",
    "target_pct": "target %",
    "budget_left_pct": "budget left %",
    "tiers": "tiers served",
    "cost_per_execution_usd": "$/run",
    "fallback_rows_pct": "fallback rows %",
    "quality_per_tier": "accuracy per tier",
    "fallback_hours": "fallback h",
    "downtime_cost_avoided_usd": "downtime $ avoided",
}


def _timestamp(record: Any) -> float:
    return float(record.timestamp)


def as_text(frame: pd.DataFrame, *, fmt: str = "github") -> str:
    shown = frame[list(COLUMNS)].rename(columns=COLUMNS).astype(object)
    shown = shown.where(shown.notna(), "-")  # no failure, no MTBF: a dash, not "nan"
    return str(shown.to_markdown(index=False, tablefmt=fmt))


#: A 0% bar is drawn this wide (in percent points), hatched, so it is still seen, and labelled "0%".
MIN_BAR = 1.0


def chart_png(frame: pd.DataFrame) -> bytes:
    """Per asset: uptime split into full quality and degraded, and the error budget left. Every bar has its
    value at its end; a 0% bar is a thin hatched mark; the legend sits below the plot, covering nothing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = frame[frame["executions"] > 0].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(data) + 2.0), dpi=100)
    full = data["full_quality_pct"].fillna(0).tolist()
    degraded = data["degraded_pct"].fillna(0).tolist()
    budget = data["budget_left_pct"].tolist()
    up_y = [i - 0.2 for i in range(len(data))]
    budget_y = [i + 0.2 for i in range(len(data))]
    ax.barh(up_y, full, height=0.38, color="#2e7d32")
    ax.barh(up_y, degraded, left=full, height=0.38, color="#f9a825")
    shown_budget = [MIN_BAR if b is None or pd.isna(b) or b <= 0 else b for b in budget]
    bars = ax.barh(budget_y, shown_budget, height=0.38, color="#1565c0")
    for bar, value in zip(bars, budget, strict=True):
        if value is None or pd.isna(value) or value <= 0:
            bar.set_hatch("////")
            bar.set_facecolor("white")
            bar.set_edgecolor("#c62828")
    for y, f, d in zip(up_y, full, degraded, strict=True):
        text = f"up {f + d:.0f}%" + (f" ({d:.0f}% degraded)" if d else "")
        ax.text(max(f + d, MIN_BAR) + 1, y, text, va="center", fontsize=8)
    for y, value in zip(budget_y, budget, strict=True):
        text = "no budget data" if value is None or pd.isna(value) else f"{value:.0f}% budget left"
        ax.text(max(0 if pd.isna(value) else value, MIN_BAR) + 1, y, text, va="center", fontsize=8)
    ax.set_yticks(list(range(len(data))), list(data["asset"]))
    ax.set_xlim(0, 130)  # room for the labels after a 100% bar
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.invert_yaxis()
    from matplotlib.patches import Patch

    handles = [
        Patch(color="#2e7d32", label="served at full quality %"),
        Patch(color="#f9a825", label="served degraded %"),
        Patch(color="#1565c0", label="error budget left %"),
        Patch(facecolor="white", edgecolor="#c62828", hatch="////", label="no error budget left"),
    ]
    ax.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=4, fontsize=8, frameon=False
    )
    ax.set_title("Reliability over the window")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def chart_markdown(png: bytes) -> str:
    """The Dagster UI renders markdown images, including data URIs: the chart shows on the asset page."""
    return f"![reliability scorecard](data:image/png;base64,{base64.b64encode(png).decode()})"


def scorecard_for(
    instance: DagsterInstance,
    asset_graph: Any,
    store: Any,
    *,
    window_s: float,
    outage_cost_per_hour_usd: float = 0.0,
) -> pd.DataFrame:
    """The scorecard of every materializable asset in `asset_graph` but the scorecard itself."""
    from reliability_assets.incidents import IncidentLog

    # Observed assets (the inbox, the health view) are never materialized: nothing to score.
    assets = [
        k
        for k in sorted(asset_graph.get_all_asset_keys())
        if k.to_user_string() != "reliability_scorecard" and asset_graph.get(k).is_materializable
    ]
    checks = asset_graph.asset_check_keys
    critical = {k.asset_key for k in checks if asset_graph.get_check_spec(k).blocking}
    return compute_scorecard(
        instance,
        assets=assets,
        critical=critical,
        check_keys=checks,
        incidents=IncidentLog(store).list(limit=10_000),
        window_s=window_s,
        outage_cost_per_hour_usd=outage_cost_per_hour_usd,
    )
