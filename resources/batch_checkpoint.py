"""Checkpoints of batch LLM work: every item a batch served, kept in the reliability store as it completes.

A step killed half-way (SIGKILL, OOM, a lost node) and retried must not pay again for what it already got.
The response cache cannot be the checkpoint: it is keyed by the request only, so it would also answer a
new day's run, and it does not keep the tier that served or what the answer cost. A row here is keyed by
(checkpoint, item id) and remembers the request it answered: a changed prompt for the same item is asked
again, the same prompt is resumed at $0 with its original tier and cost.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Boolean, Column, Float, Integer, String, Table, select

from reliability_assets.resources.store import ReliabilityStore, metadata

batch_items = Table(
    "batch_items",
    metadata,
    Column("key", String(64), primary_key=True),  # sha256 of checkpoint + item id
    Column("checkpoint", String(300), nullable=False, index=True),
    Column("item", String(300), nullable=False),
    Column("request_key", String(64), nullable=False),  # the request it answered
    Column("tier", String(200), nullable=False),
    Column("degraded", Boolean, nullable=False),
    Column("output", JSON, nullable=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("created_at", Float, nullable=False),
)


@dataclass(frozen=True)
class ServedItem:
    """One item a batch served, as the checkpoint keeps it."""

    item: str
    request_key: str
    tier: str
    degraded: bool
    output: Any
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


def _row_key(checkpoint: str, item: str) -> str:
    return hashlib.sha256(f"{checkpoint}\x00{item}".encode()).hexdigest()


def save_items(store: ReliabilityStore, checkpoint: str, served: list[ServedItem]) -> None:
    """Persist served items in one transaction (the items of one answer are kept together or not at all);
    a later answer for the same item replaces it."""
    now = time.time()
    with store.transaction() as connection:
        for one in served:
            values = {
                "checkpoint": checkpoint,
                "item": one.item,
                "request_key": one.request_key,
                "tier": one.tier,
                "degraded": one.degraded,
                "output": one.output,
                "prompt_tokens": one.prompt_tokens,
                "completion_tokens": one.completion_tokens,
                "cost_usd": one.cost_usd,
                "created_at": now,
            }
            key = _row_key(checkpoint, one.item)
            store.locked_row(connection, batch_items, key, values)
            store.update_row(connection, batch_items, key, values)


def load_items(store: ReliabilityStore, checkpoint: str) -> dict[str, ServedItem]:
    """Every item served under ``checkpoint``, by item id."""
    query = select(batch_items).where(batch_items.c.checkpoint == checkpoint)
    with store.engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    return {
        row["item"]: ServedItem(
            item=row["item"],
            request_key=row["request_key"],
            tier=row["tier"],
            degraded=bool(row["degraded"]),
            output=row["output"],
            prompt_tokens=row["prompt_tokens"],
            completion_tokens=row["completion_tokens"],
            cost_usd=row["cost_usd"],
        )
        for row in rows
    }


def forget(store: ReliabilityStore, checkpoint: str) -> int:
    """Drop a checkpoint (the next batch under its name asks again). Returns the rows removed."""
    with store.transaction() as connection:
        done = connection.execute(batch_items.delete().where(batch_items.c.checkpoint == checkpoint))
    return done.rowcount or 0
