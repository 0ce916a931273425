"""The local data API: both paginations serve the generator's data exactly; each chaos mode fails as said."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest

from reliability_assets.reference.analytics.generator import RawData, generate
from reliability_assets.reference.data_api import DataAPI
from reliability_assets.testing.records_api import (
    BAD_EVERY,
    CHAOS_HEADER,
    OUT_OF_RANGE_AT,
    OUT_OF_RANGE_ID,
    encode_cursor,
)
from tests.support import REPO

SIZE = 300


@pytest.fixture(scope="module")
def raw() -> RawData:
    return generate(size=SIZE)


@pytest.fixture
def api() -> Iterator[DataAPI]:
    with DataAPI(size=SIZE, slow_s=0.5) as server:
        yield server


@pytest.fixture
def http(api: DataAPI) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.base_url, timeout=10.0) as client:
        yield client


@pytest.fixture(params=["header", "default"])
def chaos(request: pytest.FixtureRequest, api: DataAPI, http: httpx.Client) -> Any:
    """Selects a chaos mode the way the test is parametrized: per request header, or server default."""

    def select(mode: str) -> None:
        if request.param == "header":
            http.headers[CHAOS_HEADER] = mode
        else:
            api.set_chaos(mode)

    return select


def walk_customers(http: httpx.Client, limit: int = 70) -> tuple[list[dict[str, Any]], list[str]]:
    records: list[dict[str, Any]] = []
    cursors: list[str] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        response = http.get("/v1/customers", params=params)
        if response.status_code == 429:  # a well-behaved client retries (after Retry-After)
            continue
        assert response.status_code == 200, response.text
        body = response.json()
        records += body["data"]
        if body["next_cursor"] is None:
            return records, cursors
        cursors.append(body["next_cursor"])
        params = {"limit": limit, "cursor": body["next_cursor"]}


def expected(frame: pd.DataFrame, date_column: str) -> list[dict[str, Any]]:
    iso = frame.assign(**{date_column: frame[date_column].dt.strftime("%Y-%m-%d")})
    return iso.to_dict("records")


def test_health(http: httpx.Client) -> None:
    response = http.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response.headers["content-type"].startswith("application/json")


def test_cursor_pagination_walks_every_customer_once(http: httpx.Client, raw: RawData) -> None:
    records, cursors = walk_customers(http, limit=70)
    assert [r["customer_id"] for r in records] == raw.customers["customer_id"].tolist()
    assert len(cursors) == math.ceil(SIZE / 70) - 1
    for offset, cursor in zip(range(70, SIZE, 70), cursors, strict=True):  # opaque, not the offset
        assert not cursor.isdigit() and str(offset) not in cursor
    assert len(http.get("/v1/customers").json()["data"]) == SIZE  # default limit 500 > SIZE


@pytest.mark.parametrize("cursor", ["garbage!!", "Zm9vYmFy", "b2Zmc2V0Ong", encode_cursor(10**6), "%%%"])
def test_garbage_cursor_is_rejected(http: httpx.Client, cursor: str) -> None:
    response = http.get("/v1/customers", params={"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize("params", [{"limit": 5001}, {"limit": 0}, {"limit": "x"}])
def test_limit_is_bounded(http: httpx.Client, params: dict[str, Any]) -> None:
    response = http.get("/v1/customers", params=params)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_parameter"
    assert http.get("/v1/customers", params={"limit": 5000}).status_code == 200


def test_page_pagination_returns_every_order(http: httpx.Client, raw: RawData) -> None:
    total = len(raw.orders)
    first = http.get("/v1/orders", params={"per_page": 1000}).json()
    assert (first["page"], first["per_page"], first["total"]) == (1, 1000, total)
    assert first["total_pages"] == math.ceil(total / 1000) >= 2
    ids = []
    for page in range(1, first["total_pages"] + 1):
        body = http.get("/v1/orders", params={"page": page, "per_page": 1000}).json()
        ids += [r["order_id"] for r in body["data"]]
    assert ids == raw.orders["order_id"].tolist()
    past = http.get("/v1/orders", params={"page": first["total_pages"] + 1, "per_page": 1000})
    assert past.status_code == 200 and past.json()["data"] == []
    assert http.get("/v1/orders", params={"page": 0}).status_code == 400


def test_records_round_trip_to_the_generator(http: httpx.Client, raw: RawData) -> None:
    customers, _ = walk_customers(http, limit=5000)
    orders = http.get("/v1/orders", params={"per_page": 5000}).json()["data"]
    assert customers == expected(raw.customers, "signup_date")
    assert orders == expected(raw.orders, "order_date")
    assert list(customers[0]) == list(raw.customers.columns) and list(orders[0]) == list(raw.orders.columns)
    for record, types in ((customers[0], (int, str, str, bool)), (orders[0], (int, str, float, bool))):
        id_key, date_key, value_key, flag_key = (
            ("customer_id", "signup_date", "plan", "churned")
            if "plan" in record
            else ("order_id", "order_date", "amount", "returned")
        )
        values = (record[id_key], record[date_key], record[value_key], record[flag_key])
        assert all(type(v) is t for v, t in zip(values, types, strict=True))
    assert customers[0]["signup_date"] == raw.customers["signup_date"].iloc[0].date().isoformat()


def test_nulls_are_json_null() -> None:
    with DataAPI(size=SIZE, scenario="corrupted") as api, httpx.Client(base_url=api.base_url) as http:
        customers = http.get("/v1/customers", params={"limit": 5000})
        orders = http.get("/v1/orders", params={"per_page": 5000})
    assert "NaN" not in customers.text and "NaN" not in orders.text
    assert any(r["region"] is None for r in customers.json()["data"])
    assert any(r["order_total"] is None for r in orders.json()["data"])


def test_requests_are_recorded(api: DataAPI, http: httpx.Client) -> None:
    before = time.monotonic()
    http.get("/v1/orders", params={"page": 2, "per_page": 10})
    [(method, path, at)] = api.requests
    assert (method, path) == ("GET", "/v1/orders?page=2&per_page=10") and at >= before


def test_api_down(chaos: Any, http: httpx.Client) -> None:
    chaos("api_down")
    for path in ("/v1/customers", "/v1/orders"):
        response = http.get(path)
        assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable"
    assert http.get("/health").status_code == 200


def test_api_rate_limited_alternates(chaos: Any, http: httpx.Client, raw: RawData) -> None:
    chaos("api_rate_limited")
    responses = [http.get("/v1/orders", params={"page": 1}) for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 429, 200, 429]
    assert responses[1].headers["retry-after"] == "1"
    assert responses[1].json()["error"]["code"] == "rate_limited"
    records, _ = walk_customers(http)  # retrying client completes
    assert [r["customer_id"] for r in records] == raw.customers["customer_id"].tolist()


def test_api_bad_records(chaos: Any, http: httpx.Client, raw: RawData) -> None:
    chaos("api_bad_records")
    customers, _ = walk_customers(http, limit=70)  # positions are global, across pages
    orders = http.get("/v1/orders", params={"per_page": 5000}).json()["data"]
    clean = {
        "customers": expected(raw.customers, "signup_date"),
        "orders": expected(raw.orders, "order_date"),
    }
    for name, records in (("customers", customers), ("orders", orders)):
        bad = [i for i, (got, want) in enumerate(zip(records, clean[name], strict=True)) if got != want]
        assert bad == list(range(BAD_EVERY - 1, len(records), BAD_EVERY))  # 5%
        missing = [i for i in bad if ("customer_id" if name == "customers" else "order_id") not in records[i]]
        wrong_type = [i for i in bad if records[i].get("customer_id") == "abc"]
        if name == "customers":
            out_of_domain = [i for i in bad if records[i]["plan"] == "platinum-plus"]
        else:
            out_of_domain = [i for i in bad if records[i]["amount"] < 0]
        assert missing == bad[0::3] and wrong_type == bad[1::3] and out_of_domain == bad[2::3]
        assert len(bad) / len(records) == pytest.approx(0.05, abs=0.01)


def test_api_out_of_range(chaos: Any, http: httpx.Client, raw: RawData) -> None:
    chaos("api_out_of_range")
    customers, _ = walk_customers(http, limit=5)  # the one record sits on a later page, not the first
    orders = http.get("/v1/orders", params={"per_page": 5000}).json()["data"]
    clean = {
        "customers": expected(raw.customers, "signup_date"),
        "orders": expected(raw.orders, "order_date"),
    }
    for name, records, key in (("customers", customers, "customer_id"), ("orders", orders, "order_id")):
        bad = [i for i, (got, want) in enumerate(zip(records, clean[name], strict=True)) if got != want]
        assert bad == [OUT_OF_RANGE_AT]
        assert records[OUT_OF_RANGE_AT] == {**clean[name][OUT_OF_RANGE_AT], key: OUT_OF_RANGE_ID}
        assert len(str(records[OUT_OF_RANGE_AT][key])) == 400  # JSON carries it; no int64 column can


def test_api_truncated(chaos: Any, http: httpx.Client) -> None:
    chaos("api_truncated")
    response = http.get("/v1/customers", params={"limit": 10})
    assert response.status_code == 200 and int(response.headers["content-length"]) == len(response.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_api_wrong_shape(chaos: Any, http: httpx.Client) -> None:
    chaos("api_wrong_shape")
    for path in ("/v1/customers?limit=10", "/v1/orders?per_page=10"):
        body = http.get(path).json()
        assert "data" not in body and len(body["items"]) == 10


def test_api_cursor_breaks(chaos: Any, http: httpx.Client) -> None:
    chaos("api_cursor_breaks")
    first = http.get("/v1/customers", params={"limit": 50})
    assert first.status_code == 200
    second = http.get("/v1/customers", params={"limit": 50, "cursor": first.json()["next_cursor"]})
    assert second.status_code == 400 and second.json()["error"]["code"] == "invalid_cursor"
    assert http.get("/v1/orders", params={"page": 1, "per_page": 50}).status_code == 200
    assert http.get("/v1/orders", params={"page": 2, "per_page": 50}).status_code == 500


def test_api_flaky(chaos: Any, http: httpx.Client) -> None:
    chaos("api_flaky")
    assert [http.get("/v1/orders?page=1").status_code for _ in range(3)] == [503, 200, 200]
    assert [http.get("/v1/orders?page=2").status_code for _ in range(2)] == [503, 200]


def test_api_slow(chaos: Any, http: httpx.Client) -> None:
    chaos("api_slow")
    start = time.monotonic()
    response = http.get("/v1/customers", params={"limit": 10})
    assert response.status_code == 200 and time.monotonic() - start >= 0.5
    start = time.monotonic()
    assert http.get("/health").status_code == 200 and time.monotonic() - start < 0.5


def test_unknown_mode_is_ignored_and_said(chaos: Any, http: httpx.Client) -> None:
    chaos("api_meteor_strike")
    response = http.get("/v1/customers", params={"limit": 10})
    assert response.status_code == 200 and len(response.json()["data"]) == 10
    assert response.headers["x-reliability-chaos-ignored"] == "api_meteor_strike"


def test_header_overrides_server_default(api: DataAPI, http: httpx.Client) -> None:
    api.set_chaos("api_down")
    assert http.get("/v1/orders").status_code == 503
    assert http.get("/v1/orders", headers={CHAOS_HEADER: "none"}).status_code == 200
    assert http.get("/v1/orders", headers={CHAOS_HEADER: "api_wrong_shape"}).json().keys() >= {"items"}


def test_stop_is_prompt_during_a_slow_request() -> None:
    api = DataAPI(size=SIZE, chaos="api_slow", slow_s=30.0).start()
    statuses: list[int] = []

    def fetch() -> None:
        statuses.append(httpx.get(f"{api.base_url}/v1/customers", timeout=10.0).status_code)

    thread = threading.Thread(target=fetch, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not api.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    start = time.monotonic()
    api.stop()
    thread.join(timeout=5)
    assert time.monotonic() - start < 2 and not thread.is_alive() and statuses == [200]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cli_serves_until_sigterm() -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reliability_assets.reference.data_api",
            "--port",
            str(port),
            "--size",
            str(SIZE),
        ],
        cwd=REPO,
        env={**os.environ, "RELIABILITY_API_CHAOS": ""},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert response.json() == {"status": "ok"}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        assert process.stdout is not None
        assert process.stdout.read().splitlines() == [
            f"serving customers and orders on http://127.0.0.1:{port} (scenario=clean, chaos=none)"
        ]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
