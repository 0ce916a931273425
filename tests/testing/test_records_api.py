"""A user's own collection behind the records API: paging as declared, each fault on cue."""

from __future__ import annotations

import httpx

from reliability_assets.testing.records_api import (
    BAD_EVERY,
    CHAOS_HEADER,
    OUT_OF_RANGE_AT,
    OUT_OF_RANGE_ID,
    RecordCollection,
    RecordsAPI,
)

TICKETS = [{"ticket_id": i, "priority": "high" if i % 3 == 0 else "low"} for i in range(1, 101)]


def tickets() -> dict[str, RecordCollection]:
    return {"tickets": RecordCollection(TICKETS, paging="page", id_field="ticket_id")}


def test_a_users_collection_pages_as_declared_and_unknown_paths_are_404() -> None:
    with RecordsAPI(tickets) as api, httpx.Client(base_url=api.base_url) as http:
        first = http.get("/v1/tickets", params={"page": 1, "per_page": 40}).json()
        last = http.get("/v1/tickets", params={"page": 3, "per_page": 40}).json()
        assert (first["total"], first["total_pages"], len(first["data"]), len(last["data"])) == (
            100,
            3,
            40,
            20,
        )
        assert first["data"][0] == TICKETS[0]
        assert http.get("/v1/orders").status_code == 404


def test_faults_on_cue_use_the_collections_fields() -> None:
    with RecordsAPI(tickets) as api, httpx.Client(base_url=api.base_url) as http:

        def page(mode: str) -> httpx.Response:
            return http.get("/v1/tickets", params={"per_page": 100}, headers={CHAOS_HEADER: mode})

        assert page("api_down").status_code == 503
        bad = page("api_bad_records").json()["data"]
        broken = [i for i, row in enumerate(bad) if row != TICKETS[i]]
        assert broken == list(range(BAD_EVERY - 1, 100, BAD_EVERY))
        kinds = [bad[i] for i in broken[:3]]
        assert "ticket_id" not in kinds[0]  # missing field
        assert kinds[1]["ticket_id"] == "abc"  # wrong type
        assert kinds[2]["ticket_id"] == -1  # out of domain: the default makes the id negative
        huge = page("api_out_of_range").json()["data"]
        assert huge[OUT_OF_RANGE_AT]["ticket_id"] == OUT_OF_RANGE_ID
        assert page("api_truncated").status_code == 200 and not page("api_truncated").text.endswith("}")
