"""``reliability_scorecard`` (an asset with a table and a chart) and ``reliability report`` (the same in a
terminal), both from ``reliability_assets.scorecard``."""

import argparse
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, Config, MetadataValue, asset
from pydantic import Field

from reliability_assets.policy import COMPUTE_RETRY, OWNERS
from reliability_assets.scorecard import as_text, chart_markdown, chart_png, scorecard_for
from resources.redaction import redact_metadata
from resources.reliability import ReliabilityStoreResource

DEFAULT_WINDOW_DAYS = 7.0


class ScorecardConfig(Config):
    # None, not 7.0: a field whose default is None is not pre-filled in the Launchpad (keeps it small).
    window_days: float | None = Field(
        default=None,
        gt=0,
        description=f"How far back the scorecard looks (unset: {DEFAULT_WINDOW_DAYS:g} days).",
    )

    @property
    def window_s(self) -> float:
        return (self.window_days or DEFAULT_WINDOW_DAYS) * 86400


@asset(
    group_name="reliability",
    kinds={"python", "pandas", "duckdb"},
    owners=OWNERS,
    retry_policy=COMPUTE_RETRY,
    tags={"layer": "reliability"},
)
def reliability_scorecard(
    context: AssetExecutionContext, config: ScorecardConfig, reliability: ReliabilityStoreResource
) -> pd.DataFrame:
    """Uptime, MTBF, MTTD, MTTR, auto-resolved share, error budget, fallback tiers and cost per run, per
    asset and overall, from the event log and the incidents (``reliability report`` prints the same)."""
    frame = scorecard_for(
        context.instance,
        _asset_graph(context),
        reliability.store,
        window_s=config.window_s,
    )
    overall = frame[frame["asset"] == "overall"].iloc[0]
    png = chart_png(frame)
    chart_path = reliability.report_path("scorecard", f"{context.run.run_id}.png")
    chart_path.parent.mkdir(parents=True, exist_ok=True)
    chart_path.write_bytes(png)
    context.add_output_metadata(
        redact_metadata(
            {
                "scorecard": MetadataValue.md(as_text(frame)),
                "chart": MetadataValue.md(chart_markdown(png)),
                "chart_path": MetadataValue.path(str(chart_path)),
                "window_days": config.window_days or DEFAULT_WINDOW_DAYS,
                "uptime_pct": _number(overall["uptime_pct"]),
                "mttr_s": _number(overall["mttr_s"]),
                "auto_resolved_pct": _number(overall["auto_resolved_pct"]),
                "incidents": int(overall["incidents"]),
            }
        )
    )
    return frame


def _asset_graph(context: AssetExecutionContext) -> Any:
    """The code location's graph; ``execute_in_process`` sets no repository, so fall back to ``defs``."""
    try:
        return context.repository_def.asset_graph
    except Exception:  # dagster's CheckError: "No repository definition was set on the step context"
        from reliability_assets.definitions import defs

        return defs.resolve_asset_graph()


def _number(value: object) -> float:
    return float("nan") if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]


def add_commands(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="the reliability scorecard of $DAGSTER_HOME in a terminal")
    report.add_argument("--window-days", type=float, default=DEFAULT_WINDOW_DAYS)
    report.add_argument("--markdown", action="store_true", help="a markdown table instead of plain text")
    report.add_argument("-v", "--verbose", action="store_true", help="no spinner while it computes")


def run(args: argparse.Namespace) -> int:
    from dagster import DagsterInstance

    from reliability_assets.definitions import defs
    from reliability_assets.progress import spinner

    with spinner("computing the scorecard", enabled=not args.verbose), DagsterInstance.get() as instance:
        frame = scorecard_for(
            instance,
            defs.resolve_asset_graph(),
            ReliabilityStoreResource().store,
            window_s=args.window_days * 86400,
        )
    print(f"reliability scorecard, last {args.window_days:g} days")
    print(as_text(frame, fmt="github" if args.markdown else "simple"))
    return 0
