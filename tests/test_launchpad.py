"""A small Launchpad: the source's scenario, seed and size are what it pre-fills; resource internals (LLM
endpoints, IO manager paths) are not, yet a run can still set them and secrets still resolve at run time."""

from __future__ import annotations

import yaml
from dagster import DagsterInstance, Definitions, EnvVar, asset, define_asset_job, materialize

from reliability_assets.launchpad import default_yaml, quiet_resources
from reliability_assets.reference.analytics.raw_sources import RawSource
from reliability_assets.resources.llm import ResilientLLM
from reliability_assets.resources.llm_endpoint import LLMEndpoint

SECRET = "sk-h5-launchpad-0123456789abcdef"


@asset
def probe(llm: ResilientLLM) -> dict:
    """What the run's resource was built with."""
    return {
        "deadline_s": llm.deadline_s,
        "endpoints": [e.name for e in llm.endpoints],
        "key_resolved": llm.endpoints[0].api_key == SECRET,
    }


@asset
def reads_source(source: RawSource) -> int:
    return 0


def _llm() -> ResilientLLM:
    return ResilientLLM(
        endpoints=[LLMEndpoint(name="primary", model="m", api_key=EnvVar("H5_LAUNCHPAD_KEY"))],
        deadline_s=30,
    )


def test_the_reference_launchpad_prefills_the_source_and_no_internals() -> None:
    from reliability_assets.reference.definitions import defs

    text = default_yaml(defs.resolve_job_def("reference_pipeline"))
    prefilled = yaml.safe_load(text)
    assert list(prefilled["resources"]) == ["source"], text
    assert list(prefilled["resources"]["source"]["config"]) == ["scenario", "seed", "size"]
    assert "endpoints" not in text and "api_key" not in text and "database" not in text
    assert len(text.splitlines()) <= 12, text


def test_the_api_source_prefills_nothing_and_the_generator_stays_as_it_is() -> None:
    from reliability_assets.reference.analytics.raw_sources import ApiSource, SyntheticSource
    from reliability_assets.resources.api import ResilientAPI

    generator = SyntheticSource(scenario="drifted")
    api = ApiSource(api=ResilientAPI(base_url="http://127.0.0.1:9"))
    resources = quiet_resources({"source": generator})
    assert resources["source"] is generator  # scenario, seed and size: all worth pre-filling
    defs = Definitions(
        assets=[reads_source],
        jobs=[define_asset_job("reads", selection=[reads_source])],
        resources=quiet_resources({"source": api}),
    )
    assert default_yaml(defs.resolve_job_def("reads")).strip() in ("", "{}")  # no base_url, no token


def test_a_quiet_resource_prefills_nothing_but_a_run_can_still_set_it(monkeypatch, tmp_path) -> None:
    resources = quiet_resources({"llm": _llm()})
    defs = Definitions(
        assets=[probe], jobs=[define_asset_job("probe_job", selection=[probe])], resources=resources
    )
    job = defs.resolve_job_def("probe_job")
    assert default_yaml(job).strip() in ("", "{}"), default_yaml(job)
    # The EnvVar is resolved when the run starts, not when the definitions were built.
    monkeypatch.setenv("H5_LAUNCHPAD_KEY", SECRET)
    with DagsterInstance.ephemeral() as instance:
        plain = materialize([probe], resources=resources, instance=instance)
        assert plain.output_for_node("probe") == {
            "deadline_s": 30,
            "endpoints": ["primary"],
            "key_resolved": True,
        }
        tuned = materialize(
            [probe],
            resources=resources,
            instance=instance,
            run_config={"resources": {"llm": {"config": {"deadline_s": 5}}}},
        )
        assert tuned.output_for_node("probe") == {
            "deadline_s": 5,
            "endpoints": ["primary"],  # the rest of the resource as it was built
            "key_resolved": True,
        }
        for run in instance.get_runs():
            assert SECRET not in repr(run.run_config)
