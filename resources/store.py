"""The reliability store: state that must survive a process (breakers, rate-limit buckets, the validated
response cache, the dead-letter queue), shared by every step of every run.

Dagster's multiprocess executor runs each step in its own process, so in-memory breaker state forgets
everything. Here it lives in SQL: a SQLite file under ``DAGSTER_HOME`` by default (WAL mode, a busy timeout,
``BEGIN IMMEDIATE`` so read-modify-write transactions serialize instead of failing with "database is
locked"), any SQLAlchemy URL (e.g. PostgreSQL, rows locked with ``SELECT ... FOR UPDATE``) when deployed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from dagster import get_dagster_logger
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    select,
)

from reliability_assets.resources.redaction import install_on_engine, register_fields
from reliability_assets.resources.store_url import (
    STORE_URL_ENV,
    check_store_url,
    default_store_url,
    unavailable,
)

__all__ = ["STORE_URL_ENV", "ReliabilityStore", "default_store_url", "migrate_store"]

SQLITE_BUSY_TIMEOUT_MS = 30_000

metadata = MetaData()

breaker_state = Table(
    "breaker_state",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("state", String(16), nullable=False, default="closed"),
    Column("window", JSON, nullable=False, default=list),  # outcomes, oldest first: "ok", "fail", "slow"
    Column("open_until", Float, nullable=False, default=0.0),
    Column("open_reason", Text, nullable=False, default=""),
    Column("half_open_in_flight", Integer, nullable=False, default=0),
    Column("half_open_successes", Integer, nullable=False, default=0),
    Column("transitions", Integer, nullable=False, default=0),
    Column("updated_at", Float, nullable=False, default=0.0),
)

rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("blocked_until", Float, nullable=False, default=0.0),
)

response_cache = Table(
    "response_cache",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("tier", String(200), nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("key", String(128), primary_key=True),  # idempotency key: the same request lands once
    Column("source", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("request", JSON, nullable=False),
    Column("attempts", JSON, nullable=False),
    Column("status", String(16), nullable=False, default="open"),  # in_flight | open | replayed | resolved
    Column("note", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)


quarantine = Table(
    "quarantine",
    metadata,
    Column("key", String(128), primary_key=True),  # source + payload hash: a record is quarantined once
    Column("source", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's "begin" event issue BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Take the write lock up front: two readers upgrading to writers would otherwise deadlock and
        # one would fail at once with "database is locked", whatever the busy timeout.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class ReliabilityStore:
    """One engine per URL per process; its schema is migrated to the newest revision on first use."""

    def __init__(self, url: str | None = None) -> None:
        """Raises ``StoreConfigError`` for a URL that cannot work and ``StoreUnavailable`` (not retried by a
        step RetryPolicy) when the database cannot be reached or written; both name the setting."""
        self.url = check_store_url(url)
        register_fields({"store_url": self.url})
        try:
            self.engine = _engine(self.url, os.getpid())  # a forked child must not reuse its parent's pool
        except Exception as error:  # the driver's errors differ per database: all mean "cannot use it"
            raise unavailable(url, self.url, error) from None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            yield connection

    def locked_row(
        self, connection: Connection, table: Table | str, key: str, defaults: Mapping[str, Any]
    ) -> dict:
        """The row for ``key``, created from ``defaults`` if missing, locked until the transaction ends.
        ``table`` may be given by name, so callers need not import SQLAlchemy (0.3 s) at load time."""
        table = metadata.tables[table] if isinstance(table, str) else table
        primary = next(iter(table.primary_key.columns))
        insert = _dialect_insert(self.engine, table).values({primary.name: key, **defaults})
        connection.execute(insert.on_conflict_do_nothing(index_elements=[primary.name]))
        query = select(table).where(primary == key)
        if not self.is_sqlite:
            query = query.with_for_update()
        return dict(connection.execute(query).mappings().one())

    def update_row(
        self, connection: Connection, table: Table | str, key: str, values: Mapping[str, Any]
    ) -> None:
        table = metadata.tables[table] if isinstance(table, str) else table
        primary = next(iter(table.primary_key.columns))
        connection.execute(table.update().where(primary == key).values(**values))

    # --- validated-response cache -------------------------------------------------------------------

    def cache_put(self, key: str, tier: str, response: Any) -> None:
        with self.transaction() as connection:
            row = {"tier": tier, "response": response, "created_at": time.time()}
            self.locked_row(connection, response_cache, key, row)
            self.update_row(connection, response_cache, key, row)

    def cache_get(self, key: str) -> dict | None:
        with self.engine.connect() as connection:
            row = (
                connection.execute(select(response_cache).where(response_cache.c.key == key))
                .mappings()
                .first()
            )
        return dict(row) if row else None

    # --- dead-letter queue --------------------------------------------------------------------------

    def dead_letter(
        self, *, key: str, source: str, reason: str, request: Any, attempts: list[dict]
    ) -> tuple[dict, bool]:
        """Store a request nobody could serve. Idempotent by ``key``: a repeat adds its attempts to the
        existing entry (and reopens it) instead of creating a second one. Returns (entry, created)."""
        now = time.time()
        with self.transaction() as connection:
            defaults = {
                "source": source,
                "reason": reason,
                "request": request,
                "attempts": [],
                "status": "open",
                "note": "",
                "created_at": now,
                "updated_at": now,
            }
            row = self.locked_row(connection, dead_letters, key, defaults)
            created = row["status"] == "in_flight" or not row["attempts"]
            merged = [*row["attempts"], *attempts]
            values = {"attempts": merged, "reason": reason, "status": "open", "updated_at": now}
            self.update_row(connection, dead_letters, key, values)
        return {**row, **values}, created

    def begin_request(self, *, key: str, source: str, request: Any) -> None:
        """Write-ahead: record the request as ``in_flight`` before any provider is called, so a process
        killed mid-call (SIGKILL, OOM, a lost node) leaves it in the queue instead of losing it. An entry
        already waiting for a person keeps its status."""
        now = time.time()
        defaults = {
            "source": source,
            "reason": "in flight: the process ended before an answer was recorded",
            "request": request,
            "attempts": [],
            "status": "in_flight",
            "note": "",
            "created_at": now,
            "updated_at": now,
        }
        with self.transaction() as connection:
            self.locked_row(connection, dead_letters, key, defaults)

    def end_request(self, key: str, *, served_by: str) -> None:
        """The request was served: drop its write-ahead entry; an entry still open from an earlier failure
        of the same request is marked ``replayed`` (it no longer needs a person)."""
        with self.transaction() as connection:
            connection.execute(
                dead_letters.delete().where(dead_letters.c.key == key, dead_letters.c.status == "in_flight")
            )
            connection.execute(
                dead_letters.update()
                .where(dead_letters.c.key == key, dead_letters.c.status == "open")
                .values(status="replayed", note=f"served later by {served_by}", updated_at=time.time())
            )

    def dead_letters(self, *, status: str | None = "open", limit: int = 100) -> list[dict]:
        query = select(dead_letters).order_by(dead_letters.c.created_at).limit(limit)
        if status is not None:
            query = query.where(dead_letters.c.status == status)
        with self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(query).mappings()]

    def dead_letter_entry(self, key: str) -> dict | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(dead_letters).where(dead_letters.c.key == key)).mappings().first()
        return dict(row) if row else None

    def set_dead_letter_status(self, key: str, status: str, note: str = "") -> None:
        with self.transaction() as connection:
            found = connection.execute(
                dead_letters.update()
                .where(dead_letters.c.key == key)
                .values(status=status, note=note, updated_at=time.time())
            )
            if found.rowcount == 0:
                raise KeyError(f"no dead letter with key {key!r}")


def quarantine_records(store: ReliabilityStore, source: str, rejected: list[tuple[str, Any]]) -> int:
    """Keep records that failed validation, with the reason and the raw payload, for a person.
    Idempotent: the same record from the same source is stored once. Returns how many were new."""
    if not rejected:
        return 0
    now = time.time()
    rows = [
        {
            "key": hashlib.sha256(
                f"{source}:{json.dumps(payload, sort_keys=True, default=str)}".encode()
            ).hexdigest(),
            "source": source,
            "reason": reason,
            "payload": payload,
            "created_at": now,
        }
        for reason, payload in rejected
    ]
    with store.transaction() as connection:
        result = connection.execute(
            _dialect_insert(store.engine, quarantine).values(rows).on_conflict_do_nothing()
        )
    return max(0, result.rowcount or 0)


def quarantined(store: ReliabilityStore, source: str | None = None, *, limit: int = 1000) -> list[dict]:
    query = select(quarantine).order_by(quarantine.c.created_at).limit(limit)
    if source is not None:
        query = query.where(quarantine.c.source == source)
    with store.engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def ensure_tables(store: ReliabilityStore, *tables: Table) -> None:
    """Kept for the modules that call it on first use: the migrations (``resources.migrations``) create
    every table when the engine is first opened, so the tables exist once the store does."""
    _engine(store.url, os.getpid())


#: Per URL, the revision each store was at before this process opened it (None: a new or pre-migrations
#: store), for ``reliability init-home`` to say what it did.
upgraded_from: dict[str, str | None] = {}


def migrate_store(url: str | None = None) -> tuple[str | None, str | None]:
    """Open the store (which upgrades it) and return its revision before and now, for ``reliability
    init-home``. Raises ``StoreConfigError`` / ``StoreUnavailable`` like any first use."""
    from reliability_assets.resources.migrations import stored_revision

    store = ReliabilityStore(url)
    with store.engine.connect() as connection:
        return upgraded_from.get(store.url), stored_revision(connection)


def _migrate(engine: Engine, url: str) -> None:
    """Bring the schema to the newest revision, once per engine. Several processes may open a new store
    at once: the check and the upgrade run in one transaction under the store's DDL lock (on PostgreSQL an
    advisory lock, the same one ``create_all`` took before migrations; SQLite's ``BEGIN IMMEDIATE``
    serializes writers), so the second process finds the first one's revision and does nothing; a failed
    upgrade rolls back whole. A store at head costs one query and no alembic import."""
    from reliability_assets.resources.migrations import HEAD, known_revisions, stored_revision, upgrade

    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('reliability_store.ddl'))")
        before = stored_revision(connection)
        upgraded_from.setdefault(url, before)
        if before == HEAD:
            return
        if before is not None and before not in known_revisions():
            # A newer release migrated it (a rolling deploy): run on it, its migrations stay compatible.
            get_dagster_logger().warning(
                "the reliability store is at revision %s, newer than this code's %s: not migrating",
                before,
                HEAD,
            )
            return
        upgrade(connection)


def _dialect_insert(engine: Engine, table: Table) -> Any:
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


@cache
def _engine(url: str, _pid: int) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # A database that does not answer must fail the first use within seconds, not hang the step.
    connect_args = {"connect_timeout": 10} if url.startswith("postgresql") else {}
    engine = create_engine(
        url,
        pool_pre_ping=True,
        json_serializer=lambda v: json.dumps(v, default=str),
        connect_args=connect_args,
    )
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    install_on_engine(engine)  # every write, from every module, is redacted here
    _migrate(engine, url)
    return engine
