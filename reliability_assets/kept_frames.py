"""Frames the framework keeps per asset and purpose: the last materialization whose checks all passed.

Two purposes use it: a drift check's reference (``drift:<check>``: every row, so a near-threshold column
can be recomputed on all of them) and an asset's last-good data for fallback runs (``last_good``: the whole
frame). Each materialization stores its frame as
a *candidate*, keyed by run. A candidate cannot be judged when it is stored (the asset's checks run after
it), so the next use settles it: once its run is over, a candidate whose checks all passed becomes the
*active* frame and the one before it is *retired*; a candidate with a failed check is *rejected*. Drifted
or corrupted data therefore never becomes the yardstick, nor the data a fallback serves. Retired and
rejected frames keep their row but drop their bytes.

Frames are stored as Parquet bytes in the reliability store, so they serve every process and every
machine of a PostgreSQL deployment; each is read once per process (the cached profile).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd
from sqlalchemy import Column, Float, Integer, LargeBinary, String, Table, Text, select

from reliability_assets.resources.store import ReliabilityStore, ensure_tables, metadata

kept_frames = Table(
    "kept_frames",
    metadata,
    Column("key", String(400), primary_key=True),  # asset / purpose / run id
    Column("asset", String(200), nullable=False, index=True),
    Column("purpose", String(200), nullable=False),
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
class KeptFrame:
    run_id: str
    rows: int
    source_rows: int
    created_at: float
    frame: pd.DataFrame


def _store(store: ReliabilityStore) -> ReliabilityStore:
    ensure_tables(store, kept_frames)
    return store


def save_candidate(
    store: ReliabilityStore, *, asset: str, purpose: str, run_id: str, frame: pd.DataFrame, source_rows: int
) -> None:
    """Idempotent per run: a retried step overwrites its own candidate."""
    buffer = io.BytesIO()
    frame.reset_index(drop=True).to_parquet(buffer, index=False)
    now = time.time()
    row = {
        "asset": asset,
        "purpose": purpose,
        "run_id": run_id,
        "state": "candidate",
        "rows": len(frame),
        "source_rows": source_rows,
        "frame": buffer.getvalue(),
        "note": "",
        "created_at": now,
        "updated_at": now,
    }
    key = f"{asset}/{purpose}/{run_id}"
    with _store(store).transaction() as connection:
        store.locked_row(connection, kept_frames, key, row)
        store.update_row(connection, kept_frames, key, row)


def settle_candidates(
    store: ReliabilityStore,
    *,
    asset: str,
    purpose: str,
    current_run_id: str,
    verdict: Callable[[str], bool | None],
) -> str | None:
    """Judge waiting candidates (``verdict(run_id)``: passed, failed or still running); the newest that
    passed becomes the active reference. Returns the run id of a newly promoted reference."""
    table = kept_frames
    mine = (table.c.asset == asset) & (table.c.purpose == purpose)
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
                values = {"state": "rejected", "note": note, "frame": b"", "updated_at": now}
            elif promoted is None:
                connection.execute(
                    table.update()
                    .where(mine, table.c.state == "active")
                    .values(state="retired", note=f"superseded by run {run_id}", frame=b"", updated_at=now)
                )
                values = {"state": "active", "note": "every check passed", "updated_at": now}
                promoted = run_id
            else:
                note = "a newer passing materialization exists"
                values = {"state": "retired", "note": note, "frame": b"", "updated_at": now}
            store.update_row(connection, table, key, values)
    return promoted


def active_frame(store: ReliabilityStore, *, asset: str, purpose: str) -> KeptFrame | None:
    table = kept_frames
    with _store(store).engine.connect() as connection:
        row = connection.execute(
            select(table.c.key, table.c.run_id, table.c.rows, table.c.source_rows, table.c.created_at).where(
                table.c.asset == asset, table.c.purpose == purpose, table.c.state == "active"
            )
        ).first()
    if row is None:
        return None
    frame = _load_frame(store.url, row.key)
    return KeptFrame(row.run_id, row.rows, row.source_rows, row.created_at, frame)


@lru_cache(maxsize=16)
def _load_frame(url: str, key: str) -> pd.DataFrame:
    """A stored sample never changes (a new reference is a new key), so it is read once per process."""
    store = ReliabilityStore(url)
    with store.engine.connect() as connection:
        blob = connection.execute(select(kept_frames.c.frame).where(kept_frames.c.key == key)).scalar_one()
    return pd.read_parquet(io.BytesIO(blob))
