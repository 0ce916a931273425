"""``dg scaffold defs <component> <path>`` writes a commented defs.yaml that loads as written."""

from __future__ import annotations

import textwrap

import dagster as dg
import pytest
from dagster.components.testing import create_defs_folder_sandbox

from reliability_assets.components import (
    DriftGateComponent,
    GXGateComponent,
    ReliabilityPolicyComponent,
    ResilientLLMComponent,
)
from reliability_assets.remediation import POLICY_KEY
from tests.components.support import ORDERS_PY


def test_gx_gate_scaffold_writes_defs_yaml_and_a_suite_that_load() -> None:
    with create_defs_folder_sandbox() as sandbox:
        (sandbox.defs_folder_path / "orders.py").write_text(textwrap.dedent(ORDERS_PY), encoding="utf-8")
        path = sandbox.scaffold_component(
            component_cls=GXGateComponent, defs_path="orders_gate", scaffold_params={"asset": "orders"}
        )
        text = (path / "defs.yaml").read_text(encoding="utf-8")
        assert text.startswith("type: reliability_assets.components.gates.GXGateComponent\n")
        assert "  asset: orders\n" in text
        assert "# Critical failures stop downstream" in text  # the template explains its fields
        assert (path / "suite.yaml").exists()

        with sandbox.build_all_defs() as defs:
            names = {spec.name for checks in defs.asset_checks or [] for spec in checks.check_specs}
    assert names == {"gx_suite", "gx_suite_warnings"}


def test_policy_scaffold_writes_an_asset_file_and_its_policy() -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(
            component_cls=ReliabilityPolicyComponent, defs_path="orders", scaffold_params={"asset": "orders"}
        )
        assert (path / "assets.py").exists()

        with sandbox.build_all_defs() as defs:
            spec = next(s for s in defs.resolve_all_asset_specs() if s.key == dg.AssetKey("orders"))
    assert POLICY_KEY in spec.metadata


def test_llm_scaffold_loads_and_names_its_key_by_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-scaffold-test")
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(component_cls=ResilientLLMComponent, defs_path="llm")
        assert 'api_key: "{{ env.OPENAI_API_KEY }}"' in (path / "defs.yaml").read_text(encoding="utf-8")

        with sandbox.build_all_defs() as defs:
            llm = (defs.resources or {})["llm"]
    assert [e.name for e in llm.endpoints] == ["primary", "local"]
    assert llm.endpoints[0].api_key == dg.EnvVar("OPENAI_API_KEY")


def test_drift_scaffold_loads() -> None:
    with create_defs_folder_sandbox() as sandbox:
        (sandbox.defs_folder_path / "orders.py").write_text(textwrap.dedent(ORDERS_PY), encoding="utf-8")
        sandbox.scaffold_component(
            component_cls=DriftGateComponent, defs_path="drift", scaffold_params={"asset": "orders"}
        )
        with sandbox.build_all_defs() as defs:
            (checks,) = defs.asset_checks or []
    assert [spec.name for spec in checks.check_specs] == ["drift"]


def test_python_format_falls_back_to_dagsters_stub() -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(
            component_cls=GXGateComponent, defs_path="gate", scaffold_format="python"
        )
        assert "def load(context: dg.ComponentLoadContext) -> GXGateComponent" in (
            path / "component.py"
        ).read_text(encoding="utf-8")
