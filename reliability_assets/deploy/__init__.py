"""Deployment on PostgreSQL: the Dagster instance (dagster-postgres) and the reliability store on one server.

``dagster_postgres.yaml`` is the instance config; it reads the connection from ``DAGSTER_PG_*`` variables.
:func:`postgres_environment` turns one URL into those variables and the matching ``RELIABILITY_STORE_URL``.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

TEMPLATE = Path(__file__).with_name("dagster_postgres.yaml")
SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2")
#: The reliability store talks to PostgreSQL through psycopg 3 (the ``postgres`` extra).
STORE_SCHEME = "postgresql+psycopg"


def postgres_environment(url: str) -> dict[str, str]:
    """``DAGSTER_PG_*`` for the template and ``RELIABILITY_STORE_URL`` for the store, from one URL such as
    ``postgresql://postgres@127.0.0.1:5432/test``. Raises ValueError naming what is missing."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"{url!r}: expected a postgresql:// URL (scheme one of {', '.join(SCHEMES)})")
    database = parts.path.lstrip("/")
    if not (parts.hostname and parts.username and database):
        raise ValueError(f"{url!r}: expected postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
    user, password = unquote(parts.username), unquote(parts.password or "")
    host, port = parts.hostname, str(parts.port or 5432)
    userinfo = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    query = f"?{parts.query}" if parts.query else ""
    return {
        "DAGSTER_PG_HOST": host,
        "DAGSTER_PG_PORT": port,
        "DAGSTER_PG_USER": user,
        "DAGSTER_PG_PASSWORD": password,
        "DAGSTER_PG_DB": database,
        "RELIABILITY_STORE_URL": f"{STORE_SCHEME}://{userinfo}@{host}:{port}/{database}{query}",
    }


def write_postgres_config(home: Path) -> Path:
    """``home/dagster.yaml`` from the template. An existing different file is kept: ValueError."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    text = TEMPLATE.read_text()
    if config.exists() and config.read_text() != text:
        raise ValueError(f"{config} exists and is not the PostgreSQL template: move it away and run again")
    config.write_text(text)
    return config


def export_lines(url: str, home: Path) -> list[str]:
    """``export NAME=value`` lines for a shell: DAGSTER_HOME, the ``DAGSTER_PG_*`` variables and
    ``RELIABILITY_STORE_URL``. A password in ``url`` is shown as ``***``, never printed."""
    env = {"DAGSTER_HOME": str(home), **postgres_environment(url)}
    password = env["DAGSTER_PG_PASSWORD"]
    lines = []
    for name, value in env.items():
        if password and name == "DAGSTER_PG_PASSWORD":
            lines.append(f"export {name}='***'  # the password given in the URL")
        elif password and name == "RELIABILITY_STORE_URL":
            masked = value.replace(f":{quote(password, safe='')}@", ":***@", 1)
            lines.append(f"export {name}='{masked}'  # put the password in place of ***")
        else:
            lines.append(f"export {name}={shlex.quote(value)}")
    return lines
