"""Drift references kept by the framework: the last materialization whose checks all passed.

Each drift check stores a sample of what it just saw as a *candidate*, keyed by run. A candidate cannot be
judged when it is stored (the asset's other checks may still be running), so the next evaluation settles
it: once its run is over, a candidate whose checks all passed becomes the *active* reference and the one
before it is *retired*; a candidate with a failed check is *rejected*. Drifted or corrupted data therefore
never becomes the yardstick for the next run.

Samples are stored as Parquet bytes in the reliability store, so the same references serve every process
and every machine of a PostgreSQL deployment; each is read once per process (the cached profile).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd
from sqlalchemy import Column, Float, Integer, LargeBinary, String, Table, Text, select

from resources.store import ReliabilityStore, ensure_tables, metadata

drift_references = Table(
    "drift_references",
    metadata,
    Column("key", String(400), primary_key=True),  # asset / check / run id
    Column("asset", String(200), nullable=False, index=True),
    Column("check_name", String(200), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # candidate | active | retired | rejected
    Column("rows", Integer, nullable=False),
    Column("source_rows", Integer, nullable=False),
    Column("frame", LargeBinary, nullable=False),
    Column("note", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)


@dataclass(frozen=True)
class Reference:
    run_id: str
    rows: int
    source_rows: int
    created_at: float
    frame: pd.DataFrame


def _store(store: ReliabilityStore) -> ReliabilityStore:
    ensure_tables(store, drift_references)
    return store


def save_candidate(
    store: ReliabilityStore, *, asset: str, check: str, run_id: str, sample: pd.DataFrame, source_rows: int
) -> None:
    """Idempotent per run: a retried check step overwrites its own candidate."""
    buffer = io.BytesIO()
    sample.reset_index(drop=True).to_parquet(buffer, index=False)
    now = time.time()
    row = {
        "asset": asset,
        "check_name": check,
        "run_id": run_id,
        "state": "candidate",
        "rows": len(sample),
        "source_rows": source_rows,
        "frame": buffer.getvalue(),
        "note": "",
        "created_at": now,
        "updated_at": now,
    }
    key = f"{asset}/{check}/{run_id}"
    with _store(store).transaction() as connection:
        store.locked_row(connection, drift_references, key, row)
        store.update_row(connection, drift_references, key, row)


def settle_candidates(
    store: ReliabilityStore,
    *,
    asset: str,
    check: str,
    current_run_id: str,
    verdict: Callable[[str], bool | None],
) -> str | None:
    """Judge waiting candidates (``verdict(run_id)``: passed, failed or still running); the newest that
    passed becomes the active reference. Returns the run id of a newly promoted reference."""
    table = drift_references
    mine = (table.c.asset == asset) & (table.c.check_name == check)
    with _store(store).engine.connect() as connection:
        waiting = connection.execute(
            select(table.c.key, table.c.run_id)
            .where(mine, table.c.state == "candidate", table.c.run_id != current_run_id)
            .order_by(table.c.created_at.desc())
        ).all()
    promoted: str | None = None
    now = time.time()
    for key, run_id in waiting:
        passed = verdict(run_id)
        if passed is None:
            continue  # its run is still going: judge it next time
        with store.transaction() as connection:
            if not passed:
                note = "a check on this materialization failed"
                values = {"state": "rejected", "note": note, "updated_at": now}
            elif promoted is None:
                connection.execute(
                    table.update()
                    .where(mine, table.c.state == "active")
                    .values(state="retired", note=f"superseded by run {run_id}", updated_at=now)
                )
                values = {"state": "active", "note": "every check passed", "updated_at": now}
                promoted = run_id
            else:
                note = "a newer passing materialization exists"
                values = {"state": "retired", "note": note, "updated_at": now}
            store.update_row(connection, table, key, values)
    return promoted


def active_reference(store: ReliabilityStore, *, asset: str, check: str) -> Reference | None:
    table = drift_references
    with _store(store).engine.connect() as connection:
        row = connection.execute(
            select(table.c.key, table.c.run_id, table.c.rows, table.c.source_rows, table.c.created_at).where(
                table.c.asset == asset, table.c.check_name == check, table.c.state == "active"
            )
        ).first()
    if row is None:
        return None
    frame = _load_frame(store.url, row.key)
    return Reference(row.run_id, row.rows, row.source_rows, row.created_at, frame)


@lru_cache(maxsize=16)
def _load_frame(url: str, key: str) -> pd.DataFrame:
    """A stored sample never changes (a new reference is a new key), so it is read once per process."""
    store = ReliabilityStore(url)
    with store.engine.connect() as connection:
        blob = connection.execute(
            select(drift_references.c.frame).where(drift_references.c.key == key)
        ).scalar_one()
    return pd.read_parquet(io.BytesIO(blob))
