"""ResilientAPI: an HTTP source on the same resilience core as ResilientLLM, with snapshot fallback and
record quarantine.

A pull walks every page (cursor or page pagination) through ``call_endpoint``: the one classifier, breaker,
rate limiter, deadline and Retry-After handling. Only a *complete* pull counts: its valid records replace
the last-good snapshot (atomically) and are served; records failing the pydantic model go to the quarantine
table with their reason and raw payload. If the pull cannot complete (API down past the deadline, breaker
open, a cursor that breaks mid-way), nothing partial is served: the snapshot is, marked degraded with its age.
"""

from __future__ import annotations

import functools
import os
import uuid
from typing import TYPE_CHECKING, Any, Literal

from dagster import get_dagster_logger
from pydantic import BaseModel, Field, ValidationError

from resources.base import ResilientResource
from resources.paths import dagster_home
from resources.resilience import (
    Deadline,
    EndpointFailed,
    RateLimiter,
    call_endpoint,
)
from resources.resilience.classify import MalformedResponse
from resources.resilience.retry import Reply
from resources.snapshots import SnapshotStore

if TYPE_CHECKING:
    import httpx


CHAOS_HEADER = "X-Reliability-Chaos"


class PullFailed(RuntimeError):
    """The API could not deliver a complete pull and there is no snapshot to fall back on."""


class Pull(BaseModel):
    """What a pull delivered and how: the asset turns this into data, metadata and checks."""

    records: list[dict[str, Any]]
    served_from: Literal["api", "snapshot"]
    degraded: bool
    pages: int = 0
    received: int = 0  # records the API sent, valid or not
    quarantined: int = 0
    snapshot_age_s: float | None = None
    snapshot_written_at: float | None = None
    reason: str = ""
    attempts: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def quarantined_share(self) -> float:
        return self.quarantined / self.received if self.received else 0.0

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
    chaos: str = Field(default="", description="Sent as X-Reliability-Chaos (the local data API honours it).")

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
        A pull with more invalid records than ``max_quarantined_share`` is served (the caller's check
        decides) but does not become the last-good snapshot."""
        name = name or path.strip("/").replace("/", "_")
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
            return self._from_snapshot(name, schema, reason, attempts)
        valid, rejected = _validate(raw, schema)
        from resources.store import quarantine_records

        quarantine_records(self.store, f"api:{name}", rejected)
        if len(rejected) <= max_quarantined_share * len(raw):
            self.snapshots.write(name, valid)
        log.info(f"pulled {len(raw)} records of {name} in {pages} pages; {len(rejected)} quarantined")
        return Pull(
            records=valid,
            served_from="api",
            degraded=False,
            pages=pages,
            received=len(raw),
            quarantined=len(rejected),
            attempts=attempts,
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
        )

    def _from_snapshot(self, name: str, schema: type[BaseModel], reason: str, attempts: list[dict]) -> Pull:
        snapshot = self.snapshots.read(name)
        if snapshot is None:
            raise PullFailed(f"{reason}; and there is no snapshot of {name} yet to fall back on")
        valid, _ = _validate(snapshot.records, schema)
        return Pull(
            records=valid,
            served_from="snapshot",
            degraded=True,
            received=len(snapshot.records),
            snapshot_age_s=snapshot.age_s,
            snapshot_written_at=snapshot.written_at,
            reason=reason,
            attempts=attempts,
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


def _validate(raw: list[Any], schema: type[BaseModel]) -> tuple[list[dict[str, Any]], list[tuple[str, Any]]]:
    valid: list[dict[str, Any]] = []
    rejected: list[tuple[str, Any]] = []
    for record in raw:
        try:
            valid.append(schema.model_validate(record).model_dump(mode="json"))
        except ValidationError as error:
            reason = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in error.errors()
            )
            rejected.append((reason, record))
    return valid, rejected


__all__ = ["Pull", "PullFailed", "ResilientAPI"]
