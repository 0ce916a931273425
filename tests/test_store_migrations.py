"""Reliability store migrations: a store made by ``create_all`` (before migrations) is adopted with every
row kept, a new store is created at head, the baseline matches the tables in code, a next revision reaches
a deployed store, concurrent first opens are safe, and ``reliability init-home`` upgrades. SQLite and
PostgreSQL (a fresh database per test)."""

from __future__ import annotations

import ast
import importlib
import multiprocessing
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from reliability_assets.reference.cli import main
from reliability_assets.resources.migrations import (
    HEAD,
    SCRIPT_LOCATION,
    VERSION_TABLE,
    alembic_config,
    stored_revision,
)
from reliability_assets.resources.store import ReliabilityStore, metadata
from reliability_assets.resources.store_url import StoreUnavailable
from tests.support import POSTGRES_URL, REPO, postgres_unreachable

PACKAGES = ("resources", "reliability_assets", "sensors")


def _table_modules() -> list[str]:
    """Every module that registers tables on the store's metadata (imports ``metadata`` from
    ``resources.store``), found in the source so a new one cannot be missed."""
    found = ["reliability_assets.resources.store"]
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.ImportFrom)
                    and node.module == "reliability_assets.resources.store"
                    and any(alias.name == "metadata" for alias in node.names)
                ):
                    parts = path.relative_to(REPO).with_suffix("").parts
                    # resources/ and sensors/ install as reliability_assets.resources and .sensors
                    prefix = () if parts[0] == "reliability_assets" else ("reliability_assets",)
                    found.append(".".join((*prefix, *parts)))
    return found


for _module in _table_modules():
    importlib.import_module(_module)
TABLES = sorted(metadata.tables)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
        return
    if reason := postgres_unreachable():
        pytest.skip(reason)
    import psycopg

    admin_url = POSTGRES_URL.replace("+psycopg", "")
    database = f"reliability_migrations_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{database}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _old_store(url: str, tables: list[str] | None = None) -> sa.Engine:
    """A store as the code before migrations made it: ``create_all``, no version table."""
    engine = sa.create_engine(url)
    metadata.create_all(engine, tables=[metadata.tables[n] for n in tables] if tables else None)
    return engine


def _value(column: sa.Column, table: str) -> Any:
    kind = column.type
    if isinstance(kind, sa.JSON):
        return {"table": table, "items": [1, "two", None]}
    if isinstance(kind, sa.LargeBinary):
        return f"bytes of {table}".encode()
    if isinstance(kind, sa.Boolean):
        return True
    if isinstance(kind, sa.Integer):
        return 7
    if isinstance(kind, sa.Float):
        return 1234.5
    return f"{table}.{column.name}"[: getattr(kind, "length", None) or 200]


def _fill(engine: sa.Engine, names: list[str]) -> None:
    with engine.begin() as connection:
        for name in names:
            table = metadata.tables[name]
            connection.execute(table.insert().values({c.name: _value(c, name) for c in table.columns}))


def _dump(engine: sa.Engine, names: list[str]) -> dict[str, list[dict]]:
    with engine.connect() as connection:
        return {
            n: [dict(r) for r in connection.execute(sa.select(metadata.tables[n])).mappings()] for n in names
        }


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def _revision(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        return stored_revision(connection)


def test_a_create_all_store_keeps_every_row_and_is_stamped_at_head(url: str) -> None:
    old = _old_store(url)
    _fill(old, TABLES)
    before = _dump(old, TABLES)
    assert VERSION_TABLE not in _tables(old)

    store = ReliabilityStore(url)

    assert _revision(store.engine) == HEAD
    assert _dump(store.engine, TABLES) == before
    assert all(rows for rows in before.values())  # one row in each of the 18 tables, kept
    # ... and the store's own API reads them.
    assert store.dead_letter_entry("dead_letters.key")["request"] == {
        "table": "dead_letters",
        "items": [1, "two", None],
    }
    old.dispose()


def test_a_store_with_some_tables_gains_the_missing_ones(url: str) -> None:
    old = _old_store(url, ["breaker_state", "dead_letters"])
    _fill(old, ["breaker_state"])

    store = ReliabilityStore(url)

    assert _tables(store.engine) == {*TABLES, VERSION_TABLE}
    assert _dump(store.engine, ["breaker_state"]) == _dump(old, ["breaker_state"])
    assert _dump(store.engine, ["breaker_state"])["breaker_state"]
    old.dispose()


def test_a_table_lacking_a_baseline_column_stops_the_upgrade_and_changes_nothing(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE rate_buckets (name VARCHAR(200) PRIMARY KEY, tokens FLOAT)")

    with pytest.raises(StoreUnavailable, match="rate_buckets lacks the columns updated_at, blocked_until"):
        ReliabilityStore(url)

    assert _tables(engine) == {"rate_buckets"}  # the upgrade rolled back whole
    engine.dispose()


def test_a_new_store_is_at_head_with_every_table(url: str) -> None:
    store = ReliabilityStore(url)

    assert _revision(store.engine) == HEAD
    assert _tables(store.engine) == {*TABLES, VERSION_TABLE}
    assert ScriptDirectory(str(SCRIPT_LOCATION)).get_current_head() == HEAD


def test_the_migrated_schema_matches_the_tables_in_code(url: str) -> None:
    """alembic's autogenerate finds no difference: the baseline is complete, and a table or column changed
    in code without a revision fails here."""
    store = ReliabilityStore(url)
    with store.engine.begin() as connection:
        command.check(alembic_config(connection, target_metadata=metadata))
    with store.engine.begin() as connection:  # the test can fail: a column the database lacks is a diff
        extra = sa.MetaData()
        for table in metadata.tables.values():
            table.to_metadata(extra)
        extra.tables["rate_buckets"].append_column(sa.Column("burst", sa.Float))
        with pytest.raises(Exception, match="burst"):
            command.check(alembic_config(connection, target_metadata=extra))


NEXT_REVISION = f'''"""Test-only: what a column change looks like."""
import sqlalchemy as sa
from alembic import op

revision = "9999_breaker_note"
down_revision = "{HEAD}"


def upgrade() -> None:
    with op.batch_alter_table("breaker_state") as batch:
        batch.add_column(sa.Column("note", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("breaker_state") as batch:
        batch.drop_column("note")
'''


def test_a_next_revision_reaches_a_deployed_store_and_keeps_its_rows(url: str, tmp_path: Path) -> None:
    store = ReliabilityStore(url)
    _fill(store.engine, TABLES)
    before = _dump(store.engine, TABLES)
    scripts = tmp_path / "migrations"
    shutil.copytree(SCRIPT_LOCATION, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "9999_breaker_note.py").write_text(NEXT_REVISION)

    with store.engine.begin() as connection:
        config = alembic_config(connection)
        config.set_main_option("script_location", str(scripts))
        command.upgrade(config, "head")

    assert _revision(store.engine) == "9999_breaker_note"
    with store.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT name, note FROM breaker_state")).all()
    assert [tuple(r) for r in rows] == [("breaker_state.name", "")]
    assert _dump(store.engine, TABLES) == before


def _open(url: str) -> str | None:
    store = ReliabilityStore(url)
    return _revision(store.engine)


def test_processes_opening_a_new_store_at_once_all_see_head(url: str) -> None:
    # spawn, not fork: a fork of this test process (threads of SQLAlchemy, Dagster) once hung under xdist.
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        revisions = pool.map(_open, [url] * 4, chunksize=1)

    assert revisions == [HEAD] * 4
    store = ReliabilityStore(url)
    with store.engine.connect() as connection:
        assert connection.execute(sa.text(f"SELECT count(*) FROM {VERSION_TABLE}")).scalar() == 1


def test_init_home_upgrades_the_configured_store(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    old = _old_store(url)
    _fill(old, ["dead_letters", "incidents"])
    before = _dump(old, TABLES)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RELIABILITY_STORE_URL", url)

    assert main(["init-home"]) == 0

    assert f"schema upgraded to revision {HEAD} (was unversioned" in capsys.readouterr().err
    assert _revision(old) == HEAD
    assert _dump(old, TABLES) == before
    old.dispose()


def test_init_home_postgres_without_a_configured_store_says_how_to_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The store init-home --postgres prints is not configured yet (and may not be reachable from here):
    nothing is opened, the command says how to upgrade now."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RELIABILITY_STORE_URL", raising=False)

    assert main(["init-home", "--postgres", "postgresql://app@db.example/prod"]) == 0

    assert "export the RELIABILITY_STORE_URL above and run `reliability init-home` again" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "home" / "reliability_store.sqlite").exists()


def test_a_store_a_newer_release_migrated_still_opens(tmp_path: Path) -> None:
    """A rolling deploy: workers of the previous release keep running on a store the new one upgraded."""
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    engine = ReliabilityStore(url).engine
    with engine.begin() as connection:
        connection.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '9999_future'"))
    code = (
        "from reliability_assets.resources.store import ReliabilityStore; "
        f"ReliabilityStore({url!r}).dead_letters()"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert f"newer than this code's {HEAD}: not migrating" in done.stderr
    assert _revision(engine) == "9999_future"
