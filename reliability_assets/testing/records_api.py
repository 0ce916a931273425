"""A local paginated records API that fails on purpose: test an ``ResilientAPI`` configuration against it.

A pipeline's HTTP source has to survive an upstream that is down, slow, rate limited, sends malformed
records, values no column can hold (a 400-digit id), truncated or wrongly shaped bodies, broken cursors and
flaky first attempts. A real API does that rarely and never on cue, so this server serves the collections it
is given with real pagination and injects each failure when asked: per request with the header
``X-Reliability-Chaos: <mode>`` (``ResilientAPI`` forwards the run tag ``reliability/chaos``), otherwise
with the server's own default (``chaos=``). The reference pipeline serves its generator's customers and
orders with it (``python -m reliability_assets.reference.data_api``).

Endpoints: ``GET /health``; ``GET /v1/<collection>``, with ``?limit=N&cursor=C`` (opaque cursor pagination)
or ``?page=P&per_page=N`` (page pagination), as each ``RecordCollection`` says. Standard library only.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import parse_qs, urlsplit

from reliability_assets.resources.chaos import API_FAULTS, API_TEST_FAULTS, NO_CHAOS

CHAOS_HEADER = "X-Reliability-Chaos"
#: The documented modes, then the ones that exist for testing clients (one list: ``resources.chaos``).
CHAOS_MODES, CLIENT_TEST_MODES = API_FAULTS, API_TEST_FAULTS
DEFAULT_LIMIT, MAX_LIMIT = 500, 5000
#: In ``api_bad_records`` the record at position p is malformed when p % BAD_EVERY == BAD_EVERY - 1,
#: with the kind BAD_KINDS[(p // BAD_EVERY) % 3]: 5% of records, the three kinds in turn (the collection
#: says how: which field goes missing, which gets a string, what an out-of-domain record is).
BAD_EVERY = 20
BAD_KINDS = ("missing_field", "wrong_type", "out_of_domain")
#: In ``api_out_of_range`` the record at this position carries a 400-digit id (the collection's
#: ``id_field``): valid JSON, a Python int, but no int64 column holds it.
OUT_OF_RANGE_AT = 7
OUT_OF_RANGE_ID = 10**399
_CURSOR_PREFIX = "offset:"

Record = dict[str, Any]
Response = tuple[int, Any, dict[str, str]]  # status, JSON payload, extra headers


@dataclass(frozen=True)
class RecordCollection:
    """One collection the API serves at ``/v1/<name>``: its records and how a client pages through them.

    ``id_field`` goes missing (``api_bad_records``) or gets a 400-digit value (``api_out_of_range``);
    ``wrong_type_field`` gets a string; ``out_of_domain`` makes a record valid in type but not in domain
    (default: a negative ``id_field``)."""

    records: list[Record]
    paging: Literal["cursor", "page"] = "cursor"
    id_field: str = "id"
    wrong_type_field: str | None = None
    out_of_domain: Callable[[Record], Record] | None = None


class _Reject(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.response: Response = (status, _error(code, message), {})


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, total: int) -> int:
    try:
        text = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
        if not text.startswith(_CURSOR_PREFIX):
            raise ValueError(text)
        offset = int(text.removeprefix(_CURSOR_PREFIX))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _Reject(400, "invalid_cursor", f"cursor {cursor!r} is not a cursor this API issued") from None
    if not 0 <= offset <= total:
        raise _Reject(400, "invalid_cursor", f"cursor {cursor!r} points outside the collection")
    return offset


def records_of_frame(frame: Any) -> list[Record]:
    """Rows as JSON-ready dicts: ISO dates, native ints/floats/bools, null for NaN/None/NaT."""
    import pandas as pd

    columns = []
    for name in frame.columns:
        series = frame[name]
        missing = series.isna().tolist()
        if pd.api.types.is_datetime64_any_dtype(series):
            series = series.dt.strftime("%Y-%m-%d")
        columns.append([None if m else v for v, m in zip(series.tolist(), missing, strict=True)])
    names = [str(n) for n in frame.columns]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _malformed(record: Record, position: int, collection: RecordCollection) -> Record:
    if position % BAD_EVERY != BAD_EVERY - 1:
        return record
    bad, kind = dict(record), BAD_KINDS[(position // BAD_EVERY) % len(BAD_KINDS)]
    if kind == "missing_field":
        bad.pop(collection.id_field, None)
    elif kind == "wrong_type":
        bad[collection.wrong_type_field or collection.id_field] = "abc"
    elif collection.out_of_domain is not None:
        bad = collection.out_of_domain(bad)
    else:
        bad[collection.id_field] = -1
    return bad


def _int_param(query: dict[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name, [str(default)])[-1]
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise _Reject(400, "invalid_parameter", f"{name} must be an integer in [{low}, {high}], got {raw!r}")
    return value


class RecordsAPI:
    """The server; a context manager. ``collections`` is called once, when it starts (so building the data
    costs nothing until then). ``requests`` records (method, path with query, monotonic time)."""

    def __init__(
        self,
        collections: Callable[[], dict[str, RecordCollection]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        chaos: str = "",
        slow_s: float = 30.0,
    ) -> None:
        self.host, self.port, self._collections = host, port, collections
        self.slow_s = slow_s
        self._chaos = chaos.strip()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._requests: list[tuple[str, str, float]] = []
        self._seen_urls: set[str] = set()
        self._rate_count = 0
        self._data: dict[str, RecordCollection] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("RecordsAPI is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[tuple[str, str, float]]:
        with self._lock:
            return list(self._requests)

    @property
    def chaos(self) -> str:
        return self._chaos

    def set_chaos(self, mode: str) -> None:
        self._chaos = mode.strip()

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._data = dict(self._collections())
        self._stopping.clear()
        handler = type("RecordsAPIHandler", (_Handler,), {"api": self})
        server = ThreadingHTTPServer((self.host, self.port), handler)
        server.daemon_threads = True
        server.block_on_close = False  # keep-alive connections must not hold up stop()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="records-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def handle(self, method: str, target: str, chaos_header: str | None) -> tuple[int, bytes, dict[str, str]]:
        """One request -> (status, body, extra headers). Chaos comes from the header, else the default."""
        with self._lock:
            self._requests.append((method, target, time.monotonic()))
        mode = (self._chaos if chaos_header is None else chaos_header).strip()
        url = urlsplit(target)
        try:
            status, payload, headers = self._route(url.path, parse_qs(url.query), mode, target)
        except _Reject as reject:
            status, payload, headers = reject.response
        if mode not in NO_CHAOS + CHAOS_MODES + CLIENT_TEST_MODES:
            headers["X-Reliability-Chaos-Ignored"] = mode[:200]
        body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
        if mode == "api_truncated" and status == 200:
            body = body[: len(body) // 2]
        return status, body, headers

    def _route(self, path: str, query: dict[str, list[str]], mode: str, target: str) -> Response:
        path = path.rstrip("/") or "/"
        if path == "/health":
            return 200, {"status": "ok"}, {}
        name = path.removeprefix("/v1/")
        if not path.startswith("/v1/") or name not in self._data:
            raise _Reject(404, "not_found", f"no resource at {path}")
        if mode == "api_down":
            raise _Reject(503, "unavailable", "the upstream API is down (chaos: api_down)")
        if mode == "api_flaky":
            with self._lock:
                first = target not in self._seen_urls
                self._seen_urls.add(target)
            if first:
                raise _Reject(503, "unavailable", "transient failure, retry (chaos: api_flaky)")
        if mode == "api_rate_limited":
            with self._lock:
                self._rate_count += 1
                limited = self._rate_count % 2 == 0
            if limited:
                return 429, _error("rate_limited", "too many requests, retry after 1 s"), {"Retry-After": "1"}
        if mode == "api_slow":
            self._stopping.wait(self.slow_s)
        collection = self._data[name]
        page = self._by_cursor if collection.paging == "cursor" else self._by_page
        payload = page(name, query, mode)
        if mode == "api_wrong_shape":
            payload = {("items" if key == "data" else key): value for key, value in payload.items()}
        return 200, payload, {}

    def _page(self, name: str, offset: int, count: int, mode: str) -> list[Record]:
        collection = self._data[name]
        rows = collection.records[offset : offset + count]
        if mode == "api_bad_records":
            return [_malformed(row, offset + i, collection) for i, row in enumerate(rows)]
        if mode == "api_out_of_range" and offset <= OUT_OF_RANGE_AT < offset + len(rows):
            rows = list(rows)
            rows[OUT_OF_RANGE_AT - offset] = {
                **rows[OUT_OF_RANGE_AT - offset],
                collection.id_field: OUT_OF_RANGE_ID,
            }
        return rows

    def _by_cursor(self, name: str, query: dict[str, list[str]], mode: str) -> dict[str, Any]:
        limit = _int_param(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        total = len(self._data[name].records)
        cursor = query.get("cursor", [""])[-1]
        if cursor and mode == "api_cursor_breaks":
            raise _Reject(400, "invalid_cursor", "cursor rejected (chaos: api_cursor_breaks)")
        offset = decode_cursor(cursor, total) if cursor else 0
        end = min(offset + limit, total)
        return {
            "data": self._page(name, offset, limit, mode),
            "next_cursor": encode_cursor(end) if end < total else None,
        }

    def _by_page(self, name: str, query: dict[str, list[str]], mode: str) -> dict[str, Any]:
        page = _int_param(query, "page", 1, 1, 10**9)
        per_page = _int_param(query, "per_page", DEFAULT_LIMIT, 1, MAX_LIMIT)
        if page == 2 and mode == "api_cursor_breaks":
            raise _Reject(500, "internal_error", "page 2 failed (chaos: api_cursor_breaks)")
        total = len(self._data[name].records)
        return {
            "data": self._page(name, (page - 1) * per_page, per_page, mode),
            "page": page,
            "per_page": per_page,
            "total_pages": math.ceil(total / per_page),
            "total": total,
        }


class _Handler(BaseHTTPRequestHandler):
    api: RecordsAPI
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "ReliabilityDataAPI/1.0"

    def do_GET(self) -> None:
        try:
            status, body, headers = self.api.handle("GET", self.path, self.headers.get(CHAOS_HEADER))
        except Exception as exc:  # a bug here must still answer, as JSON
            status, body, headers = 500, json.dumps(_error("internal_error", repr(exc))).encode(), {}
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and the UI own the output
        pass
