"""A reliability policy declared in defs.yaml is the target asset's metadata, as the sensor reads it."""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg
import pytest

from reliability_assets import policies_from, reliability_policy
from reliability_assets.remediation import POLICY_KEY
from tests.components.support import Project

ASSETS_PY = """
import dagster as dg


@dg.asset
def orders() -> None: ...


@dg.asset(deps=[orders])
def revenue() -> None: ...


@dg.asset(key=["sales", "refunds"])
def refunds() -> None: ...
"""

POLICY_YAML = """
type: reliability_assets.components.ReliabilityPolicyComponent
attributes:
  python_files: [assets.py]
  policies:
    - assets: [orders, sales/refunds]
      on_check_failure: fallback
      owner: data-team
      checks: {orders_gx_suite_warnings: alert}
      routes: {ERROR: [all], WARN: [inbox]}
    - assets: [revenue]
      on_check_failure: rollback
      rollback_job: revenue_rollback
      max_actions: 1
"""


def _metadata(defs: dg.Definitions) -> dict[dg.AssetKey, dict]:
    graph = defs.resolve_asset_graph()
    return {key: dict(graph.get(key).metadata) for key in graph.get_all_asset_keys()}


def test_policy_component_sets_the_policy_metadata_on_its_assets(project: Project) -> None:
    project.write("sales/assets.py", ASSETS_PY)
    project.write("sales/defs.yaml", POLICY_YAML)

    metadata = _metadata(project.load())

    expected = reliability_policy(
        on_check_failure="fallback",
        owner="data-team",
        checks={"orders_gx_suite_warnings": "alert"},
        routes={"ERROR": ["all"], "WARN": ["inbox"]},
    )
    assert metadata[dg.AssetKey("orders")][POLICY_KEY] == expected[POLICY_KEY]
    assert metadata[dg.AssetKey(["sales", "refunds"])][POLICY_KEY] == expected[POLICY_KEY]
    rollback = reliability_policy(on_check_failure="rollback", rollback_job="revenue_rollback", max_actions=1)
    assert metadata[dg.AssetKey("revenue")][POLICY_KEY] == rollback[POLICY_KEY]
    policies = policies_from(metadata)  # what the remediation sensor reads
    assert policies[dg.AssetKey("orders")].owner == "data-team"
    assert policies[dg.AssetKey("revenue")].rollback_job == "revenue_rollback"


def test_assets_without_a_policy_keep_their_metadata(project: Project) -> None:
    project.write("sales/assets.py", ASSETS_PY)
    project.write(
        "sales/defs.yaml",
        """
        type: reliability_assets.components.ReliabilityPolicyComponent
        attributes:
          python_files: [assets.py]
          policies: [{assets: [orders], on_check_failure: halt}]
        """,
    )

    metadata = _metadata(project.load())

    assert POLICY_KEY in metadata[dg.AssetKey("orders")]
    assert POLICY_KEY not in metadata[dg.AssetKey("revenue")]


def test_policy_component_loads_a_module_outside_the_defs_folder(project: Project) -> None:
    (project.defs.parent / "pipeline.py").write_text(ASSETS_PY, encoding="utf-8")
    project.write(
        "policies/defs.yaml",
        f"""
        type: reliability_assets.components.ReliabilityPolicyComponent
        attributes:
          modules: [{project.module}.pipeline]
          policies: [{{assets: [revenue], on_check_failure: fallback}}]
        """,
    )

    metadata = _metadata(project.load())

    assert (
        metadata[dg.AssetKey("revenue")][POLICY_KEY]
        == reliability_policy(on_check_failure="fallback")[POLICY_KEY]
    )


def test_post_processing_with_the_template_function(project: Project) -> None:
    """Assets another component or file builds: Dagster's post_processing on their folder."""
    project.write("sales/assets.py", ASSETS_PY)
    project.write(
        "sales/defs.yaml",
        """
        type: dagster.DefsFolderComponent
        template_vars_module: reliability_assets.components.policy
        post_processing:
          assets:
            - target: "key:orders"
              attributes:
                metadata: "{{ reliability_policy(on_check_failure='fallback', owner='data-team') }}"
        """,
    )

    metadata = _metadata(project.load())

    expected = reliability_policy(on_check_failure="fallback", owner="data-team")
    assert metadata[dg.AssetKey("orders")][POLICY_KEY] == expected[POLICY_KEY]
    assert POLICY_KEY not in metadata[dg.AssetKey("revenue")]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("{assets: [order], on_check_failure: fallback}", "policies name asset(s) ['order']"),
        ("{assets: [orders], on_check_failure: rollback}", "rollback_job"),
        ("{assets: [orders], on_check_failure: retry}", "list[PolicyEntry].0.on_check_failure"),
        ("{assets: [orders], routes: {ERROR: [slak]}}", "unknown alert route(s) ['slak']"),
        ("{assets: [orders], owners: data-team}", "list[PolicyEntry].0.owners at"),
    ],
)
def test_a_wrong_policy_fails_the_load_naming_the_field(
    project: Project, load_error: Callable[[], str], policy: str, expected: str
) -> None:
    project.write("sales/assets.py", ASSETS_PY)
    project.write(
        "sales/defs.yaml",
        f"""
        type: reliability_assets.components.ReliabilityPolicyComponent
        attributes:
          python_files: [assets.py]
          policies: [{policy}]
        """,
    )

    assert expected in load_error()


def test_one_asset_one_policy(project: Project, load_error: Callable[[], str]) -> None:
    project.write(
        "sales/assets.py",
        """
        import dagster as dg
        from reliability_assets import reliability_policy


        @dg.asset(metadata=reliability_policy(on_check_failure="halt"))
        def orders() -> None: ...
        """,
    )
    project.write(
        "sales/defs.yaml",
        """
        type: reliability_assets.components.ReliabilityPolicyComponent
        attributes:
          python_files: [assets.py]
          policies: [{assets: [orders], on_check_failure: fallback}]
        """,
    )

    assert "declares a reliability policy in Python already" in load_error()
