"""The code location: what the UI loads, how fast, and what each asset declares."""

import os
import subprocess
import sys

import pytest
from dagster import AssetKey, materialize

from reliability_assets.reference.definitions import defs
from tests.support import BIN, CHECK_NAMES, LOCATION_ASSET_NAMES, NON_BLOCKING, OBSERVED_ASSET_NAMES, REPO

FRESHNESS = {"customers", "orders", "churn_model", "executive_kpis", "executive_summary"}


def test_definitions_list_every_asset_and_check() -> None:
    graph = defs.resolve_asset_graph()
    assert sorted(k.to_user_string() for k in graph.get_all_asset_keys()) == sorted(LOCATION_ASSET_NAMES)
    checks = sorted(f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys)
    assert checks == sorted(CHECK_NAMES)
    assert defs.resolve_job_def("reference_pipeline") is not None


@pytest.mark.parametrize("name", LOCATION_ASSET_NAMES)
def test_every_asset_declares_retry_owner_kind_description(name: str) -> None:
    graph = defs.resolve_asset_graph()
    node = graph.get(AssetKey(name))
    spec = next(s for s in defs.resolve_all_asset_specs() if s.key == AssetKey(name))
    assert spec.description and len(spec.description) > 30
    assert spec.owners == ["team:analytics-engineering"]
    assert any(tag.startswith("dagster/kind/") for tag in spec.tags)
    assert node.is_executable == (name not in OBSERVED_ASSET_NAMES)  # views are observed, not built
    if not node.is_executable:
        return
    retry = node.assets_def.op.retry_policy
    assert (
        retry is not None
        and retry.max_retries >= 1
        and retry.backoff is not None
        and retry.jitter is not None
    )
    assert (spec.freshness_policy is not None) == (name in FRESHNESS)


def test_data_gates_block_and_the_degradation_check_only_warns() -> None:
    graph = defs.resolve_asset_graph()
    blocking = {
        f"{k.asset_key.to_user_string()}:{k.name}": graph.get_check_spec(k).blocking
        for k in graph.asset_check_keys
    }
    assert {name for name, blocks in blocking.items() if not blocks} == NON_BLOCKING


def _fresh_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_code_location_does_not_import_heavy_libraries() -> None:
    probe = _fresh_python(
        "import sys, reliability_assets.reference.definitions;"
        "heavy = ('sklearn', 'great_expectations', 'evidently', 'openai', 'sqlalchemy', 'bpe_openai');"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]"


def test_a_wrong_environment_variable_is_named_with_its_fix() -> None:
    probe = _fresh_python("import reliability_assets.reference.definitions", RELIABILITY_SIZE="lots")
    assert probe.returncode != 0
    assert "RELIABILITY_SIZE='lots'" in probe.stderr
    assert "Fix: set RELIABILITY_SIZE" in probe.stderr


def test_telemetry_is_off_once_imported() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("GX_ANALYTICS_ENABLED", "DO_NOT_TRACK")}
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, reliability_assets;"
            "print(os.environ['GX_ANALYTICS_ENABLED'], os.environ['DO_NOT_TRACK'])",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.stdout.split() == ["false", "1"]


def test_scenario_is_run_config_as_in_the_launchpad(tmp_path) -> None:
    """The Launchpad's ``resources.source.config`` overrides the scenario the location was loaded with."""
    from reliability_assets.reference.analytics import customers
    from tests.support import storage_resources

    job_resources = {
        **defs.resources,
        **storage_resources(duckdb_path=tmp_path / "t.duckdb", artifacts_dir=tmp_path),
    }
    result = materialize(
        [customers],
        resources=job_resources,
        run_config={"resources": {"source": {"config": {"scenario": "drifted", "seed": 3, "size": 200}}}},
    )
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["source"].value == "synthetic:drifted:seed=3:size=200"
    assert metadata["dagster/row_count"].value == 200


def test_a_malformed_alert_url_fails_the_code_location_load_naming_the_variable(tmp_path) -> None:
    """What `dagster dev` and the daemon load: the location fails, not a sensor tick later; the URL (it may
    carry a token) is never echoed."""
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "RELIABILITY_ALERT_WEBHOOK_URL": "garbage-sk-secret"}
    done = subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert "RELIABILITY_ALERT_WEBHOOK_URL" in out and "Fix: set it to an apprise URL" in out
    assert "garbage-sk-secret" not in out
