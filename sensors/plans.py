"""Run-level remediation plans: what the check-failure sensor does about a failing run once it has ended,
and how it follows the runs it launched until their effect is verified.

- **One plan per run and action.** Every failed check of the run is read from the run's own event log
  (not only what one tick happened to see); every asset whose policy says ``fallback`` goes into one
  fallback run with its downstream; every ``rollback`` policy into one run of its rollback job, and only
  when the failing run actually promoted something (``rollback_model``): a run whose lineage failed a check
  never promotes (``check_events.lineage_passed``), so usually there is nothing to undo.
- **Bounded.** At most ``max_actions`` plans per asset in ``window_s``, counted from the store by exact
  asset name; past it an alert says the bound was hit. A remediation run's own failures are never
  remediated (no loop).
- **Truthful.** An incident gets "fallback launched" only once the run exists, and is mitigated only after
  the run succeeded *and* its effect is seen (the asset's latest materialization is the fallback's and its
  failed checks pass there; the champion is the rollback's target). Otherwise: remediation failed, alerted.
- **Seen where people look.** Each decision and move (planned, refused by the bound, not needed, launched,
  verified, failed) is an ``AssetObservation`` on every asset of the plan (``events``), emitted where the
  plan book records it first, so it is as idempotent as the book.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dagster import AssetKey, AssetObservation, AssetSelection, DagsterRunStatus, RunRequest, RunsFilter

from reliability_assets.check_events import Evaluation, run_evaluations
from reliability_assets.remediation import (
    ACTION_TAG,
    PLAN_TAG,
    REASON_TAG,
    REMEDIATES_TAG,
    ROLLBACK_TO_TAG,
    TRIGGER_CHECK_TAG,
    TRIGGER_RUN_TAG,
    ReliabilityPolicy,
    RemediationAction,
)
from reliability_assets.remediation_plans import Plan, PlanBook
from reliability_assets.sensors.check_failures import evidence, graph_of, send_alert
from reliability_assets.sensors.observations import observation

if TYPE_CHECKING:
    from reliability_assets.alerts import AlertRouter
    from reliability_assets.incidents import IncidentLog
    from reliability_assets.resources.store import ReliabilityStore

#: A requested run that does not exist after this long was never created (the plan failed).
LAUNCH_TIMEOUT_S = 600.0
BOUND_CHECK = "remediation_bound"
FAILED_CHECK = "remediation_failed"

Failure = tuple[Evaluation, ReliabilityPolicy, str]  # the evaluation, its asset's policy, its incident id


class Planner:
    """One tick's planning: decide plans for ended runs, follow open plans."""

    def __init__(
        self,
        context: Any,
        store: ReliabilityStore,
        incidents: IncidentLog,
        alerts: AlertRouter,
        policies: Mapping[AssetKey, ReliabilityPolicy],
        *,
        fallback_job: str,
        run_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.context, self.store, self.incidents, self.alerts = context, store, incidents, alerts
        self.policies, self.fallback_job = policies, fallback_job
        self.run_config = dict(run_config or {})
        self.book = PlanBook(store)
        self.said: list[str] = []
        self.events: list[AssetObservation] = []

    def summary(self) -> str:
        return "; ".join(self.said)

    def _observe(
        self, plan: Plan, event: str, why: str, *, run_id: str | None = None, severity: str | None = None
    ) -> None:
        """One observation per asset of ``plan`` (each asset's timeline tells its own story)."""
        for asset in plan.assets or [plan.checks[0].rpartition(":")[0]]:
            checks = [c for c in plan.checks if c.rpartition(":")[0] == asset] or list(plan.checks)
            self.events.append(
                observation(
                    asset,
                    event=event,
                    why=why,
                    checks=checks,
                    severity=severity,
                    action=f"{plan.action} ({plan.job})",
                    incident_ids=plan.incident_ids,
                    trigger_run_id=plan.trigger_run_id,
                    remediation_run_id=run_id,
                )
            )

    # --- deciding ----------------------------------------------------------------------------------

    def plan_ended_runs(self, pending: Mapping[str, float]) -> tuple[list[RunRequest], list[str]]:
        """Run requests for the failing runs that have ended, and the ids of those runs (now decided)."""
        requests: list[RunRequest] = []
        decided: list[str] = []
        for run_id in list(pending):
            run = self.context.instance.get_run_by_id(run_id)
            if run is not None and not run.is_finished:
                continue
            decided.append(run_id)
            if run is not None:
                requests += self._plan_run(run)
        return requests, decided

    def _plan_run(self, run: Any) -> list[RunRequest]:
        _, evaluations = run_evaluations(self.context.instance, run.run_id)
        latest: dict[tuple[str, str], Evaluation] = {}
        for evaluation in evaluations:  # a retried check step: its last evaluation counts
            latest[(evaluation.asset, evaluation.check)] = evaluation
        failed = [e for e in latest.values() if not e.passed]
        if not failed:
            return []
        if remediation := run.tags.get(ACTION_TAG):
            self.said.append(f"run {run.run_id[:8]} is a {remediation} run: its failures are not remediated")
            return []
        fallbacks: list[Failure] = []
        rollbacks: dict[str, list[Failure]] = {}
        for evaluation in failed:
            policy = self.policies.get(AssetKey.from_user_string(evaluation.asset), ReliabilityPolicy())
            action = policy.action_for(evaluation.check)
            if action not in (RemediationAction.fallback, RemediationAction.rollback):
                continue
            incident, _ = self.incidents.record_failure(
                asset=evaluation.asset,
                check=evaluation.check,
                severity=evaluation.severity,
                failed_at=evaluation.timestamp,
                run_id=run.run_id,
                evaluation_id=run.run_id,
                description=evaluation.description or "failed",
                evidence=evidence(evaluation),
            )
            item = (evaluation, policy, incident.id)
            if action == RemediationAction.fallback:
                fallbacks.append(item)
            elif policy.rollback_job:
                rollbacks.setdefault(policy.rollback_job, []).append(item)
        requests = self._fallback(run, fallbacks) if fallbacks else []
        for job, items in rollbacks.items():
            requests += self._rollback(run, job, items)
        return requests

    def _within_bound(self, key: str, items: list[Failure], action: str) -> list[Failure]:
        """The items whose asset is under its bound; for the others, an alert that the bound was hit."""
        allowed, counts = [], {}
        for item in items:
            evaluation, policy, incident_id = item
            asset = evaluation.asset
            if asset not in counts:
                counts[asset] = self.book.actions_in_window(asset, window_s=policy.window_s)
            if counts[asset] < policy.max_actions:
                allowed.append(item)
                continue
            hours = policy.window_s / 3600
            note = (
                f"automatic {action} NOT launched: {counts[asset]} automatic actions on {asset} in the last "
                f"{hours:g} h (max {policy.max_actions}); a person must act"
            )
            self._record(
                incident_id, f"{action} not launched (bound)", None, note, key=f"bound:{key}:{asset}"
            )
            if not self.incidents.was_recorded(asset=asset, check=BOUND_CHECK, evaluation_id=key):
                self.incidents.record_failure(
                    asset=asset,
                    check=BOUND_CHECK,
                    severity="ERROR",
                    failed_at=time.time(),
                    run_id=evaluation.run_id,
                    evaluation_id=key,
                    description=note,
                    evidence=f"{evaluation.asset}:{evaluation.check} failed in run {evaluation.run_id}",
                    failure_mode="remediation bound reached: automatic actions stopped, a person must act",
                )
                self._alert(
                    asset, BOUND_CHECK, f"ERROR: {asset}: {note}", note, evaluation.run_id, incident_id
                )
                self.events.append(
                    observation(
                        asset,
                        event=f"{action} NOT launched (bound)",
                        why=note,
                        checks=[f"{evaluation.asset}:{evaluation.check}"],
                        severity="ERROR",
                        action=action,
                        incident_ids=[incident_id],
                        trigger_run_id=evaluation.run_id,
                    )
                )
            self.said.append(f"{asset}: {note}")
        return allowed

    def _fallback(self, run: Any, items: list[Failure]) -> list[RunRequest]:
        key = f"fallback:{run.run_id}"
        existing = self.book.get(key)
        if existing is not None:  # decided before (a retried tick): ask again, the run_key dedups
            return [self._request(existing)] if existing.status == "requested" else []
        allowed = self._within_bound(key, items, "fallback")
        if not allowed:
            self._add(
                key,
                run,
                RemediationAction.fallback,
                self.fallback_job,
                items,
                status="refused",
                note="bound hit",
            )
            return []
        plan = self._add(key, run, RemediationAction.fallback, self.fallback_job, allowed, status="requested")
        what = f"fallback of {', '.join(plan.assets)} (and downstream) for run {run.run_id[:8]}"
        self.said.append(what)
        self._observe(plan, "fallback planned", f"{', '.join(plan.checks)} failed: {what} requested")
        return [self._request(plan)]

    def _rollback(self, run: Any, job: str, items: list[Failure]) -> list[RunRequest]:
        key = f"rollback:{run.run_id}:{job}"
        existing = self.book.get(key)
        if existing is not None:
            return [self._request(existing)] if existing.status == "requested" else []
        model = items[0][1].rollback_model
        target: str | None = None
        if model:
            from reliability_assets.registry import ModelRegistry

            registry = ModelRegistry(self.store)
            moves = [m for m in registry.history(model) if m.run_id == run.run_id]
            champion = registry.champion(model)
            now_serving = champion.version if champion else "none"
            if not moves or champion is None or champion.version != moves[-1].to_version:
                why = (
                    f"run {run.run_id[:8]} promoted no {model} model (a check failed in its lineage)"
                    if not moves
                    else f"the {model} champion moved on since run {run.run_id[:8]}"
                )
                note = f"rollback not needed: {why}; the champion {now_serving} serves"
                plan = self._add(
                    key, run, RemediationAction.rollback, job, items, status="unnecessary", note=note
                )
                for incident_id in plan.incident_ids:
                    self._record(incident_id, "rollback not needed", None, note, key=key)
                    self.incidents.mitigate_by_id(incident_id, at=time.time(), run_id=None, note=note)
                self.said.append(note)
                self._observe(plan, "rollback not needed", note)
                return []
            target = moves[0].from_version
            if target is None:
                note = (
                    f"rollback impossible: no {model} champion before run {run.run_id[:8]}; a person must act"
                )
                plan = self._add(
                    key, run, RemediationAction.rollback, job, items, status="refused", note=note
                )
                self._failed(plan, note, run_id=None)
                return []
        allowed = self._within_bound(key, items, "rollback")
        if not allowed:
            self._add(
                key,
                run,
                RemediationAction.rollback,
                job,
                items,
                status="refused",
                note="bound hit",
                target=target,
            )
            return []
        plan = self._add(
            key, run, RemediationAction.rollback, job, allowed, status="requested", target=target
        )
        what = f"rollback ({job}) to {target or 'the previous passing version'} for run {run.run_id[:8]}"
        self.said.append(what)
        self._observe(plan, "rollback planned", f"{', '.join(plan.checks)} failed: {what} requested")
        return [self._request(plan)]

    def _add(
        self,
        key: str,
        run: Any,
        action: RemediationAction,
        job: str,
        items: list[Failure],
        *,
        status: Any,
        note: str = "",
        target: str | None = None,
    ) -> Plan:
        return self.book.add(
            key=key,
            trigger_run_id=run.run_id,
            action=str(action),
            job=job,
            assets=list(dict.fromkeys(e.asset for e, _, _ in items)),
            checks=list(dict.fromkeys(f"{e.asset}:{e.check}" for e, _, _ in items)),
            incident_ids=list(dict.fromkeys(i for _, _, i in items)),
            status=status,
            target=target,
            note=note,
        )

    def _request(self, plan: Plan) -> RunRequest:
        tags = {
            ACTION_TAG: plan.action,
            REASON_TAG: f"{', '.join(plan.checks)} failed in run {plan.trigger_run_id[:8]}",
            REMEDIATES_TAG: ",".join(plan.assets),
            TRIGGER_CHECK_TAG: plan.checks[0],
            TRIGGER_RUN_TAG: plan.trigger_run_id,
            PLAN_TAG: plan.key,
        }
        if plan.action == RemediationAction.rollback:
            return RunRequest(
                run_key=plan.key,
                job_name=plan.job,
                run_config=self.run_config,
                tags=tags | ({ROLLBACK_TO_TAG: plan.target} if plan.target else {}),
            )
        keys = [AssetKey.from_user_string(a) for a in plan.assets]
        selection = AssetSelection.assets(*keys).downstream().resolve(graph_of(self.context))
        return RunRequest(
            run_key=plan.key,
            job_name=plan.job,
            run_config=self.run_config,
            asset_selection=sorted(selection),
            tags=tags,
        )

    # --- following ---------------------------------------------------------------------------------

    def follow_open_plans(self) -> None:
        """requested -> launched once the run exists; launched -> verified | failed once it has ended."""
        instance = self.context.instance
        for plan in self.book.open():
            records = instance.get_run_records(filters=RunsFilter(tags={PLAN_TAG: plan.key}), limit=1)
            if not records:
                if time.time() - plan.created_at > LAUNCH_TIMEOUT_S:
                    note = (
                        f"the {plan.action} run was never created ({LAUNCH_TIMEOUT_S:g} s after the request)"
                    )
                    if (
                        moved := self.book.move(plan.key, "failed", expect=("requested",), note=note)
                    ) is not None:
                        self._failed(moved, note, run_id=None)
                continue
            run = records[0].dagster_run
            if plan.status == "requested":
                moved = self.book.move(plan.key, "launched", expect=("requested",), run_id=run.run_id)
                if moved is None:
                    continue
                plan = moved
                what = f"{plan.action} launched: run {run.run_id[:8]} ({plan.job}"
                what += (
                    f", to {plan.target})" if plan.target else f", {', '.join(plan.assets)} and downstream)"
                )
                for incident_id in plan.incident_ids:
                    self._record(incident_id, f"{plan.action} launched", run.run_id, what, key=plan.key)
                self.said.append(what)
                self._observe(plan, f"{plan.action} launched", what, run_id=run.run_id)
            if not run.is_finished:
                continue
            verified, note = self._verify(plan, run)
            if verified:
                if self.book.move(plan.key, "verified", expect=("launched",), note=note) is not None:
                    for incident_id in plan.incident_ids:
                        self.incidents.mitigate_by_id(
                            incident_id, at=time.time(), run_id=run.run_id, note=note
                        )
                    self.said.append(f"{plan.key}: {note}")
                    self._observe(plan, f"{plan.action} verified: mitigated", note, run_id=run.run_id)
            elif (moved := self.book.move(plan.key, "failed", expect=("launched",), note=note)) is not None:
                self._failed(moved, note, run_id=run.run_id)

    def _verify(self, plan: Plan, run: Any) -> tuple[bool, str]:
        """Did the remediation take effect? Not only "the run succeeded": what it was for is checked."""
        label = f"the {plan.action} run {run.run_id[:8]}"
        if run.status != DagsterRunStatus.SUCCESS:
            return False, f"{label} ended {run.status.value}"
        instance = self.context.instance
        if plan.action == RemediationAction.rollback:
            if plan.target:
                from reliability_assets.registry import ModelRegistry

                model = self._policy(plan.assets[0]).rollback_model or ""
                champion = ModelRegistry(self.store).champion(model)
                if champion is None or champion.version != plan.target:
                    now = champion.version if champion else "none"
                    return False, f"{label} succeeded but the {model} champion is {now}, not {plan.target}"
                return True, f"verified: {label} succeeded and the {model} champion is {plan.target}"
            return True, f"verified: {label} succeeded"
        _, evaluations = run_evaluations(
            instance, run.run_id, [AssetKey.from_user_string(a) for a in plan.assets]
        )
        from dagster import DagsterEventType

        materialized = {
            entry.dagster_event.asset_key.to_user_string()
            for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
            if entry.dagster_event is not None and entry.dagster_event.asset_key is not None
        }
        for asset in plan.assets:
            if asset not in materialized:
                event = instance.get_latest_materialization_event(AssetKey.from_user_string(asset))
                by = f"run {event.run_id[:8]}" if event else "no run"
                return (
                    False,
                    f"{label} succeeded but did not materialize {asset} (latest materialization: {by})",
                )
        still = sorted(
            f"{e.asset}:{e.check}"
            for e in evaluations
            if not e.passed and f"{e.asset}:{e.check}" in plan.checks
        )
        if still:
            return False, f"{label} materialized, but {', '.join(still)} failed again there"
        served = ", ".join(plan.assets)
        return (
            True,
            f"verified: {label} succeeded; {served} now served from it and {', '.join(plan.checks)} pass",
        )

    # --- recording ---------------------------------------------------------------------------------

    def _policy(self, asset: str) -> ReliabilityPolicy:
        return self.policies.get(AssetKey.from_user_string(asset), ReliabilityPolicy())

    def _record(self, incident_id: str, action: str, run_id: str | None, note: str, *, key: str) -> None:
        self.incidents.action_taken(
            incident_id, action=action, run_id=run_id, at=time.time(), note=note, key=key
        )

    def _failed(self, plan: Plan, note: str, *, run_id: str | None) -> None:
        """action_failed on every incident of the plan, and an ERROR alert naming what did not work."""
        for incident_id in plan.incident_ids:
            self.incidents.remediation_failed(incident_id, at=time.time(), run_id=run_id, note=note)
        asset = plan.assets[0] if plan.assets else plan.checks[0].rpartition(":")[0]
        title = f"ERROR: {plan.action} for {', '.join(plan.checks)} did not take effect: {note}"
        self._alert(
            asset,
            FAILED_CHECK,
            title,
            note,
            run_id or plan.trigger_run_id,
            plan.incident_ids[0] if plan.incident_ids else None,
        )
        self.said.append(f"{plan.key}: remediation failed: {note}")
        self._observe(plan, f"{plan.action} failed", note, run_id=run_id, severity="ERROR")

    def _alert(
        self, asset: str, check: str, title: str, body: str, run_id: str, incident_id: str | None
    ) -> None:
        send_alert(
            self.alerts,
            self.context,
            asset=asset,
            check=check,
            severity="ERROR",
            title=title,
            body=body,
            run_id=run_id,
            incident_id=incident_id,
            policy=self._policy(asset),
        )
