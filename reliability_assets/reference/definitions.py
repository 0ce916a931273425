"""The code location that ``dg dev`` / ``workspace.yaml`` load: ``defs``."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import AssetSelection, Definitions, define_asset_job

from reliability_assets import (
    ACTION_TAG,
    RELIABILITY_STORE_KEY,
    TRIAGE_LLM_KEY,
    ReliabilityStoreResource,
    reliability_definitions,
    storage_resources,
)
from reliability_assets.reference.analytics import ASSET_CHECKS, ASSETS, RawSource
from reliability_assets.reference.policy import OWNERS
from reliability_assets.reference.settings import (
    artifacts_dir,
    duckdb_path,
    load_settings,
    reference_llm,
    reference_source,
)

_settings = load_settings()
#: Remediation runs execute in one process: one interpreter start instead of one per step (3-6 s each on a
#: loaded 2-core machine), so a fallback serves its data seconds after the failing run ends. The executor's
#: default too; explicit so that a deployment whose default is multiprocess still falls back that fast.
REMEDIATION_RUN_CONFIG: dict[str, Any] = {"execution": {"config": {"in_process": {}}}}
TRIAGE_DEADLINE_S = 20.0

reference_pipeline = define_asset_job(
    "reference_pipeline",
    selection=AssetSelection.all(),
    description="The whole reference analytics graph with its checks; pick the scenario under "
    "resources.source.config in the Launchpad.",
)

churn_model_rollback = define_asset_job(
    "churn_model_rollback",
    selection=AssetSelection.assets("churn_scores").downstream(),
    tags={ACTION_TAG: "rollback"},
    description="Move the churn model's champion back to the previous version whose checks passed, then "
    "re-score customers and refresh everything downstream. Set reliability/reason to say why.",
)


def build_defs(resources: Mapping[str, Any]) -> Definitions:
    """The code location around any resources (tests and other deployments pass their own). A wrong alert
    channel URL fails here, naming its variable: alerting must not break later, inside a sensor tick."""
    from reliability_assets import (
        check_store_urls,
        preflight_executor,
        quiet_resources,
        register_resources,
        validate_channels,
    )

    validate_channels()
    check_store_urls(resources)  # parsed here; opened (probed) before a run's first step
    register_resources(resources)  # the variables behind every EnvVar are masked wherever they appear
    # Resource internals are not pre-filled in the Launchpad (a run can still set them); the source's
    # scenario, seed and size are. The framework gets the very same (quiet) store and triage LLM objects.
    quiet = quiet_resources(resources)
    jobs = [reference_pipeline, churn_model_rollback]
    return Definitions.merge(
        component_defs(),
        Definitions(
            assets=ASSETS,
            asset_checks=ASSET_CHECKS,
            jobs=jobs,
            resources=quiet,
            # Refuses a run whose Launchpad values, chaos tag or store cannot work, before any step
            # starts; runs in one process unless the Launchpad picks multiprocess (see preflight.py).
            executor=preflight_executor(resources),
        ),
        # The sensors, the observed inbox and health views, the scorecard and the dead-letter replay.
        reliability_definitions(
            jobs=jobs,
            fallback_job=reference_pipeline,
            store=quiet[RELIABILITY_STORE_KEY],
            triage_llm=quiet.get(TRIAGE_LLM_KEY),
            owners=OWNERS,
            run_config=REMEDIATION_RUN_CONFIG,
        ),
    )


def component_defs() -> Definitions:
    """What the defs folder declares in YAML (``reference/defs``: churn_scores' GX gate, a Component)."""
    import warnings

    from dagster import BetaWarning, ComponentTree, PreviewWarning

    # Dagster rebuilds component-made checks with its own beta `execution_type` argument whenever the
    # repository is built and warns about itself in every process that loads the location: not ours to fix.
    warnings.filterwarnings("ignore", message="Parameter `execution_type`", category=BetaWarning)
    # The package's own dg.toml names the defs module, so this loads from an installed wheel too. Built at the
    # defs folder, not the project root: the root adds Dagster's catalogue of every installed component type
    # (an entry-point scan, 0.13 s per process start measured here; `dg list components` shows it). Dagster's
    # loader uses its own preview and beta APIs, as load_from_defs_folder does without a warning.
    here = Path(__file__).resolve().parent
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        warnings.simplefilter("ignore", PreviewWarning)
        return ComponentTree.for_project(path_within_project=here).build_defs(here / "defs")


def location_resources(source: RawSource) -> dict[str, Any]:
    """The resources of the code location around ``source``; ``reliability scenario`` uses them too."""
    return {
        "source": source,
        "llm": reference_llm(),
        # Incident triage runs inside a sensor tick: a short deadline, then the rule-based text.
        TRIAGE_LLM_KEY: reference_llm(deadline_s=TRIAGE_DEADLINE_S),
        RELIABILITY_STORE_KEY: ReliabilityStoreResource(),
        **storage_resources(duckdb_path=duckdb_path(), artifacts_dir=artifacts_dir()),
    }


defs = build_defs(location_resources(reference_source(_settings)))
