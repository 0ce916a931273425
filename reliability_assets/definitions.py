"""The code location that ``workspace.yaml`` loads: ``defs``, nothing else."""

from dagster import AssetSelection, Definitions, define_asset_job

from reliability_assets.analytics import ASSET_CHECKS, ASSETS
from reliability_assets.dead_letters import dead_letter_replay
from reliability_assets.settings import (
    artifacts_dir,
    duckdb_path,
    load_settings,
    reference_llm,
    reference_source,
)
from resources.reliability import ReliabilityStoreResource
from resources.storage import storage_resources

_settings = load_settings()

reference_pipeline = define_asset_job(
    "reference_pipeline",
    selection=AssetSelection.all(),
    description="The whole reference analytics graph with its checks; pick the scenario under "
    "resources.source.config in the Launchpad.",
)

defs = Definitions(
    assets=ASSETS,
    asset_checks=ASSET_CHECKS,
    jobs=[reference_pipeline, dead_letter_replay],
    resources={
        "source": reference_source(_settings),
        "llm": reference_llm(),
        "reliability": ReliabilityStoreResource(),
        **storage_resources(duckdb_path=duckdb_path(), artifacts_dir=artifacts_dir()),
    },
)
