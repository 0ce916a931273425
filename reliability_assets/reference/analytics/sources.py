"""Raw sources: where customers and orders come from. The assets do not know which source they got.

A load commits in two phases: the source pulls, validates and builds the frame; only once the frame is
stored as the asset's output is it kept as a last-good candidate (``kept_frames``) and does it replace the
source's own last-good data (an API's snapshot). A candidate becomes the last-good data once every check on
it passed. A fallback run (run tag ``reliability/action=fallback``, launched by the remediation sensor when
a gate fails) serves that data instead of the source, and says so.
"""

import time
from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Failure,
    MetadataValue,
    Output,
    asset,
)

from reliability_assets import (
    ACTION_TAG,
    FAILURE_MODE_KEY,
    REASON_TAG,
    ReliabilityStoreResource,
    redact,
    redact_metadata,
    redact_text,
    reliability_policy,
    table_metadata,
)
from reliability_assets.reference.analytics.raw_sources import (
    MAX_QUARANTINED_SHARE,
    RawSource,
    SourceLoad,
    Table,
)
from reliability_assets.reference.policy import CHAOS_TAG, DAILY, DAILY_FAIL, OWNERS, STEP_RETRY

LAST_GOOD = "last_good"

RAW_CHECKS = (  # name, blocking, description, failure mode
    (
        "served_live",
        False,
        "WARN when the last-good snapshot served; ERROR when it is past the freshness window.",
        "source outage: data served from a fallback",
    ),
    (
        "quarantine_share",
        True,
        f"At most {MAX_QUARANTINED_SHARE:.0%} of received records failed validation.",
        "invalid records: too many rows quarantined",
    ),
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
        description=redact_text(f"degraded: {loaded.reason}; {age}"),
        metadata=redact_metadata({"snapshot_age_s": round(age_s, 1)}),
    )


def _serve_last_good(
    context: AssetExecutionContext, table: str, good: Any
) -> Iterator[Output | AssetCheckResult]:
    """The fallback mode: the last data whose checks all passed, marked degraded, with its age."""
    why = context.run.tags.get(REASON_TAG, "fallback run")
    if good is None:
        raise Failure(
            redact_text(f"{table}: fallback asked ({why}) but no materialization has passed its checks yet"),
            allow_retries=False,
        )
    age_h = (time.time() - good.created_at) / 3600
    frame = good.frame.copy()
    served = f"last-good data of run {good.run_id[:8]} ({age_h:.1f} h old)"
    extra = {
        "degraded": True,
        "served_from": served,
        "fallback_reason": why,
        "last_good_run_id": good.run_id,
        "dagster/last_updated_timestamp": MetadataValue.timestamp(good.created_at),
    }
    yield Output(frame, metadata=redact_metadata(table_metadata(frame, **extra)))
    yield AssetCheckResult(
        check_name="served_live",
        passed=False,
        severity=AssetCheckSeverity.WARN,
        description=redact_text(f"degraded: fallback run served {served}; {why}"),
        metadata=redact_metadata({"snapshot_age_s": round(age_h * 3600, 1)}),
    )
    yield AssetCheckResult(
        check_name="quarantine_share",
        passed=True,
        description="fallback: no records received from the source",
        metadata=redact_metadata({"quarantined": 0, "received": 0, "share": 0.0}),
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
        # A failed gate: serve the last data whose checks all passed, and let downstream refresh from it.
        metadata=reliability_policy(
            on_check_failure="fallback", checks={"served_live": "alert", "volume": "alert"}, owner=OWNERS[0]
        ),
        pool="source_api",
        check_specs=[
            AssetCheckSpec(
                name, asset=table, blocking=blocking, description=text, metadata={FAILURE_MODE_KEY: mode}
            )
            for name, blocking, text, mode in RAW_CHECKS
        ],
    )
    def _load(
        context: AssetExecutionContext, source: RawSource, reliability: ReliabilityStoreResource
    ) -> Iterator[Output | AssetCheckResult]:
        from reliability_assets import (
            active_frame,
            lineage_passed,
            save_candidate,
            settle_candidates,
            upstream_of,
        )

        store, run_id = reliability.store, context.run.run_id
        upstream = upstream_of(context, AssetKey(table))
        settle_candidates(
            store,
            asset=table,
            purpose=LAST_GOOD,
            current_run_id=run_id,
            verdict=lambda r: lineage_passed(context.instance, r, AssetKey(table), upstream=upstream),
        )
        if context.run.tags.get(ACTION_TAG) == "fallback":
            yield from _serve_last_good(context, table, active_frame(store, asset=table, purpose=LAST_GOOD))
            return
        # Phase one: pulled, validated and built into a frame; the last-good data is not touched yet.
        loaded = source.load(table, chaos=context.run.tags.get(CHAOS_TAG) or None)
        extra = dict(loaded.metadata)
        if loaded.snapshot_written_at is not None:
            # Freshness is about the data, not the run: a stale snapshot must look stale.
            extra["dagster/last_updated_timestamp"] = MetadataValue.timestamp(loaded.snapshot_written_at)
        yield Output(loaded.frame, metadata=redact_metadata(table_metadata(loaded.frame, **extra)))
        # Phase two: Dagster resumes this generator only once the IO manager has stored the output, so the
        # data has proven usable: now it becomes a last-good candidate (judged by its checks later) and
        # replaces the source's snapshot. A failure or a crash before here leaves both as they were.
        save_candidate(
            store,
            asset=table,
            purpose=LAST_GOOD,
            run_id=run_id,
            frame=loaded.frame,
            source_rows=len(loaded.frame),
        )
        loaded.commit()
        yield _served_live(loaded)
        share = loaded.quarantined_share
        yield AssetCheckResult(
            check_name="quarantine_share",
            passed=share <= MAX_QUARANTINED_SHARE,
            description=redact(
                None
                if share <= MAX_QUARANTINED_SHARE
                else f"{loaded.quarantined} of {loaded.received} records ({share:.1%}) quarantined, "
                f"above {MAX_QUARANTINED_SHARE:.0%}: see the quarantine table"
            ),
            metadata=redact_metadata(
                {"quarantined": loaded.quarantined, "received": loaded.received, "share": round(share, 4)}
            ),
        )

    return _load


customers = _raw_asset(
    "customers",
    "Customer master data: signup date, plan, region, acquisition channel and the observed churn label.",
)
orders = _raw_asset(
    "orders", "Orders of the last 12 months: amount, quantity and whether the order was returned."
)
