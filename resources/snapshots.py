"""Last-good snapshots of complete pulls, written atomically.

A snapshot is replaced only by another complete pull that has proven usable (``Pull.commit()`` in
``resources.api``, called once the pull's output is built), and only by ``os.replace`` of a fully written,
fsynced temporary file in the same directory: a crash before the commit, or mid-write, leaves the previous
snapshot intact.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reliability_assets.resources.redaction import redact_serialized


@dataclass(frozen=True)
class Snapshot:
    records: list[dict[str, Any]]
    written_at: float  # epoch seconds

    @property
    def age_s(self) -> float:
        return max(0.0, time.time() - self.written_at)


class SnapshotStore:
    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def write(self, name: str, records: list[dict[str, Any]]) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path(name)
        payload = {"written_at": time.time(), "count": len(records), "records": records}
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                # A record may carry a secret an API echoed: the file is a sink like any other.
                file.write(redact_serialized(json.dumps(payload, default=str)))
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return target

    def read(self, name: str) -> Snapshot | None:
        """The last complete snapshot, or None. A snapshot whose count does not match is not trusted."""
        try:
            payload = json.loads(self.path(name).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        if len(payload.get("records", [])) != payload.get("count"):
            return None
        return Snapshot(records=payload["records"], written_at=float(payload["written_at"]))
