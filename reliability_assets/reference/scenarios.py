"""``reliability scenario drifted|corrupted|llm_down``: a failure end to end, the way users meet it.

It launches ``reference_pipeline`` with the scenario through the running Dagster webserver's GraphQL API
(as the Launchpad does; ``make dev`` must be up), lets the daemon's sensors act while and after the run
goes, waits until every plan for the run has settled, and prints what happened as JSON: the failed checks,
the plans and the runs they launched, the incidents and the alerts. There is no headless shortcut: the
sensors run in the daemon, on its schedule, against runs started by the webserver.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from reliability_assets.reference.policy import CHAOS_TAG

SCENARIOS = ("clean", "drifted", "corrupted", "llm_down")
FINAL = ("verified", "failed", "refused", "unnecessary")


def run_config(scenario: str, *, size: int | None = None, seed: int | None = None) -> dict[str, Any]:
    """The Launchpad's run config for a scenario of the generator (llm_down: clean data, LLM chaos)."""
    config: dict[str, Any] = {"scenario": "clean" if scenario == "llm_down" else scenario}
    config |= {"size": size} if size is not None else {}
    config |= {"seed": seed} if seed is not None else {}
    return {"resources": {"source": {"config": config}}}


def plans_settled(
    store: Any, run_id: str, *, failed: Sequence[tuple[str, str]] = (), wait_for_plan: bool
) -> list[Any] | None:
    """The plans of ``run_id`` once the sensors have recorded every ``failed`` (asset, check) of it on an
    incident, planned for it (when ``wait_for_plan``) and every plan is final; None until then."""
    from reliability_assets import IncidentLog, PlanBook

    plans = PlanBook(store).list(trigger_run_id=run_id)
    incidents = IncidentLog(store)
    seen = all(incidents.was_recorded(asset=a, check=c, evaluation_id=run_id) for a, c in failed)
    done = seen and all(p.status in FINAL for p in plans) and (plans or not wait_for_plan)
    return plans if done else None


def settle(
    store: Any, run_id: str, *, failed: Sequence[tuple[str, str]], wait_for_plan: bool, timeout_s: float
) -> list[Any]:
    """Wait for ``plans_settled``; past ``timeout_s``, the plans as they stand."""
    deadline = time.monotonic() + timeout_s
    while (plans := plans_settled(store, run_id, failed=failed, wait_for_plan=wait_for_plan)) is None:
        if time.monotonic() > deadline:
            from reliability_assets import PlanBook

            return PlanBook(store).list(trigger_run_id=run_id)
        time.sleep(1.0)
    return plans


def run_scenario(
    name: str,
    *,
    ui_url: str = "http://127.0.0.1:3000",
    size: int | None = None,
    timeout_s: float = 900.0,
    on_progress: Callable[[str, str | None], None] | None = None,
) -> dict[str, Any]:
    """Launch, wait, let the sensors settle, summarize. ``on_progress(phase, run_id)`` hears each phase."""
    from dagster import AssetKey, DagsterInstance

    from reliability_assets import (
        AlertRouter,
        DagsterUI,
        IncidentLog,
        ReliabilityPolicy,
        ReliabilityStore,
        RemediationAction,
        policies_from,
        run_evaluations,
    )
    from reliability_assets.reference.definitions import defs

    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}")
    began = time.monotonic()
    say = on_progress or (lambda _phase, _run_id: None)
    tags = {"reliability/scenario": name} | ({CHAOS_TAG: "llm_down"} if name == "llm_down" else {})
    with DagsterUI(ui_url) as ui:
        say(f"launching {name} through {ui_url}", None)
        run_id = ui.launch("reference_pipeline", run_config=run_config(name, size=size), tags=tags)
        say(f"run {run_id[:8]}", run_id)
        run = ui.wait(run_id, timeout_s=timeout_s)
    say(f"run {run['status']}; waiting for the sensors to act", run_id)
    graph = defs.resolve_asset_graph()
    policies = policies_from({key: graph.get(key).metadata for key in graph.get_all_asset_keys()})
    with DagsterInstance.get() as instance:
        _, evaluations = run_evaluations(instance, run_id)
    failed = [e for e in evaluations if not e.passed]
    acting = any(
        policies.get(AssetKey.from_user_string(e.asset), ReliabilityPolicy()).action_for(e.check)
        in (RemediationAction.fallback, RemediationAction.rollback)
        for e in failed
    )
    store = ReliabilityStore()
    left = max(60.0, timeout_s - (time.monotonic() - began))
    pairs = [(e.asset, e.check) for e in failed]
    plans = settle(store, run_id, failed=pairs, wait_for_plan=acting, timeout_s=left)
    incidents = [i for i in IncidentLog(store).list(limit=200) if run_id in (i.first_run_id, i.last_run_id)]
    alerts = [e for e in AlertRouter(store, channels={}).inbox(limit=200) if e.alert.run_id == run_id]
    return {
        "scenario": name,
        "run_id": run_id,
        "run_status": run["status"],
        "failed_checks": sorted(f"{e.asset}:{e.check} ({e.severity})" for e in failed),
        "plans": [
            {
                "action": p.action,
                "status": p.status,
                "assets": list(p.assets),
                "run_id": p.run_id,
                "note": p.note,
            }
            for p in plans
        ],
        "incidents": [{"id": i.id, "check": f"{i.asset}:{i.check}", "status": i.status} for i in incidents],
        "alerts": [e.alert.title for e in alerts],
        "seconds": round(time.monotonic() - began, 1),
    }
