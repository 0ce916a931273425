"""alembic's environment for the reliability store: it runs on the connection the store hands over (its
engine carries the redaction hook and the SQLite settings; ``create_engine`` stays in ``resources.store``),
inside the transaction that holds the store's DDL lock."""

from __future__ import annotations

from typing import Any

from alembic import context

from reliability_assets.resources.migrations import VERSION_TABLE

config = context.config
target_metadata = config.attributes.get("target_metadata")


def _ours(name: Any, type_: str, _parent_names: Any) -> bool:
    """Autogenerate looks only at the store's tables: the database may also hold Dagster's."""
    if type_ != "table" or target_metadata is None:
        return True
    return name in target_metadata.tables


def run() -> None:
    options: dict[str, Any] = {
        "target_metadata": target_metadata,
        "version_table": VERSION_TABLE,
        "include_name": _ours,
        "compare_type": True,
        "render_as_batch": True,  # SQLite alters a table by copying it
    }
    if context.is_offline_mode():  # `alembic upgrade --sql`: the DDL as a script, for a DBA
        context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is None:
        from reliability_assets.resources.store import ReliabilityStore

        # Opening the store migrates it already; this path serves alembic commands run without one.
        connection = ReliabilityStore(config.get_main_option("sqlalchemy.url") or None).engine.connect()
    context.configure(connection=connection, **options)
    with context.begin_transaction():
        context.run_migrations()


run()
