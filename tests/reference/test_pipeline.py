"""The whole reference graph, materialized in-process on a real Dagster instance, per scenario."""

import re

import duckdb
import pytest

from reliability_assets.check_events import STANDING_KEY
from reliability_assets.reference.analytics.model import AUC_FLOOR
from tests.support import ASSET_NAMES, CHECK_NAMES, check_results, materialized


def test_clean_materializes_every_asset_and_passes_every_check(reference_runs) -> None:
    result, _ = reference_runs["clean"]
    assert result.success
    assert sorted(materialized(result)) == sorted(ASSET_NAMES)
    checks = check_results(result)
    assert sorted(checks) == sorted(CHECK_NAMES)
    assert [name for name, e in checks.items() if not e.passed] == []
    assert checks["executive_summary:grounded"].metadata["numbers_cited"].value >= 8  # the template's figures
    # No key, no local model: the template served by configuration. The check passes (no WARN, incident and
    # alert every run) and says so plainly; the sensor keeps one standing inbox entry for it.
    degraded = checks["executive_summary:served_by_model"]
    assert degraded.description.startswith("no model configured: the deterministic template wrote this")
    assert degraded.metadata[STANDING_KEY].value == degraded.description
    summary = materialized(result)["executive_summary"].metadata
    assert summary["degraded"].value is True and summary["served"].value == degraded.description


def test_churn_model_auc_on_clean_data_is_above_the_floor(reference_runs) -> None:
    result, _ = reference_runs["clean"]
    model = materialized(result)["churn_model"]
    auc = model.metadata["holdout_auc"].value
    # Floor 0.70: see AUC_FLOOR's comment for the measurement across seeds that justifies it.
    assert AUC_FLOOR == 0.70
    assert auc >= AUC_FLOOR
    assert model.metadata["version"].value.startswith("churn-")


def test_tables_land_in_duckdb_and_match_the_metadata(reference_runs) -> None:
    result, home = reference_runs["clean"]
    meta = materialized(result)
    with duckdb.connect(str(home / "reliability.duckdb"), read_only=True) as con:
        for name in (
            "customers",
            "orders",
            "customer_features",
            "churn_scores",
            "customer_segments",
            "executive_kpis",
        ):
            (rows,) = con.execute(f"select count(*) from analytics.{name}").fetchone()
            assert rows == meta[name].metadata["dagster/row_count"].value
        (total,) = con.execute(
            "select revenue_365d from analytics.executive_kpis where segment = 'all'"
        ).fetchone()
    summary = result.output_for_node("executive_summary")
    assert f"${total:,.0f}" in summary
    assert meta["executive_summary"].metadata["tier"].value == "deterministic"
    assert meta["executive_summary"].metadata["degraded"].value is True
    assert meta["executive_summary"].metadata["llm/attempts"].value == 0


def test_every_table_asset_has_schema_and_preview(reference_runs) -> None:
    result, _ = reference_runs["clean"]
    for name, event in materialized(result).items():
        if name in ("churn_model", "executive_summary"):
            continue
        columns = [c.name for c in event.metadata["dagster/column_schema"].schema.columns]
        assert columns, name
        preview = event.metadata["preview"].value
        assert all(column in preview for column in columns), name


def test_corrupted_data_is_stopped_at_the_gate_with_the_column_and_rule_named(reference_runs) -> None:
    result, _ = reference_runs["corrupted"]
    assert not result.success
    checks = check_results(result)
    failed = {name: e.description for name, e in checks.items() if not e.passed}
    # The session's runs share one instance (clean, drifted, then corrupted), so the schema check
    # compares with the drifted run's orders and sees the renamed column.
    assert set(failed) == {
        "customers:gx_suite",
        "orders:gx_suite",
        "orders:gx_suite_warnings",
        "orders:schema_unchanged",
    }
    assert failed["orders:schema_unchanged"].endswith(": amount renamed to order_total")
    customers, orders = failed["customers:gx_suite"], failed["orders:gx_suite"]
    assert "customer_id: expect_column_values_to_be_unique (200 unexpected" in customers  # 100 keys, twice
    assert re.search(r"region: expect_column_values_to_not_be_null \(\d+ unexpected", customers)
    assert re.search(r"plan: expect_column_values_to_not_be_null \(\d+ unexpected", customers)
    assert re.search(r"signup_date: expect_column_values_to_be_between \(\d+ unexpected", customers)
    assert "(table): expect_table_columns_to_match_set" in orders and "'order_total'" in orders
    assert "amount: expect_column_values_to_not_be_null (column amount not in the table)" in orders
    assert "order_id: expect_column_values_to_be_unique" in orders
    assert checks["orders:gx_suite_warnings"].severity.value == "WARN"
    # The gate holds: nothing downstream of the raw tables was computed from bad data.
    assert sorted(materialized(result)) == ["customers", "orders"]
    table = checks["customers:gx_suite"].metadata["expectations"].value  # one row per expectation
    assert table.count("\n") >= 13 and "FAIL" in table and "platinum" not in table


def test_drifted_data_flows_through_and_says_which_scenario(reference_runs) -> None:
    result, _ = reference_runs["drifted"]
    assert result.success  # drift is an ERROR to act on, not a gate: the dashboard still refreshes
    meta = materialized(result)
    assert meta["orders"].metadata["scenario"].value == "drifted"
    assert meta["customers"].metadata["source"].value == "synthetic:drifted:seed=7:size=5000"


def test_drifted_features_fail_the_drift_check_with_per_column_evidence(reference_runs) -> None:
    drift = check_results(reference_runs["drifted"][0])["customer_features:drift"]
    assert not drift.passed and drift.severity.value == "ERROR"
    # The stated shifts: order value x1.3, orders x0.7, returns x2, APAC share 0.22 -> 0.40.
    drifted = set(drift.metadata["drifted_columns"].value)
    assert {"avg_order_value", "frequency_365d", "return_rate", "region"} <= drifted
    assert not drifted & {"plan", "tenure_days"}  # not shifted, not flagged
    assert drift.metadata["reference"].value == "pinned baseline"
    table = drift.metadata["columns"].value
    assert re.search(r"\| return_rate \| numerical \| wasserstein \| [0-9.]+ \| 0.1 \| DRIFT \|", table)
    assert "dataset drift" in drift.description and "region (jensenshannon" in drift.description


def test_clean_features_do_not_drift_from_an_independent_clean_sample(reference_runs) -> None:
    for name in ("customer_features:drift", "churn_scores:prediction_drift"):
        check = check_results(reference_runs["clean"][0])[name]
        assert check.passed and check.description.startswith("no column drifted vs the pinned baseline")
        assert check.metadata["drifted_share"].value == 0


@pytest.mark.parametrize("scenario", ["clean"])
def test_same_data_same_model_version(reference_runs, scenario, tmp_path) -> None:
    from dagster import instance_for_test

    from tests.support import run_reference

    first, _ = reference_runs[scenario]
    with instance_for_test() as instance:
        second = run_reference(scenario, tmp_path, instance)
    version = [materialized(r)["churn_model"].metadata["version"].value for r in (first, second)]
    assert version[0] == version[1]


def test_auc_gate_stops_a_model_without_signal() -> None:
    """The gate can fail: the same features with shuffled labels train a model the check refuses."""
    from reliability_assets.reference.analytics.features import compute_customer_features
    from reliability_assets.reference.analytics.generator import AS_OF, generate
    from reliability_assets.reference.analytics.model import churn_model_auc_floor, train_churn_model

    data = generate(seed=7, size=5_000)
    features = compute_customer_features(data.customers, data.orders, as_of=AS_OF)
    shuffled = data.customers["churned"].sample(frac=1, random_state=0).reset_index(drop=True)
    model = train_churn_model(features.assign(churned=shuffled.to_numpy()))
    result = churn_model_auc_floor(model)
    assert not result.passed
    assert f"below the floor {AUC_FLOOR}" in result.description


def test_the_summary_is_written_by_the_model_when_one_answers(tmp_path) -> None:
    from dagster import AssetSelection, instance_for_test

    from reliability_assets.reference.analytics.summary import ExecutiveBrief, Insight
    from reliability_assets.resources.llm import LLMEndpoint, ResilientLLM
    from reliability_assets.testing.fake_openai import FakeOpenAI, Fault
    from reliability_assets.testing.fake_openai.stub import stub_answer
    from tests.support import run_reference

    brief = ExecutiveBrief(
        headline="Model-written headline",
        insights=[Insight(text=f"insight {i}", segment="all", kpi="revenue_365d") for i in range(3)],
        risks=["churn"],
    )

    def answer(body: dict) -> str:  # feedback labels are stubs; the summary is the brief above
        labels = (body.get("response_format") or {}).get("json_schema", {}).get("name") == "TopicLabel"
        return stub_answer(body) if labels else brief.model_dump_json()

    with FakeOpenAI() as server, instance_for_test() as instance:
        for model in ("gpt-4o-mini", "gpt-4o"):
            server.set_responder(model, answer)
        endpoint = {"base_url": server.base_url, "api_key": "sk-test", "timeout_s": 2.0}
        llm = ResilientLLM(
            endpoints=[
                LLMEndpoint(name="primary", model="gpt-4o-mini", **endpoint),
                LLMEndpoint(name="secondary", model="gpt-4o", **endpoint),
            ],
            store_url=f"sqlite:///{tmp_path / 'store.sqlite'}",
            backoff_initial_s=0.05,
            backoff_max_s=0.1,
        )
        assert run_reference("clean", tmp_path, instance, llm=llm).success  # every upstream, by the model
        # The primary fails from now on: the summary alone is written again (the feedback batch would
        # have opened the primary's shared breaker first, and the summary would never try it).
        server.set_default("gpt-4o-mini", Fault.status(503))
        summary = AssetSelection.assets("executive_summary")
        result = run_reference("clean", tmp_path, instance, llm=llm, selection=summary)
        assert result.success
        meta = materialized(result)["executive_summary"].metadata
        assert meta["tier"].value == "secondary" and meta["degraded"].value is True
        assert meta["llm/attempts_per_tier"].value == '{"primary": 3, "secondary": 1}'
        assert "Model-written headline" in result.output_for_node("executive_summary")
        warn = check_results(result)["executive_summary:served_by_model"]
        assert not warn.passed and "served by secondary" in warn.description
        assert STANDING_KEY not in warn.metadata  # a configured model that did not serve: news, it warns

        assert check_results(result)["executive_summary:grounded"].passed  # it cites no number

        # A model that invents a figure: the summary still ships, and the grounding check names it.
        invented = brief.model_copy(update={"headline": "Revenue reached $9,999,999 with 42.4% growth."})
        server.set_responder("gpt-4o", lambda body: invented.model_dump_json())
        hallucinated = check_results(run_reference("clean", tmp_path, instance, llm=llm, selection=summary))
        grounding = hallucinated["executive_summary:grounded"]
        assert not grounding.passed and grounding.severity.value == "ERROR"
        assert grounding.description == "cites 2 number(s) not in executive_kpis: $9,999,999, 42.4%"

        # Chaos on purpose, from a run tag: the primary is never reached, the secondary serves.
        server.reset()
        for model in ("gpt-4o-mini", "gpt-4o"):
            server.set_responder(model, lambda body: brief.model_dump_json())
        chaos = run_reference(
            "clean", tmp_path, instance, llm=llm, tags={"reliability/chaos": "llm_primary_down"}
        )
        assert materialized(chaos)["executive_summary"].metadata["tier"].value == "secondary"
        assert server.requests_for("gpt-4o-mini") == []
