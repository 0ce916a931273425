"""The executive summary: a narrative of the KPIs, written by the tiered LLM resource.

The model answers in a fixed schema (a headline, 3-5 insights each citing the KPI it rests on, risks).
With no API key and no local model, the deterministic template below serves and the output says so:
metadata names the tier and states the degraded state (``served``).

``served_by_model`` WARNs when a configured model did not serve (a fallback tier, the cache, a person):
that is news. With no model configured at all, the template is what the deployment asked for: every run
would WARN, open or join an incident and alert, and the catalog would stay yellow, hiding a real
degradation the day a model is configured. So the check passes and says why ("no model configured: ..."),
and carries ``reliability/standing``: the remediation sensor keeps one standing inbox entry for it (not one
per run) until a run with a model configured clears it.
"""

import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    Failure,
    MetadataValue,
    Output,
    asset,
)
from pydantic import BaseModel, Field

from reliability_assets import (
    ACTION_TAG,
    FAILURE_MODE_KEY,
    REASON_TAG,
    REMEDIATES_TAG,
    STANDING_KEY,
    ResilientLLM,
    redact,
    redact_metadata,
    reliability_policy,
    ungrounded_numbers,
)
from reliability_assets.reference.analytics.kpis import ALL
from reliability_assets.reference.policy import CHAOS_TAG, DAILY, OWNERS, STEP_RETRY

KPI_COLUMNS = (
    "customers",
    "active_customers",
    "revenue_365d",
    "revenue_90d",
    "avg_churn_probability",
    "high_risk_customers",
    "high_risk_share",
    "revenue_at_risk",
    "feedback_rows",
    "negative_feedback_share",
    "top_complaint",
    "top_complaint_share",
)
#: A segment's complaints are named in the template only when it has at least this many labelled texts.
MIN_FEEDBACK_ROWS = 5


class Insight(BaseModel):
    text: str = Field(description="One sentence for an executive.")
    segment: str = Field(description="The segment the insight is about, or 'all'.")
    kpi: str = Field(description=f"The KPI column it rests on: one of {', '.join(KPI_COLUMNS)}.")


class ExecutiveBrief(BaseModel):
    headline: str
    insights: list[Insight] = Field(min_length=3, max_length=5)
    risks: list[str] = Field(min_length=1, max_length=3)


class SummaryConfig(Config):
    # None (not False) so the Launchpad does not pre-fill it: unset means serve the template.
    fail_when_deferred: bool | None = Field(
        default=None,
        description="True: fail the step when the request goes to human review; unset or False: serve the "
        "template.",
    )


def _money(value: float) -> str:
    return f"${value:,.0f}"


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def template_brief(kpis: pd.DataFrame) -> ExecutiveBrief:
    """The deterministic tier: every figure it cites is a value of ``kpis`` (rounded for reading)."""
    total = kpis[kpis["segment"] == ALL].iloc[0]
    segments = kpis[kpis["segment"] != ALL].sort_values("revenue_at_risk", ascending=False)
    exposed = segments.iloc[0]
    riskiest = segments.sort_values("high_risk_share", ascending=False).iloc[0]
    active_share = total["active_customers"] / total["customers"]
    return ExecutiveBrief(
        headline=f"Net revenue of {_money(total['revenue_365d'])} over 12 months; "
        f"{_money(total['revenue_at_risk'])} of it at risk of churn.",
        insights=[
            Insight(
                text=f"{_money(total['revenue_90d'])} came in the last 90 days, from "
                f"{int(total['active_customers']):,} active customers ({_pct(active_share)} of "
                f"{int(total['customers']):,}).",
                segment=ALL,
                kpi="revenue_90d",
            ),
            Insight(
                text=f"The churn model rates {int(total['high_risk_customers']):,} customers "
                f"({_pct(total['high_risk_share'])}) at high risk.",
                segment=ALL,
                kpi="high_risk_customers",
            ),
            Insight(
                text=f"Most revenue at risk sits in {exposed['segment']}: "
                f"{_money(exposed['revenue_at_risk'])} across {int(exposed['customers']):,} customers.",
                segment=str(exposed["segment"]),
                kpi="revenue_at_risk",
            ),
            Insight(
                text=f"The highest share of high-risk customers is in {riskiest['segment']} "
                f"({_pct(riskiest['high_risk_share'])} of {int(riskiest['customers']):,}).",
                segment=str(riskiest["segment"]),
                kpi="high_risk_share",
            ),
            *_complaint_insights(segments),
        ],
        risks=[f"{_money(total['revenue_at_risk'])} of trailing-year revenue is exposed to churn."],
    )


def _topic(name: object) -> str:
    return str(name).replace("_", " ")


def _complaint_insights(segments: pd.DataFrame) -> list[Insight]:
    """The segment whose feedback is most negative, and what it complains about most (none without the
    feedback columns or enough labelled texts)."""
    if "negative_feedback_share" not in segments.columns:
        return []
    enough = segments["feedback_rows"] >= MIN_FEEDBACK_ROWS
    voiced = segments[enough & (segments["top_complaint"] != "none")]
    if voiced.empty:
        return []
    loudest = voiced.sort_values("negative_feedback_share", ascending=False, kind="stable").iloc[0]
    return [
        Insight(
            text=f"Feedback is most negative in {loudest['segment']} "
            f"({_pct(loudest['negative_feedback_share'])} of its texts); the top complaint there is "
            f"{_topic(loudest['top_complaint'])} ({_pct(loudest['top_complaint_share'])} of complaints).",
            segment=str(loudest["segment"]),
            kpi="top_complaint_share",
        )
    ]


def render_markdown(brief: ExecutiveBrief, kpis: pd.DataFrame) -> str:
    as_of = pd.Timestamp(kpis["as_of"].iloc[0]).date().isoformat()
    lines = [f"# Executive summary, as of {as_of}", "", f"**{brief.headline}**", ""]
    lines += [f"- {i.text} _(KPI: {i.kpi}, segment: {i.segment})_" for i in brief.insights]
    lines += ["", "**Risks**", ""] + [f"- {risk}" for risk in brief.risks]
    segments = kpis[kpis["segment"] != ALL].sort_values("revenue_at_risk", ascending=False)
    voiced = "top_complaint" in segments.columns
    lines += [
        "",
        "| segment | customers | active | revenue (12 mo) | revenue at risk | high risk |"
        + (" negative feedback | top complaint |" if voiced else ""),
        "| --- | ---: | ---: | ---: | ---: | ---: |" + (" ---: | --- |" if voiced else ""),
    ]
    lines += [
        f"| {row.segment} | {row.customers:,} | {row.active_customers:,} | {_money(row.revenue_365d)} | "
        f"{_money(row.revenue_at_risk)} | {_pct(row.high_risk_share)} |"
        + (f" {_pct(row.negative_feedback_share)} | {_topic(row.top_complaint)} |" if voiced else "")
        for row in segments.itertuples()
    ]
    return "\n".join(lines) + "\n"


def prompt(kpis: pd.DataFrame) -> tuple[list[dict[str, str]], str]:
    """The messages, and the untrusted part (the KPI table comes from data) to screen."""
    columns = [c for c in ("segment", *KPI_COLUMNS) if c in kpis.columns]
    table = kpis[columns].to_json(orient="records", double_precision=4)
    system = (
        "You write executive summaries of customer KPIs. Use only figures present in the data; cite for each "
        "insight the segment and the KPI column it rests on. Be concise and factual. top_complaint is the "
        "topic most negative customer feedback of a segment is about (top_complaint_share of it): name the "
        "top complaint of the segments where feedback is most negative."
    )
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": f"KPI table (JSON): {table}"},
    ], table


@asset(
    group_name="reporting",
    kinds={"python", "openai", "markdown"},
    owners=OWNERS,
    retry_policy=STEP_RETRY,
    freshness_policy=DAILY,
    io_manager_key="artifact_io_manager",
    tags={"layer": "marts"},
    metadata=reliability_policy(checks={"grounded": "fallback"}, owner=OWNERS[0]),
    pool="llm_api",
    check_specs=[
        AssetCheckSpec(
            "served_by_model",
            asset="executive_summary",
            blocking=False,
            description="WARN when the summary came from a fallback tier (cache, template) or a person.",
            metadata={FAILURE_MODE_KEY: "LLM degraded: a fallback tier wrote the output"},
        ),
        AssetCheckSpec(
            "grounded",
            asset="executive_summary",
            blocking=False,
            description="Every number the summary cites is a figure of executive_kpis (within rounding).",
            metadata={FAILURE_MODE_KEY: "LLM output cites numbers not in its data"},
        ),
    ],
)
def executive_summary(
    context: AssetExecutionContext, config: SummaryConfig, executive_kpis: pd.DataFrame, llm: ResilientLLM
):
    """A narrative of the KPIs for executives, in markdown, written by the tiered LLM; metadata names the
    tier that served, attempts, tokens and cost."""
    tags = context.run.tags
    remediated = tags.get(REMEDIATES_TAG, "executive_summary").split(",")  # absent: a hand-tagged run
    if tags.get(ACTION_TAG) == "fallback" and "executive_summary" in remediated:
        # Its own fallback (the grounded check failed): the deterministic tier, every figure a KPI value.
        # A fallback of an upstream asset only refreshes the summary from the last good data: the model
        # writes it as usual.
        why = tags.get(REASON_TAG, "fallback run")
        brief = template_brief(executive_kpis)
        said = f"degraded: fallback run served the deterministic template ({why})"
        fallback = {"tier": "deterministic", "degraded": True, "fallback_reason": why, "served": said}
        yield from _outputs(brief, executive_kpis, fallback, served=said)
        return
    messages, untrusted = prompt(executive_kpis)
    result = llm.generate(
        messages,
        schema=ExecutiveBrief,
        source="executive_summary",
        deterministic=lambda: template_brief(executive_kpis),
        untrusted=[untrusted],
        chaos=context.run.tags.get(CHAOS_TAG) or None,
    )
    if result.deferred and config.fail_when_deferred:
        raise Failure(
            redact(f"sent to human review ({result.reason}); dead letter {result.dead_letter_key}"),
            metadata=redact_metadata(result.metadata()),
            allow_retries=False,
        )
    brief = result.output if result.output is not None else template_brief(executive_kpis)
    meta: dict[str, Any] = {
        "tier": "deterministic" if result.deferred else result.tier,
        "degraded": result.degraded,
        **result.metadata(),
    }
    if not result.deferred and not model_configured(llm):
        # Degraded by configuration, not by a failure: said plainly, once in the inbox, never per run.
        meta["served"] = NO_MODEL
        yield from _outputs(
            brief, executive_kpis, meta, served=None, skipped=result.skipped, standing=NO_MODEL
        )
        return
    served: str | None = (
        None
        if not result.degraded
        else f"degraded: served by {result.tier}"
        + (f"; skipped {result.skipped}" if result.skipped else "")
        + (f"; in human review as {result.dead_letter_key}" if result.deferred else "")
    )
    meta["served"] = served or f"served by the model tier {result.tier}"
    yield from _outputs(brief, executive_kpis, meta, served=served, skipped=result.skipped)


#: What the summary and its check say when no LLM tier is configured at all.
NO_MODEL = (
    "no model configured: the deterministic template wrote this (set OPENAI_API_KEY or "
    "RELIABILITY_LLM_LOCAL_URL to have a model write it)"
)


def model_configured(llm: ResilientLLM) -> bool:
    """Is any tier of ``llm`` configured (a base URL, and a key where the tier needs one)?"""
    return bool(llm.configured_endpoints())


def _outputs(
    brief: ExecutiveBrief,
    executive_kpis: pd.DataFrame,
    meta: dict[str, Any],
    *,
    served: str | None,
    skipped: Any = None,
    standing: str | None = None,
) -> Iterator[Output | AssetCheckResult]:
    """The summary and its two checks, whichever tier wrote it. ``standing``: a degraded state that is
    not a failure (the check passes, says it, and the sensor keeps one standing inbox entry for it)."""
    summary = render_markdown(brief, executive_kpis)
    yield Output(
        summary,
        metadata=redact_metadata(
            {
                "summary": MetadataValue.md(summary),
                "brief": MetadataValue.json(json.loads(brief.model_dump_json())),
                **meta,
            }
        ),
    )
    prose = " ".join([brief.headline, *(i.text for i in brief.insights), *brief.risks])
    ungrounded, cited = ungrounded_numbers(prose, executive_kpis)
    yield AssetCheckResult(
        check_name="grounded",
        passed=not ungrounded,
        severity=AssetCheckSeverity.ERROR,
        description=redact(
            None
            if not ungrounded
            else f"cites {len(ungrounded)} number(s) not in executive_kpis: {', '.join(ungrounded[:10])}"
        ),
        metadata=redact_metadata({"numbers_cited": cited, "ungrounded": json.dumps(ungrounded)}),
    )
    check_meta: dict[str, Any] = {"tier": str(meta["tier"]), "skipped": json.dumps(skipped or {})}
    if standing:
        check_meta[STANDING_KEY] = standing
    yield AssetCheckResult(
        check_name="served_by_model",
        passed=served is None,
        severity=AssetCheckSeverity.WARN,
        description=redact(served or standing),
        metadata=redact_metadata(check_meta),
    )
