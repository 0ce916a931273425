"""``reliability init-home``: a Dagster instance the framework can rely on, and the store's schema.

Run monitoring on (a run whose worker died is marked failed, so the run-failure sensor opens an incident and
nothing waits on it forever), telemetry off, and the reliability store upgraded now rather than in a run's
first step.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import yaml

from reliability_assets.resources.paths import dagster_home

#: Run monitoring marks a run whose worker died (SIGKILL, OOM, a lost machine) as failed, so nothing waits on
#: it forever: the run-failure sensor opens an incident, its checks stop counting as running.
RUN_MONITORING = {
    "enabled": True,
    "start_timeout_seconds": 180,
    "cancel_timeout_seconds": 180,
    "poll_interval_seconds": 10,
}
DEFAULT_INSTANCE_CONFIG: dict[str, Any] = {
    "telemetry": {"enabled": False},
    "run_monitoring": RUN_MONITORING,
}


def init_home(home: Path | None = None, *, postgres: str | None = None) -> Path:
    """Create DAGSTER_HOME with a ``dagster.yaml`` that turns telemetry off and run monitoring on; an
    existing file keeps its settings and gains run monitoring when it has none.
    ``postgres`` (a postgresql:// URL): write the PostgreSQL template instead and print the environment
    it reads (``DAGSTER_PG_*``) and the ``RELIABILITY_STORE_URL`` of the store on the same server."""
    home = home or dagster_home()
    if postgres is not None:
        from reliability_assets.deploy import export_lines, write_postgres_config

        try:
            lines = export_lines(postgres, home)
            write_postgres_config(home)
        except ValueError as error:
            raise SystemExit(f"init-home --postgres: {error}") from None
        print("\n".join(lines))
        return home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(yaml.safe_dump(DEFAULT_INSTANCE_CONFIG, sort_keys=False))
        return home
    current = yaml.safe_load(config.read_text()) or {}
    if "run_monitoring" not in current:
        with config.open("a") as out:
            out.write("\n# added by `reliability init-home`: dead runs are marked failed\n")
            out.write(yaml.safe_dump({"run_monitoring": RUN_MONITORING}, sort_keys=False))
        print(f"{config}: run monitoring turned on (dead runs are marked failed)", file=sys.stderr)
    if current.get("telemetry", {}).get("enabled", True):
        print(
            f"warning: {config} leaves Dagster telemetry on; add 'telemetry: {{enabled: false}}'",
            file=sys.stderr,
        )
    return home


def upgrade_store(*, postgres: str | None = None) -> int:
    """Bring the configured reliability store (``RELIABILITY_STORE_URL``, else the SQLite file in
    DAGSTER_HOME) to the newest schema revision now rather than in a run's first step. With ``--postgres``
    and no store configured yet, only say how: the store to use is the one just printed. Reports on stderr
    (stdout stays the paths and exports a shell reads)."""
    from reliability_assets.resources.store import migrate_store
    from reliability_assets.resources.store_url import (
        STORE_URL_ENV,
        StoreConfigError,
        StoreUnavailable,
        check_store_url,
        shown,
    )

    if postgres is not None and not os.environ.get(STORE_URL_ENV):
        print(
            f"reliability store: export the {STORE_URL_ENV} above and run `reliability init-home` again to "
            "upgrade its schema now (its first use would do it too)",
            file=sys.stderr,
        )
        return 0
    try:
        before, now = migrate_store()
    except (StoreConfigError, StoreUnavailable) as error:
        print(f"init-home: {getattr(error, 'description', None) or error}", file=sys.stderr)
        return 1
    where = shown(check_store_url())
    if before == now:
        print(f"reliability store {where}: schema at revision {now}, up to date", file=sys.stderr)
    else:
        was = before or "unversioned: a new store, or one made before migrations (its rows are kept)"
        print(f"reliability store {where}: schema upgraded to revision {now} (was {was})", file=sys.stderr)
    return 0


def add_commands(commands: Any) -> None:
    commands.add_parser("init-home", help="create DAGSTER_HOME with telemetry off").add_argument(
        "--postgres", metavar="URL", help="PostgreSQL storage: postgresql://USER[:PASSWORD]@HOST:PORT/DB"
    )
