"""The second project (tests/user_project), written from the public API alone, works end to end: it loads,
materializes with its LLM tiers answering, fails its gates on a bad feed, and the framework's sensor acts
(an alert in the inbox, a fallback run that serves the known-good data with a degraded summary)."""

import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from dagster import AssetKey, DagsterInstance, Definitions, RunRequest

from reliability_assets import ACTION_TAG, RELIABILITY_STORE_KEY
from reliability_assets.alerts import AlertRouter
from reliability_assets.testing.fake_openai import FakeOpenAI, Fault, stub_answer
from tests.support import evaluate_check_sensor as tick

BAD_FEED = {"ops": {"orders": {"config": {"broken_feed": True}}}}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, FakeOpenAI]]:
    """The user's module, loaded with its LLM tiers pointed at a fake OpenAI server and a fresh store."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("RELIABILITY_STORE_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")
    with FakeOpenAI(default_responder=stub_answer) as server:
        monkeypatch.setenv("SHOP_LLM_URL", server.base_url)
        monkeypatch.setenv("SHOP_LLM_KEY", "test-key")
        module = importlib.import_module("tests.user_project.definitions")
        yield importlib.reload(module), server  # read the variables of this test


def run_daily(defs: Definitions, instance: DagsterInstance, **kwargs: Any) -> Any:
    return defs.resolve_job_def("daily").execute_in_process(instance=instance, raise_on_error=False, **kwargs)


def summary_tier(instance: DagsterInstance) -> str:
    event = instance.get_latest_materialization_event(AssetKey("orders_summary"))
    assert event is not None and event.asset_materialization is not None
    return str(event.asset_materialization.metadata["tier"].value)


def failed_checks(result: Any) -> set[str]:
    return {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}


def test_the_user_project_loads_with_the_framework_wired_in(project: tuple[ModuleType, FakeOpenAI]) -> None:
    defs = project[0].defs
    Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    names = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert names == {"orders", "orders_summary", "alert_inbox", "reliability_health", "reliability_scorecard"}
    checks = {f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys}
    assert checks == {"orders:gx_suite", "orders:drift"}
    assert {s.name for s in defs.sensors} == {
        "check_failure_remediation",
        "run_failure_incidents",
        "run_success_resolutions",
    }
    assert defs.resolve_job_def("dead_letter_replay") is not None
    owners = {s.key.to_user_string(): s.owners for s in defs.resolve_all_asset_specs()}
    assert owners["alert_inbox"] == owners["reliability_scorecard"] == ["team:shop"]  # not the reference's


def test_a_bad_feed_fails_the_gates_and_the_sensor_alerts_and_falls_back(
    project: tuple[ModuleType, FakeOpenAI],
) -> None:
    module, server = project
    defs = module.defs
    store = defs.resources[RELIABILITY_STORE_KEY].store
    with DagsterInstance.ephemeral() as instance:
        good = run_daily(defs, instance)
        assert good.success and failed_checks(good) == set()
        assert summary_tier(instance) == "primary"
        quiet = tick(defs, instance, None)
        assert quiet.run_requests == []

        server.set_default("shop-large", Fault.status(500))  # the primary model is down: the second tier
        again = run_daily(defs, instance)
        assert again.success and summary_tier(instance) == "secondary"
        quiet = tick(defs, instance, quiet.cursor)
        assert quiet.run_requests == []

        bad = run_daily(defs, instance, run_config=BAD_FEED)
        assert {"gx_suite", "drift"} <= failed_checks(bad)
        acted = tick(defs, instance, quiet.cursor)

        (request,) = acted.run_requests
        assert isinstance(request, RunRequest) and request.job_name == "daily"
        assert request.tags[ACTION_TAG] == "fallback"
        assert {k.to_user_string() for k in request.asset_selection or []} == {"orders", "orders_summary"}
        alerts = [e.alert for e in AlertRouter(store).inbox(limit=10)]
        assert any(a.asset == "orders" and a.check == "gx_suite" and a.severity == "ERROR" for a in alerts)

        # The fallback run, as the daemon would launch it, with every model down: known-good data passes
        # the gates and the summary still comes, degraded (the last good answer or the computed sentence).
        server.set_default("shop-small", Fault.status(500))
        fallback = run_daily(
            defs,
            instance,
            run_config=request.run_config,
            tags=request.tags,
            asset_selection=list(request.asset_selection or []),
        )
        assert fallback.success and failed_checks(fallback) == set()
        assert summary_tier(instance) in ("cache", "deterministic")
