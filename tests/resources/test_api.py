"""ResilientAPI over real HTTP on 127.0.0.1: every fault ends in complete data, the snapshot marked
degraded, or quarantined records; never partial data passed on silently."""

import json
import multiprocessing
import os
import signal
import socket
import time

import pytest

from reliability_assets.reference.analytics.generator import generate
from reliability_assets.reference.analytics.raw_sources import CustomerRecord, OrderRecord
from reliability_assets.reference.data_api import DataAPI
from reliability_assets.resources.api import PullFailed, ResilientAPI
from reliability_assets.resources.snapshots import SnapshotStore
from reliability_assets.resources.store import ReliabilityStore, quarantined

SIZE = 300


@pytest.fixture(scope="module")
def data_api():
    with DataAPI(size=SIZE, slow_s=5.0) as api:
        yield api


def make_api(base_url: str, tmp_path, **options) -> ResilientAPI:
    defaults = {
        "store_url": f"sqlite:///{tmp_path / 'store.sqlite'}",
        "snapshot_dir": str(tmp_path / "snapshots"),
        "page_size": 100,
        "read_timeout_s": 1.0,
        "deadline_s": 6.0,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.2,
    }
    return ResilientAPI(base_url=base_url, **{**defaults, **options})


def pull_customers(api: ResilientAPI, chaos: str = ""):
    return api.pull("/v1/customers", schema=CustomerRecord, name="customers", chaos=chaos)


def expected_ids() -> list[int]:
    return generate(size=SIZE).customers["customer_id"].tolist()


def test_a_clean_pull_is_complete_and_becomes_the_snapshot_once_committed(data_api, tmp_path) -> None:
    api = make_api(data_api.base_url, tmp_path)
    pull = pull_customers(api)
    assert (pull.served_from, pull.degraded, pull.pages) == ("api", False, 3)
    assert [r["customer_id"] for r in pull.records] == expected_ids()
    assert api.snapshots.read("customers") is None and pull.committable  # phase one writes nothing
    assert pull.commit() == api.snapshots.path("customers")
    assert len(api.snapshots.read("customers").records) == SIZE
    orders = api.pull("/v1/orders", schema=OrderRecord, name="orders", pagination="page")
    assert len(orders.records) == len(generate(size=SIZE).orders) and orders.pages > 1


def test_5xx_is_retried_to_complete_data(data_api, tmp_path) -> None:
    # Every page fails once here: a 50% failure rate, which trips the default breaker (50% over 5 calls),
    # and rightly so for a real API. This test is about retries, so the breaker tolerates 80%.
    api = make_api(data_api.base_url, tmp_path, failure_rate_threshold=0.8)
    pull = pull_customers(api, chaos="api_flaky")
    assert not pull.degraded and len(pull.records) == SIZE
    assert [a["outcome"] for a in pull.attempts].count("retry") == 3  # the first try of each page


def test_429_waits_its_retry_after_and_completes(data_api, tmp_path) -> None:
    started = time.monotonic()
    pull = pull_customers(make_api(data_api.base_url, tmp_path), chaos="api_rate_limited")
    assert not pull.degraded and len(pull.records) == SIZE
    waits = [a["waited_s"] for a in pull.attempts if a["waited_s"] > 0]
    assert waits and min(waits) >= 1.0 and time.monotonic() - started >= 1.0


@pytest.mark.parametrize(
    "chaos", ["api_down", "api_slow", "api_truncated", "api_wrong_shape", "api_cursor_breaks"]
)
def test_a_pull_that_cannot_complete_serves_the_last_snapshot_degraded(data_api, tmp_path, chaos) -> None:
    api = make_api(data_api.base_url, tmp_path)
    good = pull_customers(api)
    good.commit()
    snapshot_before = api.snapshots.path("customers").read_bytes()
    pull = pull_customers(api, chaos=chaos)
    assert (pull.served_from, pull.degraded) == ("snapshot", True)
    assert pull.records == good.records  # the complete last-good data, not the pages that did arrive
    assert pull.snapshot_age_s is not None and pull.snapshot_age_s >= 0
    assert "incomplete" in pull.reason
    assert not pull.committable and pull.commit() is None  # the snapshot already is the last good
    assert api.snapshots.path("customers").read_bytes() == snapshot_before  # not replaced by a partial pull


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_falls_back_and_no_snapshot_is_a_clear_error(data_api, tmp_path) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(PullFailed, match="no snapshot of customers yet") as down:
        pull_customers(make_api(dead, tmp_path))
    assert down.value.retryable  # an API that is down may be up for the step's next attempt
    pull_customers(make_api(data_api.base_url, tmp_path)).commit()  # a good, committed pull: a snapshot
    pull = pull_customers(make_api(dead, tmp_path))
    assert pull.degraded and "ConnectError" in pull.reason


def test_invalid_records_are_quarantined_with_reason_and_payload(data_api, tmp_path) -> None:
    api = make_api(data_api.base_url, tmp_path)
    pull = pull_customers(api, chaos="api_bad_records")
    assert not pull.degraded and pull.received == SIZE
    assert pull.quarantined == SIZE // 20 and len(pull.records) == SIZE - SIZE // 20
    rows = quarantined(ReliabilityStore(api.store_url), "api:customers")
    assert len(rows) == pull.quarantined
    reasons = " ".join(r["reason"] for r in rows)
    assert "customer_id" in reasons and "plan" in reasons
    assert {"abc"} & {str(r["payload"].get("customer_id")) for r in rows}
    again = pull_customers(api, chaos="api_bad_records")  # quarantine is idempotent per record
    assert again.quarantined == pull.quarantined
    assert len(quarantined(ReliabilityStore(api.store_url), "api:customers")) == pull.quarantined


def test_an_open_breaker_goes_straight_to_the_snapshot(data_api, tmp_path) -> None:
    api = make_api(data_api.base_url, tmp_path, minimum_number_of_calls=3, wait_duration_in_open_state_s=60)
    pull_customers(api).commit()
    for _ in range(3):  # three failed calls (the breaker judges calls, not attempts): it opens
        pull_customers(api, chaos="api_down")
    before = len(data_api.requests)
    started = time.monotonic()
    pull = pull_customers(api, chaos="api_down")
    assert pull.degraded and "breaker open" in pull.reason
    assert len(data_api.requests) == before and time.monotonic() - started < 0.5


def _write_forever(directory: str) -> None:
    SnapshotStore(directory).write("big", [{"i": i, "pad": "x" * 200} for i in range(3_000_000)])


def test_a_crash_mid_write_leaves_the_previous_snapshot_intact(tmp_path) -> None:
    store = SnapshotStore(tmp_path)
    store.write("big", [{"i": 1}])
    process = multiprocessing.get_context("spawn").Process(target=_write_forever, args=(str(tmp_path),))
    process.start()
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".big.*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # mid-write
    os.kill(process.pid, signal.SIGKILL)
    process.join(10)
    assert store.read("big").records == [{"i": 1}]


def test_non_get_requests_carry_one_idempotency_key_across_retries(tmp_path) -> None:
    from reliability_assets.testing.fake_openai import FakeOpenAI, Fault

    with FakeOpenAI() as server:
        server.script("gpt-4o-mini", Fault.status(503))
        api = make_api(server.base_url.removesuffix("/v1"), tmp_path)
        api.send("POST", "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": []})
        keys = [r.headers.get("idempotency-key") for r in server.requests]
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]


def test_both_resources_share_one_resilience_core() -> None:
    import pathlib

    import reliability_assets.resources.api
    import reliability_assets.resources.llm
    import reliability_assets.resources.resilience

    api, llm, core = (
        reliability_assets.resources.api,
        reliability_assets.resources.llm,
        reliability_assets.resources.resilience,
    )
    assert api.call_endpoint is llm.call_endpoint is core.call_endpoint
    root = pathlib.Path(reliability_assets.resources.__file__).parent
    outside_core = [p for p in root.glob("*.py")]
    for path in outside_core:  # no second retry loop, sleep or classifier outside resources/resilience
        text = path.read_text()
        assert "time.sleep(" not in text and "def classify" not in text, path


def test_raw_assets_in_api_mode_show_each_path_in_dagster(data_api, tmp_path) -> None:
    """What a user sees: a live pull, the quarantine gate under api_bad_records, the snapshot under
    api_down (WARN; ERROR once older than the freshness window), each chosen with the run tag."""
    from dagster import instance_for_test, materialize

    from reliability_assets.reference.analytics import ApiSource, customers, orders
    from reliability_assets.reference.analytics.suites import customers_gx, orders_gx
    from reliability_assets.resources.io_managers import storage_resources
    from reliability_assets.resources.store_resource import ReliabilityStoreResource
    from tests.support import check_results, materialized

    resources = {
        "source": ApiSource(api=make_api(data_api.base_url, tmp_path, read_timeout_s=2.0, deadline_s=10)),
        "reliability": ReliabilityStoreResource(store_url=f"sqlite:///{tmp_path / 'store.sqlite'}"),
        **storage_resources(duckdb_path=tmp_path / "t.duckdb", artifacts_dir=tmp_path / "storage"),
    }
    assets = [customers, orders, customers_gx, orders_gx]
    with instance_for_test() as instance:
        live = materialize(assets, resources=resources, instance=instance)
        assert live.success and all(e.passed for e in check_results(live).values())
        assert materialized(live)["orders"].metadata["api/served_from"].value == "api"

        bad = materialize(
            assets,
            resources=resources,
            instance=instance,
            raise_on_error=False,
            tags={"reliability/chaos": "api_bad_records"},
        )
        gate = check_results(bad)["customers:quarantine_share"]
        assert not gate.passed and "quarantined" in gate.description
        assert not bad.success  # blocked, and not the new last-good snapshot either (checked below)

        down = materialize(
            assets, resources=resources, instance=instance, tags={"reliability/chaos": "api_down"}
        )
        assert down.success  # the snapshot keeps the pipeline going ...
        warn = check_results(down)["customers:served_live"]
        assert not warn.passed and warn.severity.value == "WARN" and "incomplete" in warn.description
        meta = materialized(down)["customers"].metadata  # ... and says how old the data is
        assert meta["api/served_from"].value == "snapshot" and meta["api/snapshot_age_s"].value >= 0
        assert meta["dagster/last_updated_timestamp"].value <= time.time()
        assert meta["dagster/row_count"].value == SIZE

        # A snapshot older than the freshness fail window turns the check from WARN to ERROR.
        path = resources["source"].api.snapshots.path("customers")
        payload = json.loads(path.read_text())
        path.write_text(json.dumps({**payload, "written_at": time.time() - 30 * 3600}))
        stale = materialize(
            assets, resources=resources, instance=instance, tags={"reliability/chaos": "api_down"}
        )
        late = check_results(stale)["customers:served_live"]
        assert late.severity.value == "ERROR" and "30.0 h old, past the 1 day, 2:00:00" in late.description


def test_a_refused_token_with_no_snapshot_is_not_worth_a_retry(tmp_path) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Refuses(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(401)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuses)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(PullFailed, match="credentials refused") as refused:
            pull_customers(make_api(f"http://127.0.0.1:{server.server_address[1]}", tmp_path))
    finally:
        server.shutdown()
    assert refused.value.retryable is False  # the step's RetryPolicy would be refused the same way
