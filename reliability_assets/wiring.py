"""``reliability_definitions``: the framework's side of a user's code location in one call.

A user writes their assets, gates (``build_gx_checks``, ``build_drift_check``) and policies
(``reliability_policy``), then merges::

    defs = Definitions.merge(
        Definitions(assets=[...], asset_checks=[...], jobs=[daily], resources={"llm": llm}),
        reliability_definitions(jobs=[daily], fallback_job=daily),
    )

What comes back, and why each part is there:

- the check-failure remediation sensor (alerts at once, one fallback/rollback plan per failing run) and the
  run-outcome sensors (every failed run opens an incident, a successful one resolves it);
- ``alert_inbox`` and ``reliability_health``, the observed views the remediation sensor keeps current, and
  ``reliability_scorecard``, with the user's ``owners`` (never the reference pipeline's);
- the ``dead_letter_replay`` job, which sends what no tier could serve through the user's LLM resource
  (``LLM_KEY``), unless ``replay_dead_letters=False`` (a project without a ``ResilientLLM``);
- the resources only the framework needs, under its keys: the store (``RELIABILITY_STORE_KEY``, which the
  drift checks use too) and, when given, the triage LLM (``TRIAGE_LLM_KEY``). The user's Definitions must
  not define those keys themselves: ``Definitions.merge`` refuses two resources under one key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dagster import DefaultSensorStatus, Definitions, ResourceDefinition, map_asset_specs

from reliability_assets.resource_keys import RELIABILITY_STORE_KEY, TRIAGE_LLM_KEY

if TYPE_CHECKING:
    from reliability_assets.resources.llm import ResilientLLM
    from reliability_assets.resources.store_resource import ReliabilityStoreResource

__all__ = ["reliability_definitions"]


def _name_of(job: Any) -> str:
    name = job if isinstance(job, str) else getattr(job, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"fallback_job: expected a job or a job name, got {job!r}")
    return name


def reliability_definitions(
    *,
    jobs: Sequence[Any],
    fallback_job: Any,
    store: ReliabilityStoreResource | ResourceDefinition | None = None,
    triage_llm: ResilientLLM | ResourceDefinition | None = None,
    owners: Sequence[str] = (),
    run_config: Mapping[str, Any] | None = None,
    interval_s: int | None = None,
    default_status: DefaultSensorStatus = DefaultSensorStatus.RUNNING,
    views: bool = True,
    scorecard: bool = True,
    replay_dead_letters: bool = True,
) -> Definitions:
    """The sensors, reliability jobs, assets and resources, for ``Definitions.merge`` with the user's own.

    ``jobs``: every job the remediation sensor may launch (``define_asset_job`` results or job
    definitions): ``fallback_job`` (a job or its name, containing every asset whose policy falls back)
    and each policy's ``rollback_job``. ``store``: where incidents, alerts and plans live (default:
    ``RELIABILITY_STORE_URL``, else SQLite in ``$DAGSTER_HOME``). ``triage_llm``: a ``ResilientLLM`` with a
    short deadline for incident triage inside a sensor tick; None: rule-based triage (either may be a
    ``ResourceDefinition``, e.g. one whose Launchpad config is trimmed; the same object may also be in the
    user's Definitions: ``Definitions.merge`` accepts one object under one key twice). ``run_config``: the
    run config of every remediation run. ``interval_s``: how often the remediation sensor ticks (None:
    5 s; the time to detect a failed check is at most that plus a tick). ``owners``: the owners shown on
    the framework's assets.
    """
    from reliability_assets.resources.store_resource import ReliabilityStoreResource
    from reliability_assets.sensors.check_failures import DEFAULT_INTERVAL_S, build_check_failure_sensor
    from reliability_assets.sensors.run_outcomes import build_run_outcome_sensors

    if not jobs:
        raise ValueError("reliability_definitions: jobs= needs at least the fallback job")
    fallback = _name_of(fallback_job)
    if fallback not in {_name_of(job) for job in jobs}:
        raise ValueError(f"reliability_definitions: fallback_job {fallback!r} is not one of jobs=")
    sensors = [
        build_check_failure_sensor(
            jobs=jobs,
            fallback_job=fallback,
            minimum_interval_seconds=interval_s or DEFAULT_INTERVAL_S,
            default_status=default_status,
            triage_llm=triage_llm is not None,
            run_config=run_config,
        ),
        *build_run_outcome_sensors(default_status=default_status),
    ]
    assets: list[Any] = []
    if views:
        from reliability_assets.alert_inbox import alert_inbox
        from reliability_assets.health import reliability_health

        assets += [alert_inbox, reliability_health]
    if scorecard:
        from reliability_assets.scorecard_asset import reliability_scorecard

        assets.append(reliability_scorecard)
    assets = list(map_asset_specs(lambda spec: spec.replace_attributes(owners=list(owners)), assets))
    reliability_jobs: list[Any] = []
    if replay_dead_letters:
        from reliability_assets.dead_letters import dead_letter_replay

        reliability_jobs.append(dead_letter_replay)
    resources: dict[str, Any] = {RELIABILITY_STORE_KEY: store or ReliabilityStoreResource()}
    if triage_llm is not None:
        resources[TRIAGE_LLM_KEY] = triage_llm
    return Definitions(assets=assets, jobs=reliability_jobs, sensors=sensors, resources=resources)
