"""The model registry: every version with its metrics and data version, and every move of the champion
pointer (when, why, by which run, from which version), so a rollback is a lookup instead of guesswork.

Model registries keep no history of which version was champion (MLflow issue #2169). Here it lives in the
reliability store: artifacts as bytes (the registry works unchanged on PostgreSQL), the champion pointer
as one row per model name, locked while it moves, and an append-only table of moves numbered 1, 2, 3...
per name (a unique ``(name, seq)`` makes a lost update fail loudly instead of forking the history).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy import Connection, RowMapping, select

from reliability_assets.resources.redaction import RedactedMessage, redacted_logger
from reliability_assets.resources.store import ReliabilityStore, _dialect_insert, ensure_tables, metadata

log = redacted_logger(__name__)

Status = Literal["candidate", "passed", "failed"]
MoveKind = Literal["promote", "rollback"]

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),  # registration order
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("version", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # candidate | passed | failed
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("data_version", sa.String(200)),
    sa.Column("run_id", sa.String(200)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("checks_detail", sa.Text, nullable=False, default=""),
    sa.Column("checks_run_id", sa.String(200)),
    sa.Column("checks_at", sa.Float),
    sa.Column("artifact_sha256", sa.String(64), nullable=False),
    sa.Column("artifact", sa.LargeBinary, nullable=False),
    sa.UniqueConstraint("name", "version", name="uq_model_versions_name_version"),
)

model_champions = sa.Table(
    "model_champions",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("version", sa.String(200)),  # None until the first promotion
    sa.Column("moves", sa.Integer, nullable=False, default=0),
    sa.Column("updated_at", sa.Float, nullable=False, default=0.0),
)

model_champion_moves = sa.Table(
    "model_champion_moves",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),  # 1, 2, 3... per name
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("from_version", sa.String(200)),
    sa.Column("to_version", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # promote | rollback
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(200)),
    sa.UniqueConstraint("name", "seq", name="uq_model_champion_moves_name_seq"),
)

_TABLES = [model_versions, model_champions, model_champion_moves]
_VERSION_COLUMNS = [column for column in model_versions.c if column.name not in ("id", "artifact")]
_MOVE_COLUMNS = [column for column in model_champion_moves.c if column.name != "id"]


class PromotionRefused(RedactedMessage, ValueError):
    """The version's checks have not passed."""


class NoRollbackTarget(RedactedMessage, ValueError):
    """No other version whose checks passed to roll back to."""


@dataclass(frozen=True, slots=True)
class ModelVersion:
    name: str
    version: str
    status: Status
    metrics: dict[str, float]
    data_version: str | None
    run_id: str | None
    created_at: float
    checks_detail: str
    artifact_sha256: str
    checks_run_id: str | None = None
    checks_at: float | None = None


@dataclass(frozen=True, slots=True)
class ChampionMove:
    name: str
    at: float
    from_version: str | None
    to_version: str
    kind: MoveKind
    reason: str
    run_id: str | None
    seq: int = field(default=0, compare=False)


class ModelRegistry:
    """Model versions, the champion pointer and its history, in the reliability store."""

    def __init__(self, store: ReliabilityStore | None = None) -> None:
        self.store = store or ReliabilityStore()
        ensure_tables(self.store, *_TABLES)

    def register(
        self,
        name: str,
        version: str,
        *,
        artifact: bytes,
        metrics: Mapping[str, float],
        data_version: str | None = None,
        run_id: str | None = None,
    ) -> ModelVersion:
        """Store a candidate. Idempotent per (name, version): a repeat changes nothing and returns the
        existing record (compare its ``artifact_sha256`` to tell whether the bytes differed)."""
        clean = {str(key): float(value) for key, value in metrics.items()}
        if bad := [key for key, value in clean.items() if not math.isfinite(value)]:
            raise ValueError(f"{name} {version}: metrics must be finite numbers, got {bad}")
        sha = hashlib.sha256(artifact).hexdigest()
        row = {
            "name": name,
            "version": version,
            "status": "candidate",
            "metrics": clean,
            "data_version": data_version,
            "run_id": run_id,
            "created_at": time.time(),
            "checks_detail": "",
            "artifact_sha256": sha,
            "artifact": bytes(artifact),
        }
        insert = _dialect_insert(self.store.engine, model_versions).values(row)
        with self.store.transaction() as connection:
            connection.execute(insert.on_conflict_do_nothing(index_elements=["name", "version"]))
            record = self._version(connection, name, version)
        assert record is not None  # inserted above, or already there
        if record.artifact_sha256 != sha:
            log.warning("%s %s is already registered with other bytes; kept the first", name, version)
        return record

    def record_checks(
        self, name: str, version: str, *, passed: bool, run_id: str | None = None, detail: str = ""
    ) -> ModelVersion:
        """Set the status to ``passed`` or ``failed`` (the latest checks win; a champion whose checks
        later fail stays champion until someone rolls back)."""
        values = {
            "status": "passed" if passed else "failed",
            "checks_detail": detail,
            "checks_run_id": run_id,
            "checks_at": time.time(),
        }
        with self.store.transaction() as connection:
            connection.execute(
                model_versions.update()
                .where(model_versions.c.name == name, model_versions.c.version == version)
                .values(**values)
            )
            record = self._version(connection, name, version)
        if record is None:
            raise KeyError(f"model {name!r} has no version {version!r}")
        return record

    def promote(self, name: str, version: str, *, reason: str, run_id: str | None = None) -> ChampionMove:
        """Make ``version`` the champion. Refused unless its checks passed; promoting the current champion
        again is a no-op that returns the move that made it champion."""
        _require_reason(reason)
        with self.store.transaction() as connection:
            pointer = self._lock_pointer(connection, name)
            record = self._version(connection, name, version, lock=True)
            if record is None:
                raise KeyError(f"model {name!r} has no version {version!r}")
            if record.status != "passed":
                raise PromotionRefused(
                    f"refusing to promote {name} {version}: its status is {record.status!r}, "
                    "not 'passed' (run the checks and call record_checks first)"
                )
            if pointer["version"] == version:
                return self._moves(connection, name)[-1]
            return self._move(connection, pointer, version, "promote", reason, run_id)

    def rollback(
        self, name: str, *, reason: str, run_id: str | None = None, to_version: str | None = None
    ) -> ChampionMove:
        """Move the champion back to the most recent other version whose checks passed that was champion
        before (or, failing that, the latest such version registered before the current champion). A
        version that was itself rolled back from is skipped, so two rollbacks never bounce back to it.
        ``to_version``: exactly that version (it must have passed its checks); when it already is the
        champion nothing moves and the returned move has ``from_version == to_version`` (idempotent)."""
        _require_reason(reason)
        with self.store.transaction() as connection:
            pointer = self._lock_pointer(connection, name)
            current = pointer["version"]
            if to_version is not None:
                record = self._version(connection, name, to_version, lock=True)
                if record is None or record.status != "passed":
                    status = record.status if record else "not registered"
                    raise NoRollbackTarget(f"model {name!r}: {to_version} is {status}, not a passed version")
                if current == to_version:  # nothing moves (from == to says so)
                    return ChampionMove(name, time.time(), current, current, "rollback", reason, run_id)
                return self._move(connection, pointer, to_version, "rollback", reason, run_id)
            if current is None:
                raise NoRollbackTarget(f"model {name!r} has no champion to roll back from")
            query = select(model_versions.c.version, model_versions.c.id, model_versions.c.status)
            query = query.where(model_versions.c.name == name).order_by(model_versions.c.id)
            if not self.store.is_sqlite:
                query = query.with_for_update(read=True)  # as in promote: statuses hold until commit
            versions = connection.execute(query).all()
            registered = {row.version: (row.id, row.status) for row in versions}
            ended_by: dict[str, str] = {}  # version -> kind of the move that ended its latest stint
            for move in reversed(self._moves(connection, name)):
                if move.from_version is not None:
                    ended_by.setdefault(move.from_version, move.kind)

            def eligible(candidate: str) -> bool:
                passed = registered.get(candidate, (0, ""))[1] == "passed"
                return candidate != current and passed and ended_by.get(candidate) != "rollback"

            former = [v for v in ended_by if eligible(v)]  # by the end of their latest stint, newest first
            older = [row.version for row in versions if row.id < registered[current][0]]
            earlier = [v for v in reversed(older) if eligible(v)]  # registered before the champion
            target = (former or earlier or [None])[0]
            if target is None:
                skipped = sorted(v for v, kind in ended_by.items() if kind == "rollback" and v != current)
                raise NoRollbackTarget(
                    f"model {name!r}: no version other than the champion {current} has passed checks and "
                    f"was champion or registered before it"
                    + (f" (skipped, rolled back from earlier: {', '.join(skipped)})" if skipped else "")
                )
            return self._move(connection, pointer, target, "rollback", reason, run_id)

    def champion(self, name: str) -> ModelVersion | None:
        with self.store.engine.connect() as connection:
            current = _champion_version(connection, name)
            return self._version(connection, name, current) if current is not None else None

    def load(self, name: str, version: str | None = None) -> bytes:
        """The artifact of ``version``, or of the champion when ``version`` is None."""
        with self.store.engine.connect() as connection:
            if version is None:
                version = _champion_version(connection, name)
                if version is None:
                    raise KeyError(f"model {name!r} has no champion (nothing promoted yet)")
            artifact = connection.execute(
                select(model_versions.c.artifact).where(
                    model_versions.c.name == name, model_versions.c.version == version
                )
            ).scalar()
        if artifact is None:
            raise KeyError(f"model {name!r} has no version {version!r}")
        return bytes(artifact)

    def versions(self, name: str) -> list[ModelVersion]:
        """Every registered version, newest first."""
        query = select(*_VERSION_COLUMNS).where(model_versions.c.name == name)
        query = query.order_by(model_versions.c.id.desc())
        with self.store.engine.connect() as connection:
            return [_to_version(row) for row in connection.execute(query).mappings()]

    def history(self, name: str) -> list[ChampionMove]:
        """Every move of the champion pointer, oldest first."""
        with self.store.engine.connect() as connection:
            return self._moves(connection, name)

    def history_markdown(self, name: str) -> str:
        """The champion moves as a markdown table (for ``MetadataValue.md``)."""
        moves = self.history(name)
        if not moves:
            return f"_No champion moves for `{name}` yet._"
        lines = ["| # | at (UTC) | kind | from | to | reason | run |", "|---|---|---|---|---|---|---|"]
        for move in moves:
            at = datetime.fromtimestamp(move.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
            cells = [str(move.seq), at, move.kind, _code(move.from_version), _code(move.to_version)]
            cells += [_cell(move.reason), _code(move.run_id)]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    # --- internals ----------------------------------------------------------------------------------

    def _lock_pointer(self, connection: Connection, name: str) -> dict:
        defaults = {"version": None, "moves": 0, "updated_at": time.time()}
        return self.store.locked_row(connection, model_champions, name, defaults)

    def _move(
        self, connection: Connection, pointer: dict, to: str, kind: MoveKind, reason: str, run_id: str | None
    ) -> ChampionMove:
        seq = pointer["moves"] + 1
        move = ChampionMove(pointer["name"], time.time(), pointer["version"], to, kind, reason, run_id, seq)
        connection.execute(model_champion_moves.insert().values(**asdict(move)))
        values = {"version": to, "moves": seq, "updated_at": move.at}
        self.store.update_row(connection, model_champions, move.name, values)
        return move

    def _version(
        self, connection: Connection, name: str, version: str, *, lock: bool = False
    ) -> ModelVersion | None:
        query = select(*_VERSION_COLUMNS).where(
            model_versions.c.name == name, model_versions.c.version == version
        )
        if lock and not self.store.is_sqlite:
            query = query.with_for_update(read=True)  # record_checks waits until the move is committed
        row = connection.execute(query).mappings().first()
        return _to_version(row) if row is not None else None

    def _moves(self, connection: Connection, name: str) -> list[ChampionMove]:
        query = select(*_MOVE_COLUMNS).where(model_champion_moves.c.name == name)
        rows = connection.execute(query.order_by(model_champion_moves.c.seq)).mappings()
        return [ChampionMove(**row) for row in rows]


def _champion_version(connection: Connection, name: str) -> str | None:
    query = select(model_champions.c.version).where(model_champions.c.name == name)
    return connection.execute(query).scalar()


def _to_version(row: RowMapping) -> ModelVersion:
    return ModelVersion(**{**row, "metrics": dict(row["metrics"])})


def _require_reason(reason: str) -> None:
    if not reason.strip():
        raise ValueError("a champion move needs a reason")


def _code(value: str | None) -> str:
    return f"`{value}`" if value else "—"


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")
