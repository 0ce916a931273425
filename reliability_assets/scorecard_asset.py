"""reliability_scorecard (an asset with its key numbers, a table and a chart) and `reliability report`
(the same in a terminal), both from reliability_assets.scorecard."""

import argparse
import os
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, Config, Definitions, MetadataValue, asset
from pydantic import Field

from reliability_assets.defaults import COMPUTE_RETRY
from reliability_assets.resources.redaction import redact_metadata
from reliability_assets.resources.store_resource import ReliabilityStoreResource
from reliability_assets.scorecard import COLUMNS, as_text, chart_markdown, chart_png, scorecard_for

DEFAULT_WINDOW_DAYS = 7.0
#: What an hour of an analytics asset being down costs, when the Launchpad does not say (default 0: no
#: downtime cost is claimed until someone puts a number on it).
OUTAGE_COST_ENV = "RELIABILITY_OUTAGE_COST_PER_HOUR_USD"


def outage_cost_per_hour(configured: float | None = None) -> float:
    """The configured $/hour of an outage: the run config, else the environment, else 0."""
    if configured is not None:
        return configured
    raw = os.environ.get(OUTAGE_COST_ENV, "").strip()
    try:
        value = float(raw) if raw else 0.0
    except ValueError:
        raise ValueError(
            f"{OUTAGE_COST_ENV}={raw!r} is not a number: set it to dollars per hour, e.g. 250"
        ) from None
    if value < 0:
        raise ValueError(f"{OUTAGE_COST_ENV}={raw!r} is negative: set it to dollars per hour, e.g. 250")
    return value


class ScorecardConfig(Config):
    # None, not 7.0: a field whose default is None is not pre-filled in the Launchpad (keeps it small).
    window_days: float | None = Field(
        default=None,
        gt=0,
        description=f"How far back the scorecard looks (unset: {DEFAULT_WINDOW_DAYS:g} days).",
    )

    outage_cost_per_hour_usd: float | None = Field(
        default=None,
        ge=0,
        description=f"$ per hour an analytics asset being down costs (unset: ${OUTAGE_COST_ENV} or 0); the "
        "scorecard's downtime cost avoided is this x the hours a fallback served instead of a failure.",
    )

    @property
    def window_s(self) -> float:
        return (self.window_days or DEFAULT_WINDOW_DAYS) * 86400


@asset(
    group_name="reliability",
    kinds={"python", "pandas", "duckdb"},
    retry_policy=COMPUTE_RETRY,
    tags={"layer": "reliability"},
)
def reliability_scorecard(
    context: AssetExecutionContext, config: ScorecardConfig, reliability: ReliabilityStoreResource
) -> pd.DataFrame:
    """Uptime split into served at full quality and degraded, failures, MTBF, MTTD and MTTR (where there
    were failures), auto-resolved share, error budget, fallback tiers and cost per run, per asset and
    overall, from the event log and the incidents (`reliability report` prints the same)."""
    frame = scorecard_for(
        context.instance,
        _asset_graph(context),
        reliability.store,
        window_s=config.window_s,
        outage_cost_per_hour_usd=outage_cost_per_hour(config.outage_cost_per_hour_usd),
    )
    png = chart_png(frame)
    chart_path = reliability.report_path("scorecard", f"{context.run.run_id}.png")
    chart_path.parent.mkdir(parents=True, exist_ok=True)
    chart_path.write_bytes(png)
    context.add_output_metadata(
        redact_metadata(
            {
                **key_numbers(frame),
                "window_days": config.window_days or DEFAULT_WINDOW_DAYS,
                "scorecard table": scorecard_table(frame),
                "chart": MetadataValue.md(chart_markdown(png)),
                "scorecard (markdown)": MetadataValue.md(as_text(frame)),
                "chart_path": MetadataValue.path(str(chart_path)),
            }
        )
    )
    return frame


def _asset_graph(context: AssetExecutionContext) -> Any:
    """The code location's graph; ``execute_in_process`` sets no repository, so fall back to the job's
    (the implicit all-assets job of ``Definitions`` covers the same assets)."""
    try:
        return context.repository_def.asset_graph
    except Exception:  # dagster's CheckError: "No repository definition was set on the step context"
        return context.job_def.asset_layer.asset_graph


def _present(value: object) -> bool:
    return value is not None and not pd.isna(value)


def key_numbers(frame: pd.DataFrame) -> dict[str, Any]:
    """Top-level metadata the asset page shows without a click: the overall numbers (MTTD and MTTR only
    when there were failures), then one line per asset."""
    overall = frame[frame["asset"] == "overall"].iloc[0]
    numbers: dict[str, Any] = {}
    for column, label in (
        ("uptime_pct", "uptime %"),
        ("full_quality_pct", "served at full quality %"),
        ("degraded_pct", "served degraded %"),
        ("failures", "failures"),
        ("mttd_s", "MTTD s"),
        ("mttr_s", "MTTR s"),
        ("auto_resolved_pct", "auto-resolved %"),
        ("budget_left_pct", "error budget left %"),
        ("incidents", "incidents"),
        ("fallback_rows_pct", "rows served by a fallback tier %"),
        ("fallback_hours", "hours served by a fallback"),
        ("downtime_cost_avoided_usd", "downtime cost avoided $"),
    ):
        if _present(overall[column]):
            value = overall[column]
            numbers[label] = int(value) if column in ("failures", "incidents") else float(value)
    if _present(overall["quality_per_tier"]):
        numbers["accuracy per tier"] = str(overall["quality_per_tier"])
    for _, row in frame[(frame["asset"] != "overall") & (frame["executions"] > 0)].iterrows():
        numbers[f"asset: {row['asset']}"] = _line(row)
    return numbers


def _line(row: Any) -> str:
    parts = [
        f"{row['executions']} runs",
        f"up {row['uptime_pct']:g}%",
        f"full quality {row['full_quality_pct']:g}%",
        f"degraded {row['degraded_pct']:g}%",
        f"{row['failures']} failures",
    ]
    if _present(row["mttr_s"]):
        parts.append(f"MTTR {row['mttr_s']:g} s")
    if _present(row["budget_left_pct"]):
        parts.append(f"budget left {row['budget_left_pct']:g}%")
    if _present(row["quality_per_tier"]):
        parts.append(f"accuracy {row['quality_per_tier']}")
    if _present(row["downtime_cost_avoided_usd"]) and row["downtime_cost_avoided_usd"]:
        parts.append(f"downtime ${row['downtime_cost_avoided_usd']:g} avoided")
    return " · ".join(parts)


def _cell(value: Any) -> str | float | None:
    if not _present(value):
        return None  # blank: the number does not apply (no failure, no MTTD)
    return value if isinstance(value, str) else float(value)


def scorecard_table(frame: pd.DataFrame) -> Any:
    """The scorecard as a Dagster table (typed columns; a blank cell where a number does not apply)."""
    from dagster import TableColumn, TableRecord, TableSchema

    columns = [c for c in COLUMNS if c in frame.columns]
    types = {c: "string" if c in ("asset", "tiers", "quality_per_tier") else "number" for c in columns}
    records = [TableRecord({COLUMNS[c]: _cell(row[c]) for c in columns}) for _, row in frame.iterrows()]
    schema = TableSchema(columns=[TableColumn(COLUMNS[c], types[c]) for c in columns])
    return MetadataValue.table(records=records, schema=schema)


def add_commands(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="the reliability scorecard of $DAGSTER_HOME in a terminal")
    report.add_argument("--window-days", type=float, default=DEFAULT_WINDOW_DAYS)
    report.add_argument("--markdown", action="store_true", help="a markdown table instead of plain text")
    report.add_argument(
        "--outage-cost-per-hour",
        type=float,
        default=None,
        metavar="USD",
        help=f"$ per hour of an analytics outage, for the downtime cost avoided (default ${OUTAGE_COST_ENV})",
    )
    report.add_argument("-v", "--verbose", action="store_true", help="no spinner while it computes")


def run(args: argparse.Namespace, *, defs: Definitions) -> int:
    """``reliability report`` for the code location ``defs`` (the CLI passes its own)."""
    from dagster import DagsterInstance

    from reliability_assets.progress import spinner

    with spinner("computing the scorecard", enabled=not args.verbose), DagsterInstance.get() as instance:
        frame = scorecard_for(
            instance,
            defs.resolve_asset_graph(),
            ReliabilityStoreResource().store,
            window_s=args.window_days * 86400,
            outage_cost_per_hour_usd=outage_cost_per_hour(args.outage_cost_per_hour),
        )
    print(f"reliability scorecard, last {args.window_days:g} days")
    print(as_text(frame, fmt="github" if args.markdown else "simple"))
    return 0
