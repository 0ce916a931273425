"""GX and drift gates declared in defs.yaml become checks on the asset another file defines."""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg

from tests.components.support import ORDERS_PY, Project

GX_INLINE = """
type: reliability_assets.components.GXGateComponent
attributes:
  asset: orders
  name: orders_suite
  suite:
    - expectation: expect_column_values_to_not_be_null
      kwargs: {column: order_id}
    - expectation: expect_table_row_count_to_be_between
      kwargs: {min_value: 10}
      severity: warning
    - expectation: expect_column_values_to_be_between
      kwargs: {column: amount, min_value: 0}
      severity: info
"""


def _specs(defs: dg.Definitions) -> dict[str, dg.AssetCheckSpec]:
    return {spec.name: spec for checks in defs.asset_checks or [] for spec in checks.check_specs}


def test_gx_gate_adds_one_check_per_severity_on_the_asset(project: Project) -> None:
    project.write("orders.py", ORDERS_PY)
    project.write("orders_gate/defs.yaml", GX_INLINE)

    specs = _specs(project.load())

    assert set(specs) == {"orders_suite", "orders_suite_warnings", "orders_suite_info"}
    assert {spec.asset_key for spec in specs.values()} == {dg.AssetKey("orders")}
    assert specs["orders_suite"].blocking
    assert not specs["orders_suite_warnings"].blocking
    assert not specs["orders_suite_info"].blocking


def test_gx_gate_fails_on_bad_data_when_materialized(project: Project) -> None:
    project.write("orders.py", ORDERS_PY)
    project.write("orders_gate/defs.yaml", GX_INLINE)
    defs = project.load()

    result = dg.materialize([defs.get_assets_def("orders"), *(defs.asset_checks or [])], raise_on_error=False)

    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    critical, warnings, info = (evaluations[f"orders_suite{s}"] for s in ("", "_warnings", "_info"))
    assert not critical.passed and critical.severity == dg.AssetCheckSeverity.ERROR
    assert "order_id" in (critical.description or "")
    assert not warnings.passed and warnings.severity == dg.AssetCheckSeverity.WARN
    assert info.passed


def test_gx_gate_reads_a_suite_file_next_to_its_defs_yaml(project: Project) -> None:
    project.write("orders.py", ORDERS_PY)
    project.write(
        "gates/orders/suite.yaml",
        """
        expectations:
          - expectation: expect_column_to_exist
            kwargs: {column: order_id}
        """,
    )
    project.write(
        "gates/orders/defs.yaml",
        """
        type: reliability_assets.components.GXGateComponent
        attributes:
          asset: orders
          suite: suite.yaml
          blocking: false
        """,
    )

    specs = _specs(project.load())

    assert list(specs) == ["gx_suite"]
    assert not specs["gx_suite"].blocking
    assert "expect_column_to_exist" in (specs["gx_suite"].description or "")


def test_gx_gate_names_a_missing_suite_file(project: Project, load_error: Callable[[], str]) -> None:
    project.write("orders.py", ORDERS_PY)
    gate = project.write(
        "gate/defs.yaml",
        """
        type: reliability_assets.components.GXGateComponent
        attributes: {asset: orders, suite: expectations.yaml}
        """,
    )

    message = load_error()

    assert str(gate.parent / "expectations.yaml") in message
    assert "not found" in message


def test_gx_gate_names_an_unknown_expectation(project: Project, load_error: Callable[[], str]) -> None:
    project.write("orders.py", ORDERS_PY)
    project.write(
        "gate/defs.yaml",
        """
        type: reliability_assets.components.GXGateComponent
        attributes:
          asset: orders
          suite:
            - expectation: expect_column_values_to_not_be_nul
              kwargs: {column: order_id}
        """,
    )

    assert "did you mean 'expect_column_values_to_not_be_null'" in load_error()


def test_a_misspelt_field_is_named(project: Project, load_error: Callable[[], str]) -> None:
    project.write("orders.py", ORDERS_PY)
    project.write(
        "gate/defs.yaml",
        """
        type: reliability_assets.components.GXGateComponent
        attributes:
          asset: orders
          blockng: false
          suite:
            - expectation: expect_column_to_exist
              kwargs: {column: order_id}
        """,
    )

    message = load_error()

    assert "blockng" in message
    assert "Extra inputs are not permitted" in message


def test_drift_gate_declares_its_check_with_the_yaml_options(project: Project) -> None:
    project.write("orders.py", ORDERS_PY)
    project.write(
        "orders_drift/defs.yaml",
        """
        type: reliability_assets.components.DriftGateComponent
        attributes:
          asset: orders
          name: orders_drift
          columns: [amount]
          overrides: {amount: {method: wasserstein, threshold: 0.2}}
          drift_share: 0.3
          blocking: true
        """,
    )

    defs = project.load()
    specs = _specs(defs)

    assert list(specs) == ["orders_drift"]
    assert specs["orders_drift"].asset_key == dg.AssetKey("orders")
    assert specs["orders_drift"].blocking
    assert "30%" in (specs["orders_drift"].description or "")
    (check,) = defs.asset_checks or []
    assert "reliability" in check.required_resource_keys  # the store, from reliability_definitions


def test_drift_gate_options_are_checked_when_the_defs_load(
    project: Project, load_error: Callable[[], str]
) -> None:
    project.write("orders.py", ORDERS_PY)
    project.write(
        "orders_drift/defs.yaml",
        """
        type: reliability_assets.components.DriftGateComponent
        attributes: {asset: orders, columns: [amount], overrides: {country: {method: psi}}}
        """,
    )

    assert "overrides for columns not in `columns`: country" in load_error()
