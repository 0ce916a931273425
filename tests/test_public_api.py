"""The public API: ``reliability_assets.__all__`` lists it, every name resolves (lazily, so importing the
package stays cheap), the framework's definitions ask for their resources by the named keys, and the user
project (tests/user_project) imports nothing of the framework but the public API."""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInvalidDefinitionError, Definitions, define_asset_job

import reliability_assets
from reliability_assets import (
    LLM_KEY,
    RELIABILITY_STORE_KEY,
    TRIAGE_LLM_KEY,
    ReliabilityStoreResource,
    ResilientLLM,
    build_check_failure_sensor,
    build_drift_check,
    build_run_outcome_sensors,
    reliability_definitions,
)

REPO = Path(__file__).resolve().parents[1]
USER_PROJECT = REPO / "tests" / "user_project"
REQUIRED = {
    "ResilientLLM",
    "LLMEndpoint",
    "LLMResult",
    "ResilientAPI",
    "ReliabilityStoreResource",
    "reliability_policy",
    "ReliabilityPolicy",
    "build_gx_checks",
    "build_drift_check",
    "build_volume_check",
    "build_schema_check",
    "build_check_failure_sensor",
    "build_run_outcome_sensors",
    "reliability_definitions",
    "RELIABILITY_STORE_KEY",
    "TRIAGE_LLM_KEY",
    "LLM_KEY",
}
#: Modules a bare ``import reliability_assets`` must not load: they cost seconds, or belong to a name's use.
HEAVY = (
    "dagster",
    "pandas",
    "sqlalchemy",
    "great_expectations",
    "evidently",
    "openai",
    "resources",
    "sensors",
)


def test_all_lists_the_api_once_and_every_name_resolves_to_its_definition() -> None:
    names = reliability_assets.__all__
    assert set(names) >= REQUIRED and len(names) == len(set(names))
    assert set(names) == set(reliability_assets._LAZY) | {
        "LLM_KEY",
        "RELIABILITY_STORE_KEY",
        "TRIAGE_LLM_KEY",
    }
    for name in names:
        value = getattr(reliability_assets, name)
        if name in reliability_assets._LAZY:  # the very object of the defining module, not a copy
            assert value is getattr(importlib.import_module(reliability_assets._LAZY[name]), name)
    assert set(names) <= set(dir(reliability_assets))


def test_an_unknown_name_raises_attribute_error_naming_the_module() -> None:
    with pytest.raises(AttributeError, match="module 'reliability_assets' has no attribute 'ResilientLMM'"):
        reliability_assets.ResilientLMM  # noqa: B018
    assert not hasattr(reliability_assets, "no_such_name")


def _fresh(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, timeout=300
    )
    return done.stdout.strip()


def test_importing_the_package_loads_nothing_heavy_until_a_name_is_used() -> None:
    loaded = "{m.split('.')[0] for m in sys.modules}"
    probe = f"import sys, reliability_assets; print(sorted({loaded} & {set(HEAVY)!r}))"
    assert _fresh(probe) == "[]"
    star = (
        "from reliability_assets import *; print(reliability_definitions.__module__, ResilientLLM.__name__)"
    )
    assert _fresh(star) == "reliability_assets.wiring ResilientLLM"


def test_the_framework_asks_for_its_resources_by_the_named_keys() -> None:
    """Where Dagster injects a resource by parameter name, the parameter is the constant's value."""
    from reliability_assets.dead_letters import replay_dead_letters
    from reliability_assets.scorecard_asset import reliability_scorecard

    job = define_asset_job("any_job")
    assert build_check_failure_sensor(jobs=[job], fallback_job="any_job").required_resource_keys == {
        RELIABILITY_STORE_KEY,
        TRIAGE_LLM_KEY,
    }
    rule_based = build_check_failure_sensor(jobs=[job], fallback_job="any_job", triage_llm=False)
    assert rule_based.required_resource_keys == {RELIABILITY_STORE_KEY}
    assert all(s.required_resource_keys == {RELIABILITY_STORE_KEY} for s in build_run_outcome_sensors())
    assert build_drift_check("t").required_resource_keys - {"io_manager"} == {RELIABILITY_STORE_KEY}
    assert reliability_scorecard.required_resource_keys - {"io_manager"} == {RELIABILITY_STORE_KEY}
    assert replay_dead_letters.required_resource_keys == {LLM_KEY}


def test_reliability_definitions_provides_what_its_parts_need_under_the_keys(tmp_path: Path) -> None:
    job = define_asset_job("daily")
    store = ReliabilityStoreResource(store_url=f"sqlite:///{tmp_path / 'store.sqlite'}")
    triage = ResilientLLM(deadline_s=5)
    defs = reliability_definitions(
        jobs=[job], fallback_job=job, store=store, triage_llm=triage, interval_s=30
    )
    assert defs.resources == {RELIABILITY_STORE_KEY: store, TRIAGE_LLM_KEY: triage}
    with pytest.raises(DagsterInvalidDefinitionError, match="resource with key 'llm' required by op"):
        Definitions.validate_loadable(defs)  # the replay job serves the user's LLM, which defs lack
    defs = Definitions.merge(Definitions(assets=[], resources={LLM_KEY: ResilientLLM()}), defs)
    Definitions.validate_loadable(defs)
    sensor = defs.resolve_sensor_def("check_failure_remediation")
    assert sensor.required_resource_keys == {RELIABILITY_STORE_KEY, TRIAGE_LLM_KEY}
    assert sensor.minimum_interval_seconds == 30
    bare = reliability_definitions(
        jobs=[job], fallback_job="daily", scorecard=False, replay_dead_letters=False
    )
    assert set(bare.resources or {}) == {RELIABILITY_STORE_KEY}  # rule-based triage: no LLM asked for
    views = [s.key.to_user_string() for s in bare.resolve_all_asset_specs()]
    assert views == ["alert_inbox", "reliability_health"]
    assert not bare.jobs
    with pytest.raises(ValueError, match="fallback_job 'other' is not one of jobs="):
        reliability_definitions(jobs=[job], fallback_job="other")


def _framework_imports(path: Path) -> list[str]:
    """Every import in ``path`` that reaches the framework other than ``from reliability_assets import X``
    with X public."""
    wrong = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [("." * node.level) + (node.module or "")]
            if node.level == 0 and node.module == "reliability_assets":
                wrong += [
                    f"reliability_assets.{a.name}"
                    for a in node.names
                    if a.name not in REQUIRED | set(reliability_assets.__all__)
                ]
                continue
        else:
            continue
        for module in modules:
            top = module.split(".")[0]
            if module.startswith(".") or top in ("reliability_assets", "resources", "sensors", "tests"):
                wrong.append(module)
    return wrong


def test_the_user_project_imports_only_the_public_api() -> None:
    files = sorted(USER_PROJECT.rglob("*.py"))
    assert files and all(_framework_imports(f) == [] for f in files), {
        f.name: _framework_imports(f) for f in files
    }
    assert len((USER_PROJECT / "definitions.py").read_text().splitlines()) < 80
