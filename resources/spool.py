"""Dead letters written while the reliability store is down: kept in a local file, moved into the store
the next time it opens, so a request nobody could serve is never dropped because the queue was down too.

A JSON-lines file under ``$DAGSTER_HOME/spool`` (redacted like every sink), appended with ``O_APPEND``
and fsynced: lines from concurrent steps do not interleave, and a crash loses at most the line being
written. Draining renames the file first, so a second process draining at the same time finds nothing
and an entry is moved once; the store's dead letters are idempotent by key anyway.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reliability_assets.resources.paths import dagster_home
from reliability_assets.resources.redaction import redact

if TYPE_CHECKING:
    from reliability_assets.resources.store import ReliabilityStore


def spool_path() -> Path:
    return dagster_home() / "spool" / "dead_letters.jsonl"


def spool_dead_letter(entry: dict[str, Any]) -> Path:
    """Append one dead letter (``key``, ``source``, ``reason``, ``request``, ``attempts``)."""
    path = spool_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(redact(entry), default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def drain_spool(store: ReliabilityStore) -> int:
    """Move spooled dead letters into ``store``; returns how many. A no-op (one ``stat``) when empty."""
    path = spool_path()
    if not path.exists():
        return 0
    claimed = path.with_name(f"{path.name}.{os.getpid()}.draining")
    try:
        path.rename(claimed)
    except FileNotFoundError:  # another process is draining it
        return 0
    moved = 0
    for line in claimed.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:  # the one line a crash cut short: keep it for a person
            with claimed.with_suffix(".unreadable").open("a") as kept:
                kept.write(line + "\n")
            continue
        store.dead_letter(
            key=entry["key"],
            source=entry["source"],
            reason=entry["reason"],
            request=entry["request"],
            attempts=entry.get("attempts", []),
        )
        moved += 1
    claimed.unlink()
    return moved
