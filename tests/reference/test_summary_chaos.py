"""The ``reliability/chaos`` run tag reaches the summary's LLM call and shows in its metadata, offline
(nothing to fail) and with the reference pointed at the local fake server (a real failover)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from dagster import AssetSelection, instance_for_test

from reliability_assets.reference.policy import CHAOS_TAG
from reliability_assets.testing.fake_openai import offline_llm_env
from tests.support import check_results, materialized, run_reference

ONLY_SUMMARY = AssetSelection.assets("executive_summary")
PRIMARY_DOWN = {CHAOS_TAG: "llm_primary_down"}


@pytest.fixture
def fake_url() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "reliability_assets.testing.fake_openai", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    yield process.stdout.readline().split("base_url=")[1].split()[0]
    process.terminate()
    process.wait(timeout=10)


def test_the_chaos_tag_shows_on_the_summary_offline_and_fails_over_on_the_fake(
    tmp_path, monkeypatch: pytest.MonkeyPatch, fake_url: str
) -> None:
    from reliability_assets.reference.settings import reference_llm

    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "RELIABILITY_CHAOS", "RELIABILITY_LLM_LOCAL_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RELIABILITY_STORE_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")
    with instance_for_test() as instance:
        offline = reference_llm()
        clean = run_reference("clean", tmp_path, instance, llm=offline)  # builds executive_kpis too
        assert clean.success
        assert materialized(clean)["executive_summary"].metadata["llm/chaos"].value == "off"

        tagged = run_reference(
            "clean", tmp_path, instance, llm=offline, tags=PRIMARY_DOWN, selection=ONLY_SUMMARY
        )
        meta = materialized(tagged)["executive_summary"].metadata
        assert meta["tier"].value == "deterministic"
        nothing = "llm_primary_down requested; primary not configured: nothing to fail"
        assert meta["llm/chaos"].value == nothing

        for name, value in offline_llm_env(fake_url).items():
            monkeypatch.setenv(name, value)
        served = run_reference("clean", tmp_path, instance, llm=reference_llm(), selection=ONLY_SUMMARY)
        meta = materialized(served)["executive_summary"].metadata
        assert (meta["tier"].value, meta["degraded"].value) == ("primary", False)
        assert check_results(served)["executive_summary:served_by_model"].passed
        assert check_results(served)["executive_summary:grounded"].passed  # the stub cites no number

        failed_over = run_reference(
            "clean", tmp_path, instance, llm=reference_llm(), tags=PRIMARY_DOWN, selection=ONLY_SUMMARY
        )
        meta = materialized(failed_over)["executive_summary"].metadata
        assert (meta["tier"].value, meta["degraded"].value) == ("secondary", True)
        assert meta["llm/chaos"].value == "llm_primary_down requested; injected: primary refused connections"
        warn = check_results(failed_over)["executive_summary:served_by_model"]
        assert not warn.passed and "served by secondary" in warn.description
        assert "local fake secondary" in failed_over.output_for_node("executive_summary")
