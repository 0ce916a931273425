"""A ResilientLLM declared in defs.yaml: its tiers, its key, and no secret anywhere but the environment."""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg
import pytest

from reliability_assets import LLM_KEY, TRIAGE_LLM_KEY, ResilientLLM
from tests.components.support import Project

SECRET = "sk-test-components-0123456789abcdef"

LLM_YAML = """
type: reliability_assets.components.ResilientLLMComponent
attributes:
  deadline_s: 45
  tiers:
    - name: primary
      model: gpt-4o-mini
      base_url: https://api.openai.com/v1
      api_key: "{{ env.RC_TEST_OPENAI_KEY }}"
      requests_per_minute: 500
    - name: secondary
      model: gpt-4o
      base_url: https://api.openai.com/v1
      api_key: "{{ env('RC_TEST_OPENAI_KEY') }}"
    - name: local
      model: llama3.1
      base_url: http://127.0.0.1:11434/v1
      require_api_key: false
      json_schema: false
"""


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RC_TEST_OPENAI_KEY", SECRET)
    return SECRET


def test_llm_component_declares_the_resource_with_its_tiers(project: Project) -> None:
    project.write("llm/defs.yaml", LLM_YAML)

    llm = (project.load().resources or {})[LLM_KEY]

    assert isinstance(llm, ResilientLLM)
    assert llm.deadline_s == 45
    assert [(e.name, e.model) for e in llm.endpoints] == [
        ("primary", "gpt-4o-mini"),
        ("secondary", "gpt-4o"),
        ("local", "llama3.1"),
    ]
    assert llm.endpoints[0].requests_per_minute == 500
    assert not llm.endpoints[2].json_schema
    assert [e.name for e in llm.configured_endpoints()] == ["primary", "secondary", "local"]
    assert llm.endpoints[0].api_key == dg.EnvVar("RC_TEST_OPENAI_KEY")


def test_no_secret_in_reprs_or_metadata_and_the_run_reads_it(project: Project) -> None:
    project.write("llm/defs.yaml", LLM_YAML)
    project.write(
        "uses_llm.py",
        f"""
        import dagster as dg
        from reliability_assets import ResilientLLM


        @dg.asset
        def answer(llm: ResilientLLM) -> dg.MaterializeResult:
            keys = [e.api_key for e in llm.endpoints[:2]]
            return dg.MaterializeResult(metadata={{"key_read": keys == [{SECRET!r}] * 2}})
        """,
    )
    defs = project.load()
    llm = (defs.resources or {})[LLM_KEY]

    texts = [repr(llm), str(llm.endpoints), repr(defs.resources)]
    for spec in defs.resolve_all_asset_specs():
        texts.append(repr(spec.metadata))
    assert all(SECRET not in text for text in texts)

    result = dg.materialize([defs.get_assets_def("answer")], resources={LLM_KEY: llm})
    (materialization,) = result.asset_materializations_for_node("answer")
    assert materialization.metadata["key_read"].value is True
    assert SECRET not in repr(materialization)


def test_an_unset_key_variable_leaves_its_tier_unconfigured(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RC_TEST_OPENAI_KEY")
    project.write("llm/defs.yaml", LLM_YAML)

    llm = (project.load().resources or {})[LLM_KEY]

    assert llm.endpoints[0].api_key is None
    assert [e.name for e in llm.configured_endpoints()] == ["local"]


def test_a_literal_key_in_yaml_fails_without_repeating_it(
    project: Project, load_error: Callable[[], str]
) -> None:
    project.write("llm/defs.yaml", LLM_YAML.replace('"{{ env.RC_TEST_OPENAI_KEY }}"', SECRET))

    message = load_error()

    assert "api_key must name an environment variable" in message
    # Only Dagster's excerpt of the offending line of the user's own file shows it, never our message.
    assert message.count(SECRET) == message.count(f"api_key: {SECRET}")


def test_the_resource_key_and_options(project: Project) -> None:
    project.write(
        "triage/defs.yaml",
        f"""
        type: reliability_assets.components.ResilientLLMComponent
        attributes:
          key: {TRIAGE_LLM_KEY}
          deadline_s: 10
          chaos: llm_primary_down
          options: {{sliding_window_size: 7}}
          tiers: [{{name: primary, model: gpt-4o-mini, base_url: "https://x.test/v1"}}]
        """,
    )

    resources = project.load().resources or {}

    assert set(resources) == {TRIAGE_LLM_KEY}
    triage = resources[TRIAGE_LLM_KEY]
    assert (triage.deadline_s, triage.sliding_window_size, str(triage.chaos.value)) == (
        10,
        7,
        "llm_primary_down",
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("model: llama3.1", "modle: llama3.1"), "LLMTierModel, ...].2.modle at"),
        (("deadline_s: 45", "deadline_s: 0"), "deadline_s: Input should be greater than 0"),
        (("name: secondary", "name: primary"), "tier name(s) ['primary'] used twice"),
        (("requests_per_minute: 500", "requests_per_minute: 0"), "tiers[0] (primary): requests_per_minute"),
    ],
)
def test_a_wrong_value_names_the_field(
    project: Project, load_error: Callable[[], str], change: tuple[str, str], expected: str
) -> None:
    project.write("llm/defs.yaml", LLM_YAML.replace(*change))

    message = load_error()

    assert expected in message
    assert SECRET not in message
