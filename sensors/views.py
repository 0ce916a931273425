"""The check-failure sensor's views: standing degraded states (one inbox entry while they last) and the
observations of the ``alert_inbox`` and ``reliability_health`` assets, made only when they changed."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dagster import AssetObservation, SensorEvaluationContext

from reliability_assets.check_events import Evaluation, standing_notice
from reliability_assets.remediation import ACTION_TAG
from reliability_assets.resources.redaction import redacted_logger
from reliability_assets.sensors.observations import observation, run_url

if TYPE_CHECKING:
    from reliability_assets.alerts import AlertRouter
    from reliability_assets.incidents import IncidentLog
    from reliability_assets.sensors.check_failures import SensorState

#: A passing evaluation alone refreshes the health board at most this often (a run reports ~20 checks).
HEALTH_MIN_INTERVAL_S = 30.0


def standing_state(
    context: SensorEvaluationContext,
    alerts: AlertRouter,
    evaluation: Evaluation,
    events: list[AssetObservation],
    standing: set[tuple[str, str]],
) -> None:
    """A check that declares a standing degraded state (e.g. no model configured) gets one standing inbox
    entry while it lasts; a normal run's evaluation without it ends it. ``standing``: the (asset, check)
    pairs standing before this tick (read once a tick)."""
    from reliability_assets.alerts import Alert

    asset, check = evaluation.asset, evaluation.check
    notice = standing_notice(evaluation)
    if notice is None:
        if (asset, check) not in standing:
            return
        run = context.instance.get_run_by_id(evaluation.run_id)
        if run is None or run.tags.get(ACTION_TAG):  # a remediation run says nothing about the state
            return
        if alerts.clear_standing(asset=asset, check=check):
            standing.discard((asset, check))
            events.append(
                observation(
                    asset,
                    event=f"standing state cleared: {check}",
                    why=f"run {evaluation.run_id[:8]} no longer reports it",
                    checks=[f"{asset}:{check}"],
                    trigger_run_id=evaluation.run_id,
                )
            )
        return
    title = f"WARN (standing): {asset}: {notice}"
    alert = Alert(
        asset=asset,
        check=check,
        severity="WARN",
        title=title,
        body=f"{notice}\n\nShown once while it lasts (first seen in run {evaluation.run_id[:8]}); "
        "the check passes because this is the configuration, not a failure.",
        run_id=evaluation.run_id,
        run_url=run_url(evaluation.run_id),
    )
    alert_id, created = alerts.standing(alert)
    standing.add((asset, check))
    if created:
        events.append(
            observation(
                asset,
                event=f"standing degraded state: {check}",
                why=notice,
                checks=[f"{asset}:{check}"],
                severity="WARN",
                trigger_run_id=evaluation.run_id,
                alert_id=alert_id,
            )
        )


def observe_views(
    context: SensorEvaluationContext,
    graph: Any,
    state: SensorState,
    alerts: AlertRouter,
    incidents: IncidentLog,
    *,
    changed: bool,
    read: Sequence[Any],
) -> list[AssetObservation]:
    """Observations of the inbox and the health board, only when they changed: the inbox's version is one
    query; the board is rebuilt on failures, standing states and incident moves at once, on passing
    evaluations alone at most every HEALTH_MIN_INTERVAL_S (a run reports ~20 checks)."""
    from reliability_assets.alert_inbox import inbox_observation
    from reliability_assets.health import health_observation

    views: list[AssetObservation] = []
    try:
        version = list(alerts.version())
        if version != state.inbox:
            views.append(inbox_observation(alerts))
            state.inbox = version
        state.health_dirty = state.health_dirty or bool(read)
        now = time.time()
        due = state.health_dirty and now - state.health_at >= HEALTH_MIN_INTERVAL_S
        if changed or due or not state.health_at:
            checks = {
                key: graph.get_check_spec(key).blocking for key in sorted(graph.asset_check_keys, key=str)
            }
            views.append(health_observation(context.instance, checks, incidents, run_url))
            state.health_at, state.health_dirty = now, False
    except Exception as error:  # a view must never stop remediation
        redacted_logger(context.log).error(
            f"inbox/health views not observed: {type(error).__name__}: {error}"
        )
    return views
