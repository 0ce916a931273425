"""ResilientAPI: an HTTP source on the same resilience core as ResilientLLM, with snapshot fallback and
record quarantine.

A pull walks every page (cursor or page pagination) through ``call_endpoint``: the one classifier, breaker,
rate limiter, deadline and Retry-After handling. Records failing the pydantic model go to the quarantine
table with their reason and raw payload. If the pull cannot complete (API down past the deadline, breaker
open, a cursor that breaks mid-way), nothing partial is served: the snapshot is, marked degraded with its age.

Last-good data is committed in two phases, and only after it has proven usable:

    pull = api.pull("/v1/customers", schema=CustomerRecord, name="customers")  # 1. pulled, validated
    frame = build(pull.records)   # 2. turned into the output (and stored) by the caller
    pull.commit()                 # 3. only now does it replace the last-good snapshot (atomically)

A pull never writes the snapshot by itself: if building the output fails, or the process dies before
``commit()``, the previous snapshot is still there for the next fallback. Only a complete live pull within
its quarantine share can be committed (``Pull.committable``).

Record models bound their values (``BoundedRecord``: integers within int64, strings of at most
``MAX_TEXT_LENGTH`` characters, finite floats, dates a frame can hold), so a record that cannot become a
frame is quarantined with the field and the bound in its reason instead of crashing the build.
"""

from __future__ import annotations

import functools
import os
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from dagster import get_dagster_logger
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from reliability_assets.resources import tracing, tracing_attributes
from reliability_assets.resources.base import ResilientResource
from reliability_assets.resources.chaos import API_FAULTS, API_TEST_FAULTS, APIChaos, check_chaos
from reliability_assets.resources.paths import dagster_home
from reliability_assets.resources.redaction import RedactedMessage
from reliability_assets.resources.resilience import (
    Deadline,
    EndpointFailed,
    RateLimiter,
    call_endpoint,
)
from reliability_assets.resources.resilience.classify import MalformedResponse, refused
from reliability_assets.resources.resilience.retry import Reply
from reliability_assets.resources.snapshots import SnapshotStore

if TYPE_CHECKING:
    import httpx


CHAOS_HEADER = "X-Reliability-Chaos"

#: What a frame can hold: int64 columns, datetime64[ns] columns (pandas' own limits, whole days).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
FRAME_EARLIEST_DATE, FRAME_LATEST_DATE = date(1677, 9, 22), date(2262, 4, 11)
#: Any string field of a ``BoundedRecord``: longer values are quarantined, not carried into a frame.
MAX_TEXT_LENGTH = 10_000


class BoundedRecord(BaseModel):
    """Base of record models for ``ResilientAPI.pull``: every value can go into a DataFrame.

    Unless a field says tighter: integers within int64, strings of at most ``MAX_TEXT_LENGTH`` characters,
    floats finite (no inf/NaN: JSON's ``1e400`` parses to inf), dates and datetimes within pandas'
    datetime64[ns] range. A record outside them fails validation (and is quarantined) with the field and the
    bound in its reason. Plausibility bounds (ids >= 1, dates of this century) belong on the fields.
    """

    model_config = ConfigDict(str_max_length=MAX_TEXT_LENGTH, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _fits_a_frame(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"integer outside int64: must be between {INT64_MIN} and {INT64_MAX}")
        if isinstance(value, date):
            day = value.date() if isinstance(value, datetime) else value
            if not FRAME_EARLIEST_DATE <= day <= FRAME_LATEST_DATE:
                raise ValueError(
                    f"date outside what a frame holds: must be between {FRAME_EARLIEST_DATE} and "
                    f"{FRAME_LATEST_DATE}"
                )
        return value


API_CHAOS = (*API_FAULTS, *API_TEST_FAULTS)


class PullFailed(RedactedMessage, RuntimeError):
    """The API could not deliver a complete pull and there is no snapshot to fall back on. ``retryable``
    is False when the API refused the request itself (a 4xx such as 401, 403 or 404): running the step
    again would be refused the same way, so a step's RetryPolicy should not
    (``Failure(allow_retries=False)``)."""

    retryable: bool = True


class Pull(BaseModel):
    """What a pull delivered and how: the asset turns this into data, metadata and checks.

    A live pull is a pending snapshot: ``commit()`` makes it the last-good snapshot, and is to be called
    once its records have been turned into the output. Until then the previous snapshot stands.
    """

    records: list[dict[str, Any]]
    served_from: Literal["api", "snapshot"]
    degraded: bool
    name: str = ""
    pages: int = 0
    received: int = 0  # records the API (or the snapshot) held, valid or not
    quarantined: int = 0
    snapshot_age_s: float | None = None
    snapshot_written_at: float | None = None
    reason: str = ""
    attempts: list[dict[str, Any]] = Field(default_factory=list)
    _snapshots: SnapshotStore | None = PrivateAttr(default=None)
    _committed: Path | None = PrivateAttr(default=None)

    @property
    def quarantined_share(self) -> float:
        return self.quarantined / self.received if self.received else 0.0

    @property
    def committable(self) -> bool:
        """A complete live pull whose invalid share was within the caller's bound: it may become the
        last-good snapshot. A snapshot-served pull never is (the snapshot already is the last good)."""
        return self._snapshots is not None

    @property
    def committed(self) -> bool:
        return self._committed is not None

    def commit(self) -> Path | None:
        """Phase two: replace the last-good snapshot of ``name`` with these records, atomically (a crash
        mid-write leaves the previous one). Call it after the output has been built from ``records``.
        Idempotent; returns the snapshot's path, or None when this pull is not ``committable``."""
        if self._snapshots is None:
            return None
        if self._committed is None:
            self._committed = self._snapshots.write(self.name, self.records)
            get_dagster_logger().info(f"committed {len(self.records)} records as the snapshot of {self.name}")
        return self._committed

    def metadata(self) -> dict[str, Any]:
        return {
            "api/served_from": self.served_from,
            "api/degraded": self.degraded,
            "api/pages": self.pages,
            "api/received": self.received,
            "api/valid": len(self.records),
            "api/quarantined": self.quarantined,
            "api/attempts": len(self.attempts),
            "api/waited_s": round(sum(a.get("waited_s", 0.0) for a in self.attempts), 3),
            "api/snapshot_age_s": round(self.snapshot_age_s, 1) if self.snapshot_age_s is not None else -1.0,
            # Whether this pull becomes the last-good snapshot once its output is stored.
            "api/commits_snapshot": self.committable,
            "api/reason": self.reason,
        }


class ResilientAPI(ResilientResource):
    """Pull complete, validated record sets from an HTTP API, or serve the last complete one and say so."""

    base_url: str = Field(description="e.g. http://127.0.0.1:8765")
    token: str | None = Field(default=None, description="Bearer token; use EnvVar. None: no auth header.")
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=30.0, gt=0, description="Per attempt; capped by the time left.")
    deadline_s: float = Field(default=120.0, gt=0, description="One deadline for the whole pull.")
    max_attempts: int = Field(default=4, ge=1, description="Per page, for transient faults.")
    page_size: int = Field(default=1_000, ge=1)
    requests_per_minute: int | None = Field(default=None, gt=0)
    snapshot_dir: str | None = Field(default=None, description="None: $DAGSTER_HOME/snapshots.")
    chaos: APIChaos = Field(
        default=APIChaos.off, description="Sent as X-Reliability-Chaos (the local data API honours it)."
    )

    @field_validator("chaos", mode="before")
    @classmethod
    def _known_chaos(cls, value: object) -> object:
        """A mode's value ('api_down', '' or 'none' for off) in code; its name in the Launchpad."""
        return check_chaos(value, where="chaos", allowed=API_CHAOS) if isinstance(value, str) else value

    @property
    def snapshots(self) -> SnapshotStore:
        return SnapshotStore(self.snapshot_dir or dagster_home() / "snapshots")

    def pull(
        self,
        path: str,
        *,
        schema: type[BaseModel],
        name: str | None = None,
        pagination: Literal["cursor", "page"] = "cursor",
        chaos: str | None = None,
        max_quarantined_share: float = 1.0,
    ) -> Pull:
        """Every page of ``path``, validated with ``schema``; on failure, the last complete snapshot.

        Nothing is written to the snapshot here: call ``commit()`` on the result once its records have
        become the output. A pull with more invalid records than ``max_quarantined_share`` is served (the
        caller's check decides) but is not committable. Traced as a ``reliability.api.pull`` span."""
        name = name or path.strip("/").replace("/", "_")
        where = {"reliability.api": name, "url.path": path, **tracing_attributes.server(self.base_url)}
        with tracing.span("reliability.api.pull", where) as traced:
            pull = self._pull(path, schema, name, pagination, chaos, max_quarantined_share)
            traced.update(tracing_attributes.pull_attributes(pull))
            return pull

    def _pull(
        self,
        path: str,
        schema: type[BaseModel],
        name: str,
        pagination: str,
        chaos: str | None,
        max_quarantined_share: float,
    ) -> Pull:
        deadline = Deadline(self.deadline_s)
        attempts: list[dict[str, Any]] = []
        log = get_dagster_logger()
        try:
            raw, pages = self._walk(
                path, pagination, deadline, attempts, chaos if chaos is not None else self.chaos
            )
        except EndpointFailed as failure:
            attempts.extend(a.as_dict() for a in failure.attempts)
            reason = f"pull of {path} incomplete: {failure.decision.reason}"
            log.warning(f"{reason}; serving the last snapshot of {name}")
            try:
                return self.from_snapshot(name, schema=schema, reason=reason, attempts=attempts)
            except PullFailed as missing:
                missing.retryable = not refused(failure.decision)
                raise
        valid, rejected = validate_records(raw, schema)
        from reliability_assets.resources.store import quarantine_records

        quarantine_records(self.store, f"api:{name}", rejected)
        log.info(f"pulled {len(raw)} records of {name} in {pages} pages; {len(rejected)} quarantined")
        pull = Pull(
            records=valid,
            served_from="api",
            degraded=False,
            name=name,
            pages=pages,
            received=len(raw),
            quarantined=len(rejected),
            attempts=attempts,
        )
        if len(rejected) <= max_quarantined_share * len(raw):
            pull._snapshots = self.snapshots
        return pull

    def from_snapshot(
        self,
        name: str,
        *,
        schema: type[BaseModel],
        reason: str,
        attempts: list[dict[str, Any]] | None = None,
    ) -> Pull:
        """The last committed snapshot of ``name``, validated again with ``schema`` (a snapshot written
        before a bound existed must not crash the build now: such records are quarantined), degraded.
        ``PullFailed`` when there is none."""
        snapshot = self.snapshots.read(name)
        if snapshot is None:
            raise PullFailed(
                f"{reason}; and there is no snapshot of {name} yet to fall back on (a pull becomes the "
                "snapshot once committed, after its output is built)"
            )
        valid, rejected = validate_records(snapshot.records, schema)
        if rejected:
            from reliability_assets.resources.store import quarantine_records

            quarantine_records(
                self.store, f"api:{name}", [(f"in the snapshot: {why}", record) for why, record in rejected]
            )
            reason += f"; {len(rejected)} records of the snapshot fail validation now and were quarantined"
        return Pull(
            records=valid,
            served_from="snapshot",
            degraded=True,
            name=name,
            received=len(snapshot.records),
            quarantined=len(rejected),
            snapshot_age_s=snapshot.age_s,
            snapshot_written_at=snapshot.written_at,
            reason=reason,
            attempts=list(attempts or []),
        )

    def send(
        self, method: str, path: str, *, json: Any = None, idempotency_key: str | None = None
    ) -> httpx.Response:
        """One request through the resilience core. Non-GET requests carry an ``Idempotency-Key`` (the same
        key on every retry), so a retried POST is applied once by a server that honours it."""
        headers = {}
        if method.upper() != "GET":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        deadline = Deadline(self.deadline_s)

        def attempt(timeout: float) -> Reply[httpx.Response]:
            response = self._client().request(
                method, path, json=json, headers=headers, timeout=self._timeout(timeout)
            )
            response.raise_for_status()
            return Reply(response, response.headers)

        response, _ = self._call(attempt, deadline, f"{method} {path}")
        return response

    # --- internals -----------------------------------------------------------------------------------

    def _walk(
        self, path: str, pagination: str, deadline: Deadline, attempts: list[dict[str, Any]], chaos: str
    ) -> tuple[list[Any], int]:
        records: list[Any] = []
        cursor: str | None = None
        page = 1
        pages = 0
        while True:
            params: dict[str, Any] = (
                {"limit": self.page_size, **({"cursor": cursor} if cursor else {})}
                if pagination == "cursor"
                else {"page": page, "per_page": self.page_size}
            )

            def attempt(timeout: float, params: dict[str, Any] = params) -> Reply[dict[str, Any]]:
                headers = {CHAOS_HEADER: chaos} if chaos else {}
                response = self._client().get(
                    path, params=params, headers=headers, timeout=self._timeout(timeout)
                )
                response.raise_for_status()
                body = response.json()  # json.JSONDecodeError on a truncated body: a transient fault
                if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                    raise MalformedResponse(f"page of {path} without a 'data' list")
                return Reply(body, response.headers)

            body, tried = self._call(attempt, deadline, path)
            attempts.extend(a.as_dict() for a in tried)
            pages += 1
            records.extend(body["data"])
            if pagination == "cursor":
                cursor = body.get("next_cursor")
                if not cursor:
                    return records, pages
            else:
                if page >= int(body.get("total_pages", page)) or not body["data"]:
                    return records, pages
                page += 1

    def _call(self, attempt: Any, deadline: Deadline, label: str) -> tuple[Any, list[Any]]:
        name = f"api:{self.base_url}"
        return call_endpoint(
            attempt,
            endpoint=label,
            deadline=deadline,
            timeout_s=self.read_timeout_s,
            breaker=self.circuit_breaker(name, slow_call_duration_threshold_s=self.read_timeout_s),
            limiter=RateLimiter(self.store, name, requests_per_minute=self.requests_per_minute),
            max_attempts=self.max_attempts,
            backoff_initial_s=self.backoff_initial_s,
            backoff_max_s=self.backoff_max_s,
            on_event=lambda kind, **fields: get_dagster_logger().info(f"{kind} {fields}"),
            # Learned timeouts only: failing over means the snapshot (degraded), so retries follow the rules.
            history=self.history(name),
            span_name=label if " " in label else f"GET {label}",
            span_attributes=tracing_attributes.server(self.base_url),
        )

    def _timeout(self, seconds: float) -> Any:
        import httpx

        return httpx.Timeout(seconds, connect=min(self.connect_timeout_s, seconds))

    def _client(self) -> httpx.Client:
        return _client(self.base_url, self.token or "", os.getpid())


@functools.lru_cache(maxsize=32)
def _client(base_url: str, token: str, _pid: int) -> httpx.Client:
    """One keep-alive client per API per process."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=base_url, headers=headers)


def validate_records(
    raw: list[Any], schema: type[BaseModel]
) -> tuple[list[dict[str, Any]], list[tuple[str, Any]]]:
    """(valid records as JSON-ready dicts, [(reason, raw record)]). A reason names each failing field, the
    rule it broke (the bound, for a value out of range) and, briefly, what it got."""
    valid: list[dict[str, Any]] = []
    rejected: list[tuple[str, Any]] = []
    for record in raw:
        try:
            valid.append(schema.model_validate(record).model_dump(mode="json"))
        except ValidationError as error:
            rejected.append(("; ".join(_reason(e) for e in error.errors()), record))
    return valid, rejected


def _reason(error: Any) -> str:
    where = ".".join(map(str, error["loc"]))
    text = f"{where or 'record'}: {error['msg']}"
    if where and error["type"] != "missing":
        text += f" (got {_brief(error.get('input'))})"
    return text


def _brief(value: Any) -> str:
    """A value short enough for a reason: a 400-digit id is 'a 400-digit integer', not 400 digits."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > INT64_MAX:
        try:
            return f"a {len(str(abs(value)))}-digit integer"
        except ValueError:  # beyond Python's int-to-str digit limit
            return f"an integer of about {int(abs(value).bit_length() * 0.30103) + 1} digits"
    if isinstance(value, str) and len(value) > 40:
        return f"a {len(value)}-character string starting {value[:20]!r}"
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


__all__ = [
    "MAX_TEXT_LENGTH",
    "BoundedRecord",
    "Pull",
    "PullFailed",
    "ResilientAPI",
    "validate_records",
]
