"""Live MTTD and MTTR of the remediation sensor: `dagster dev` (webserver + daemon), corrupted runs launched
through GraphQL as the Launchpad does, a webhook receiver on 127.0.0.1.

Per trial: MTTD = failed gate (customers:gx_suite) -> the alert at the webhook; MTTR = failed gate -> the
fallback run's materialization of customers (last-good data served). Baseline in the same run: Dagster's
own way to hear of it, a run-failure sensor (`run_failure_incidents`: failed gate -> its incident's
detection). The bound (3 actions per 6 h) and the alert cooldown (1 h per check) are lifted between
trials by clearing their tables: this measures latency; the live tests measure the bound and the dedup.

    .venv/bin/python benchmarks/live_mttr.py [--trials 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from dagster import AssetKey, DagsterEventType
from tabulate import tabulate

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reliability_assets.alerts import alert_cooldowns  # noqa: E402
from reliability_assets.check_events import run_evaluations  # noqa: E402
from reliability_assets.reference.scenarios import plans_settled, run_config  # noqa: E402
from reliability_assets.remediation_plans import remediation_plans  # noqa: E402
from reliability_assets.resources.store import ReliabilityStore  # noqa: E402
from reliability_assets.testing.live import LiveDagster, hermetic_env, webhook_receiver  # noqa: E402

IN_PROCESS = {"execution": {"config": {"in_process": {}}}}


def trial(live: LiveDagster, store: ReliabilityStore, hook: list, index: int) -> dict[str, float]:
    with store.transaction() as connection:  # lift the bound and the alert cooldown: latency is measured
        connection.execute(remediation_plans.delete())
        connection.execute(alert_cooldowns.delete())
    seen = len(hook)
    run_id = live.ui.launch("reference_pipeline", run_config=run_config("corrupted") | IN_PROCESS)
    live.ui.wait(run_id, timeout_s=600)
    (plan,) = live.wait(
        f"trial {index}: the fallback plan", lambda: plans_settled(store, run_id, wait_for_plan=True), 600
    )
    with live.instance() as instance:
        _, evaluations = run_evaluations(instance, run_id, AssetKey("customers"))
        failed_at = next(e.timestamp for e in evaluations if e.check == "gx_suite" and not e.passed)
        served = next(
            e.timestamp
            for e in instance.all_logs(plan.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
            if e.dagster_event and e.dagster_event.asset_key == AssetKey("customers")
        )

    def alerted() -> float | None:
        return next((at for at, _, body in hook[seen:] if "customers:gx_suite" in body), None)

    alert_at = live.wait(f"trial {index}: the webhook alert", alerted, 60)

    def run_failure_detected() -> float | None:  # Dagster logs when a run-status sensor acted on the run
        with live.instance() as instance:
            for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
                if "run_failure_incidents" in (entry.message or "") and "acted on" in (entry.message or ""):
                    return float(entry.timestamp)
        return None

    baseline_at = live.wait(f"trial {index}: the run-failure sensor", run_failure_detected, 120)
    return {
        "mttd_s": alert_at - failed_at,
        "mttr_s": served - failed_at,
        "baseline_detect_s": baseline_at - failed_at,
        "plan": plan.status == "verified",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="live-mttr-")) / "dagster_home"
    home.mkdir(parents=True)
    store_url = f"sqlite:///{home / 'store.sqlite'}"
    results = []
    with webhook_receiver() as (hook_url, received):
        env = hermetic_env(home, RELIABILITY_ALERT_WEBHOOK_URL=hook_url)
        live = LiveDagster(home, project=REPO, env=env).start()
        try:
            clean = live.ui.launch("reference_pipeline", run_config=run_config("clean") | IN_PROCESS)
            live.ui.wait(clean, timeout_s=600)  # the last-good data the fallbacks serve
            time.sleep(10)
            store = ReliabilityStore(store_url)
            for i in range(args.trials):
                results.append(trial(live, store, received, i + 1))
                print(
                    f"trial {i + 1}: " + ", ".join(f"{k}={v:.1f}" for k, v in results[-1].items()), flush=True
                )
        finally:
            live.stop()
    rows = [
        [i + 1, r["mttd_s"], r["mttr_s"], r["baseline_detect_s"], r["plan"]] for i, r in enumerate(results)
    ]
    print(
        tabulate(
            rows,
            headers=[
                "trial",
                "MTTD s (alert)",
                "MTTR s (fallback served)",
                "run-failure sensor s",
                "verified",
            ],
            floatfmt=".1f",
        )
    )
    med = {k: statistics.median(r[k] for r in results) for k in ("mttd_s", "mttr_s", "baseline_detect_s")}
    ratio = med["baseline_detect_s"] / med["mttd_s"] if med["mttd_s"] > 0 else float("inf")
    print(
        f"trials={len(results)} mttd_median_s={med['mttd_s']:.1f} mttr_median_s={med['mttr_s']:.1f} "
        f"baseline_detect_median_s={med['baseline_detect_s']:.1f} detect_speedup={ratio:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
