"""Schema migrations of the reliability store (alembic): a deployed database gains new columns and tables
instead of keeping the schema it was created with (``create_all`` never changes an existing table).

Opening a store upgrades it to :data:`HEAD` once per process (``resources.store``); ``reliability
init-home`` does it ahead of time. Standard library only at import: alembic (0.3 s) is imported when an
upgrade is actually needed, so a store already at head costs one query and no import.

A new migration: add ``versions/NNNN_what.py`` (``down_revision`` = the previous one), set :data:`HEAD` to
its revision, and check it with ``tests/test_store_migrations.py`` (it fails while the migrated schema and
the tables in code differ).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Connection, MetaData

#: The newest revision in ``versions/``: a store at it needs no alembic import (a test pins the two).
HEAD = "0002_batch_items"
#: Not alembic's default ``alembic_version``: the store may share a database with the Dagster instance,
#: whose PostgreSQL storage keeps its own alembic revision there.
VERSION_TABLE = "reliability_store_version"
SCRIPT_LOCATION = Path(__file__).resolve().parent


def alembic_config(
    connection: Connection | None = None, *, target_metadata: MetaData | None = None
) -> Config:
    """An alembic ``Config`` for the store's scripts, built in code (no alembic.ini): ``env.py`` runs on
    ``connection`` (inside its transaction) and compares against ``target_metadata`` for autogenerate."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    config.attributes["connection"] = connection
    config.attributes["target_metadata"] = target_metadata
    return config


def stored_revision(connection: Connection) -> str | None:
    """The store's revision, without alembic: None for a database migrations never ran on."""
    from sqlalchemy import inspect, text

    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory(str(SCRIPT_LOCATION)).walk_revisions()}


def upgrade(connection: Connection, target: str = "head") -> None:
    """Run the migrations up to ``target`` on ``connection``, inside the caller's transaction (so the
    caller's lock covers them and a failure leaves the schema as it was)."""
    from alembic import command

    command.upgrade(alembic_config(connection), target)


def run_alembic(
    connection: Connection, name: str, *args: Any, target_metadata: MetaData | None = None
) -> Any:
    """Any ``alembic.command`` (``check``, ``downgrade``, ``current``...) on ``connection``."""
    from alembic import command

    return getattr(command, name)(alembic_config(connection, target_metadata=target_metadata), *args)
