"""Last-good data commits only after it has proven usable: pull -> validate -> build the frame -> store the
output -> commit the snapshot. Record models bound their values, so a record no frame can hold is
quarantined (naming the field and the bound) instead of crashing the build and poisoning the snapshot."""

from __future__ import annotations

import json
import math
import multiprocessing
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from dagster import Failure, instance_for_test, materialize

from reliability_assets.reference.analytics import ApiSource, customers
from reliability_assets.reference.analytics import raw_sources as raw_sources_module
from reliability_assets.reference.analytics.raw_sources import (
    EARLIEST_DATE,
    LATEST_DATE,
    MAX_AMOUNT,
    CustomerRecord,
    OrderRecord,
    build_frame,
)
from reliability_assets.reference.data_api import DataAPI
from reliability_assets.resources.api import (
    INT64_MAX,
    MAX_TEXT_LENGTH,
    BoundedRecord,
    ResilientAPI,
    validate_records,
)
from reliability_assets.resources.io_managers import storage_resources
from reliability_assets.resources.store import ReliabilityStore, quarantined
from reliability_assets.resources.store_resource import ReliabilityStoreResource
from reliability_assets.testing.records_api import OUT_OF_RANGE_ID
from tests.support import check_results, materialized

SIZE = 300
CUSTOMER = {
    "customer_id": 100_001,
    "signup_date": "2025-01-31",
    "plan": "pro",
    "region": "EU",
    "acquisition_channel": "organic",
    "churned": False,
}
ORDER = {
    "order_id": 1,
    "customer_id": 100_001,
    "order_date": "2026-01-31",
    "amount": 42.5,
    "quantity": 2,
    "returned": False,
}


@pytest.fixture(scope="module")
def data_api():
    with DataAPI(size=SIZE, slow_s=5.0) as api:
        yield api


def make_api(base_url: str, home: Path) -> ResilientAPI:
    return ResilientAPI(
        base_url=base_url,
        store_url=f"sqlite:///{home / 'store.sqlite'}",
        snapshot_dir=str(home / "snapshots"),
        page_size=100,
        read_timeout_s=2.0,
        deadline_s=6.0,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
    )


def raw_resources(base_url: str, home: Path) -> dict[str, Any]:
    return {
        "source": ApiSource(api=make_api(base_url, home)),
        "reliability": ReliabilityStoreResource(store_url=f"sqlite:///{home / 'store.sqlite'}"),
        **storage_resources(duckdb_path=home / "t.duckdb", artifacts_dir=home / "storage"),
    }


def reasons(errors: list[tuple[str, Any]]) -> str:
    return " | ".join(reason for reason, _ in errors)


# --- the finding: a 400-digit id, end to end -----------------------------------------------------------


def test_a_400_digit_id_is_quarantined_the_rest_materializes_and_the_snapshot_survives(
    data_api, tmp_path
) -> None:
    """Real HTTP on 127.0.0.1, the real ResilientAPI, real Dagster materializations of ``customers``."""
    resources = raw_resources(data_api.base_url, tmp_path)
    api: ResilientAPI = resources["source"].api
    with instance_for_test() as instance:
        clean = materialize([customers], resources=resources, instance=instance)
        assert clean.success and len(api.snapshots.read("customers").records) == SIZE

        # One record of the pull carries customer_id = 10**399 (400 digits).
        huge = materialize(
            [customers],
            resources=resources,
            instance=instance,
            tags={"reliability/chaos": "api_out_of_range"},
        )
        assert huge.success  # one try: nothing crashed, nothing retried
        meta = materialized(huge)["customers"].metadata
        assert meta["dagster/row_count"].value == SIZE - 1  # every other record
        assert (meta["api/quarantined"].value, meta["api/commits_snapshot"].value) == (1, True)
        assert check_results(huge)["customers:quarantine_share"].passed  # 1 of 300 is within 2%
        [row] = quarantined(ReliabilityStore(api.store_url), "api:customers")
        assert row["payload"]["customer_id"] == OUT_OF_RANGE_ID
        assert row["reason"].startswith("customer_id: ")
        assert str(INT64_MAX) in row["reason"] and "400-digit integer" in row["reason"]

        # The committed snapshot is the usable data: the out-of-range record never reached it.
        snapshot = api.snapshots.read("customers").records
        assert len(snapshot) == SIZE - 1 and OUT_OF_RANGE_ID not in {r["customer_id"] for r in snapshot}

        down = materialize(
            [customers], resources=resources, instance=instance, tags={"reliability/chaos": "api_down"}
        )
        assert down.success  # the snapshot serves, and its frame builds
        meta = materialized(down)["customers"].metadata
        assert meta["api/served_from"].value == "snapshot" and meta["dagster/row_count"].value == SIZE - 1
        assert not check_results(down)["customers:served_live"].passed  # WARN: degraded, and says so
        assert len(api.snapshots.read("customers").records) == SIZE - 1  # untouched by the fallback run
    retried = [e for e in huge.all_events if e.event_type_value in ("STEP_UP_FOR_RETRY", "STEP_RESTARTED")]
    assert retried == []


def test_a_snapshot_written_before_the_bounds_existed_is_cleaned_on_fallback(data_api, tmp_path) -> None:
    """The finding's poisoned state: a snapshot already holding a 400-digit id. The fallback validates it
    again, quarantines that record and serves the rest; the frame builds."""
    api = make_api(data_api.base_url, tmp_path)
    records = [{**CUSTOMER, "customer_id": 100_001 + i} for i in range(5)]
    api.snapshots.write("customers", [*records, {**CUSTOMER, "customer_id": OUT_OF_RANGE_ID}])
    pull = api.pull("/v1/customers", schema=CustomerRecord, name="customers", chaos="api_down")
    assert (pull.served_from, len(pull.records), pull.quarantined) == ("snapshot", 5, 1)
    assert "1 records of the snapshot fail validation" in pull.reason
    assert len(build_frame(pull.records, CustomerRecord)) == 5
    [row] = quarantined(ReliabilityStore(api.store_url), "api:customers")
    assert row["reason"].startswith("in the snapshot: customer_id: ")


# --- two phases ------------------------------------------------------------------------------------------


def test_pull_writes_nothing_and_only_commit_replaces_the_snapshot(data_api, tmp_path) -> None:
    api = make_api(data_api.base_url, tmp_path)
    first = api.pull("/v1/customers", schema=CustomerRecord, name="customers")
    first.commit()
    before = api.snapshots.path("customers").read_bytes()

    pull = api.pull("/v1/customers", schema=CustomerRecord, name="customers", chaos="api_out_of_range")
    assert pull.committable and not pull.committed
    assert api.snapshots.path("customers").read_bytes() == before  # phase one wrote nothing
    build_frame(pull.records, CustomerRecord)  # proven usable ...
    path = pull.commit()  # ... then committed
    assert pull.committed and path == api.snapshots.path("customers")
    assert len(api.snapshots.read("customers").records) == SIZE - 1
    assert pull.commit() == path  # idempotent

    strict = api.pull(
        "/v1/customers",
        schema=CustomerRecord,
        name="customers",
        chaos="api_bad_records",
        max_quarantined_share=0.02,
    )
    assert not strict.committable and strict.commit() is None  # 5% invalid: served, never committed


def _materialize_and_die(base_url: str, home: str, marker: str) -> None:
    """A run whose process dies between building the frame and committing it (the IO manager's turn)."""
    import os

    from dagster import IOManager, io_manager

    class DieWhileStoring(IOManager):
        def handle_output(self, context, obj) -> None:  # type: ignore[no-untyped-def]
            Path(marker).write_text(str(len(obj)))  # the frame was built ...
            os._exit(9)  # ... and the process is gone before anything was committed

        def load_input(self, context):  # type: ignore[no-untyped-def]
            raise NotImplementedError

    resources = {**raw_resources(base_url, Path(home)), "io_manager": io_manager(lambda _: DieWhileStoring())}
    with instance_for_test() as instance:
        materialize([customers], resources=resources, instance=instance)


def test_a_crash_between_build_and_commit_leaves_the_previous_snapshot(data_api, tmp_path) -> None:
    api = make_api(data_api.base_url, tmp_path)
    api.pull("/v1/customers", schema=CustomerRecord, name="customers").commit()
    api.snapshots.write("customers", api.snapshots.read("customers").records[:10])  # a recognisable one
    before = api.snapshots.path("customers").read_bytes()
    marker = tmp_path / "built"
    process = multiprocessing.get_context("spawn").Process(
        target=_materialize_and_die, args=(data_api.base_url, str(tmp_path), str(marker))
    )
    process.start()
    process.join(120)
    assert process.exitcode == 9 and marker.read_text() == str(SIZE)  # built, then died storing it
    assert api.snapshots.path("customers").read_bytes() == before
    follow_up = api.pull("/v1/customers", schema=CustomerRecord, name="customers", chaos="api_down")
    assert len(follow_up.records) == 10


def test_a_pull_whose_frame_will_not_build_serves_the_untouched_snapshot(
    data_api, tmp_path, monkeypatch
) -> None:
    """Defence in depth: valid records that still fail to build (a bound missing from a model) are not
    committed; the snapshot serves, degraded, with the reason. Without a snapshot: a non-retryable Failure."""
    source = ApiSource(api=make_api(data_api.base_url, tmp_path))
    real = build_frame
    calls: list[int] = []

    def first_build_fails(records, schema):  # type: ignore[no-untyped-def]
        calls.append(len(records))
        if len(calls) == 1:
            raise OverflowError("int too large to convert to float")
        return real(records, schema)

    monkeypatch.setattr(raw_sources_module, "build_frame", first_build_fails)
    with pytest.raises(Failure) as raised:
        source.load("customers")
    assert not raised.value.allow_retries and "no snapshot of customers yet" in str(raised.value.description)

    source.api.snapshots.write("customers", [CUSTOMER])
    before = source.api.snapshots.path("customers").read_bytes()
    calls.clear()
    loaded = source.load("customers")
    assert loaded.degraded and len(loaded.frame) == 1 and calls == [SIZE, 1]
    assert "could not be built into a frame (OverflowError" in loaded.reason
    assert "the snapshot was not replaced" in loaded.reason
    loaded.commit()  # a snapshot-served load commits nothing
    assert source.api.snapshots.path("customers").read_bytes() == before


# --- the bounds, model by model ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("customer_id", OUT_OF_RANGE_ID, f"less than or equal to {INT64_MAX} (got a 400-digit integer)"),
        ("customer_id", INT64_MAX + 1, f"less than or equal to {INT64_MAX}"),
        ("customer_id", 0, "greater than or equal to 1"),
        ("signup_date", "0001-01-01", f"greater than or equal to {EARLIEST_DATE}"),
        ("signup_date", "9999-12-31", f"less than or equal to {LATEST_DATE}"),
        ("plan", "x" * 50_000, "a 50000-character string"),
    ],
)
def test_customer_bounds(field: str, value: Any, says: str) -> None:
    valid, rejected = validate_records([{**CUSTOMER, field: value}], CustomerRecord)
    assert valid == [] and reasons(rejected).startswith(f"{field}: ") and says in reasons(rejected)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("amount", math.inf, "finite number"),
        ("amount", -math.inf, "finite number"),
        ("amount", math.nan, "finite number"),
        ("amount", "Infinity", "finite number"),
        ("amount", MAX_AMOUNT * 10, "less than or equal to 1000000000"),
        ("amount", 0, "greater than 0"),
        ("order_id", -(2**64), "greater than or equal to 1"),
        ("order_id", OUT_OF_RANGE_ID, str(INT64_MAX)),
        ("quantity", 10**12, "less than or equal to 1000000"),
        ("order_date", "1492-10-12", f"greater than or equal to {EARLIEST_DATE}"),
    ],
)
def test_order_bounds(field: str, value: Any, says: str) -> None:
    valid, rejected = validate_records([{**ORDER, field: value}], OrderRecord)
    assert valid == [] and reasons(rejected).startswith(f"{field}: ") and says in reasons(rejected)


def test_json_1e400_is_inf_and_is_quarantined() -> None:
    record = json.loads(
        '{"order_id": 1, "customer_id": 2, "order_date": "2026-01-31", "amount": 1e400,'
        ' "quantity": 1, "returned": false}'
    )
    assert record["amount"] == math.inf
    assert "amount: Input should be a finite number" in reasons(validate_records([record], OrderRecord)[1])


class Ticket(BoundedRecord):
    """A user's own record model: only the base's bounds, no per-field ones."""

    ticket_id: int
    subject: str
    opened: date
    score: float


TICKET = {"ticket_id": 1, "subject": "late delivery", "opened": "2026-01-31", "score": 0.5}


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("subject", "y" * (MAX_TEXT_LENGTH + 1), f"at most {MAX_TEXT_LENGTH} characters"),
        ("ticket_id", 2**63, f"integer outside int64: must be between {-(2**63)} and {INT64_MAX}"),
        ("ticket_id", -(2**63) - 1, "integer outside int64"),
        (
            "opened",
            "0001-01-01",
            "date outside what a frame holds: must be between 1677-09-22 and 2262-04-11",
        ),
        ("opened", "3000-01-01", "date outside what a frame holds"),
        ("score", math.nan, "finite number"),
    ],
)
def test_any_bounded_record_fits_a_frame(field: str, value: Any, says: str) -> None:
    valid, rejected = validate_records([{**TICKET, field: value}], Ticket)
    assert valid == [] and reasons(rejected).startswith(f"{field}: ") and says in reasons(rejected)


def test_values_at_the_bounds_are_valid_and_build_a_frame() -> None:
    edge_customers = [
        {**CUSTOMER, "customer_id": INT64_MAX, "signup_date": EARLIEST_DATE.isoformat()},
        {**CUSTOMER, "customer_id": 1, "signup_date": LATEST_DATE.isoformat()},
    ]
    edge_orders = [{**ORDER, "order_id": INT64_MAX, "amount": MAX_AMOUNT, "quantity": 1_000_000}]
    edge_tickets = [
        {**TICKET, "ticket_id": -(2**63), "subject": "z" * MAX_TEXT_LENGTH, "opened": "2262-04-11"}
    ]
    for records, schema in (
        (edge_customers, CustomerRecord),
        (edge_orders, OrderRecord),
        (edge_tickets, Ticket),
    ):
        valid, rejected = validate_records(records, schema)
        assert rejected == [] and len(build_frame(valid, schema)) == len(records)
    frame = build_frame(validate_records(edge_customers, CustomerRecord)[0], CustomerRecord)
    assert str(frame["customer_id"].dtype) == "int64" and frame["customer_id"].max() == INT64_MAX
    assert str(frame["signup_date"].dtype).startswith("datetime64")


def test_an_empty_pull_builds_a_typed_frame() -> None:
    frame = build_frame([], OrderRecord)
    assert list(frame.columns) == list(OrderRecord.model_fields) and len(frame) == 0
    assert {c: str(t) for c, t in frame.dtypes.items()} == {
        "order_id": "int64",
        "customer_id": "int64",
        "order_date": "datetime64[ns]",
        "amount": "float64",
        "quantity": "int64",
        "returned": "bool",
    }
