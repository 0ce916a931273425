"""Raw sources: where customers and orders come from. The assets do not know which source they got."""

import time
from collections.abc import Iterator

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    MetadataValue,
    Output,
    asset,
)

from reliability_assets.analytics.raw_sources import MAX_QUARANTINED_SHARE, RawSource, SourceLoad, Table
from reliability_assets.metadata import table_metadata
from reliability_assets.policy import CHAOS_TAG, DAILY, DAILY_FAIL, OWNERS, STEP_RETRY

RAW_CHECKS = (
    (
        "served_live",
        False,
        "WARN when the last-good snapshot served; ERROR when it is past the freshness window.",
    ),
    ("quarantine_share", True, f"At most {MAX_QUARANTINED_SHARE:.0%} of received records failed validation."),
)


def _served_live(loaded: SourceLoad) -> AssetCheckResult:
    """WARN when the snapshot served; ERROR when the snapshot is older than the freshness fail window
    (Dagster's freshness policy sees the run's time, not the data's)."""
    if not loaded.degraded:
        return AssetCheckResult(check_name="served_live", passed=True)
    age_s = time.time() - loaded.snapshot_written_at if loaded.snapshot_written_at else float("inf")
    stale = age_s > DAILY_FAIL.total_seconds()
    age = f"snapshot {age_s / 3600:.1f} h old" + (
        f", past the {DAILY_FAIL} freshness window" if stale else ""
    )
    return AssetCheckResult(
        check_name="served_live",
        passed=False,
        severity=AssetCheckSeverity.ERROR if stale else AssetCheckSeverity.WARN,
        description=f"degraded: {loaded.reason}; {age}",
        metadata={"snapshot_age_s": round(age_s, 1)},
    )


def _raw_asset(table: Table, description: str) -> AssetsDefinition:
    @asset(
        name=table,
        description=description,
        group_name="raw",
        kinds={"python", "pandas", "duckdb"},
        owners=OWNERS,
        retry_policy=STEP_RETRY,
        freshness_policy=DAILY,
        tags={"layer": "raw"},
        pool="source_api",
        check_specs=[
            AssetCheckSpec(name, asset=table, blocking=blocking, description=text)
            for name, blocking, text in RAW_CHECKS
        ],
    )
    def _load(context: AssetExecutionContext, source: RawSource) -> Iterator[Output | AssetCheckResult]:
        loaded = source.load(table, chaos=context.run.tags.get(CHAOS_TAG) or None)
        extra = dict(loaded.metadata)
        if loaded.snapshot_written_at is not None:
            # Freshness is about the data, not the run: a stale snapshot must look stale.
            extra["dagster/last_updated_timestamp"] = MetadataValue.timestamp(loaded.snapshot_written_at)
        yield Output(loaded.frame, metadata=table_metadata(loaded.frame, **extra))
        yield _served_live(loaded)
        share = loaded.quarantined_share
        yield AssetCheckResult(
            check_name="quarantine_share",
            passed=share <= MAX_QUARANTINED_SHARE,
            description=None
            if share <= MAX_QUARANTINED_SHARE
            else f"{loaded.quarantined} of {loaded.received} records ({share:.1%}) quarantined, "
            f"above {MAX_QUARANTINED_SHARE:.0%}: see the quarantine table",
            metadata={
                "quarantined": loaded.quarantined,
                "received": loaded.received,
                "share": round(share, 4),
            },
        )

    return _load


customers = _raw_asset(
    "customers",
    "Customer master data: signup date, plan, region, acquisition channel and the observed churn label.",
)
orders = _raw_asset(
    "orders", "Orders of the last 12 months: amount, quantity and whether the order was returned."
)
