"""The reliability store's URL: checked when the code location loads, probed on first use, and named in
every error, so a wrong ``RELIABILITY_STORE_URL`` stops a run at once with its fix instead of failing
every store-using step with a raw driver error, retried.

Standard library only (SQLAlchemy costs 0.3 s of import, which loading the code location must not pay);
``StoreUnavailable`` is a ``dagster.Failure`` with ``allow_retries=False``: a step RetryPolicy cannot fix a
wrong URL, a missing database or a read-only file, so it must not wait through three retries first.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from dagster import Failure

from reliability_assets.resources.paths import dagster_home
from reliability_assets.resources.redaction import RedactedMessage, redact_text

STORE_URL_ENV = "RELIABILITY_STORE_URL"
#: Dialects SQLAlchemy ships (``dialect+driver://``): anything else is a typo or a missing plugin.
DIALECTS = ("sqlite", "postgresql", "mysql", "mariadb", "mssql", "oracle")
_URL = re.compile(r"^(?P<dialect>[a-z][a-z0-9]*)(\+(?P<driver>[a-z0-9_]+))?://(?P<rest>.*)$")
EXAMPLES = "sqlite:////abs/path/reliability_store.sqlite or postgresql+psycopg2://user@host:5432/db"


class StoreConfigError(RedactedMessage, ValueError):
    """A store URL that cannot work: the message names where it came from and the fix."""


class StoreUnavailable(RedactedMessage, Failure):
    """The store could not be opened or used: not retried by a step's RetryPolicy."""

    def __init__(self, description: str) -> None:
        super().__init__(description=redact_text(description), allow_retries=False)


def default_store_url() -> str:
    """``RELIABILITY_STORE_URL``, else a SQLite file in ``$DAGSTER_HOME`` (or ``.dagster_home``)."""
    if os.environ.get(STORE_URL_ENV):
        return os.environ[STORE_URL_ENV]
    return f"sqlite:///{dagster_home() / 'reliability_store.sqlite'}"


def source_of(url: str | None) -> str:
    """What the user set: the resource field, the variable, or nothing (the default SQLite file)."""
    if url:
        return "store_url"
    return STORE_URL_ENV if os.environ.get(STORE_URL_ENV) else f"the default store (unset {STORE_URL_ENV})"


def shown(url: str) -> str:
    """The URL as it may be shown: its password (and any known secret) masked."""
    return redact_text(url)


def check_store_url(url: str | None = None) -> str:
    """The URL to use (``url``, else the variable, else the default), checked without connecting: a known
    dialect, and for SQLite a directory that exists or can be made and can be written."""
    resolved = url or default_store_url()
    where = source_of(url)
    match = _URL.match(resolved)
    if match is None or match["dialect"] not in DIALECTS:
        raise StoreConfigError(
            f"{where}={shown(resolved)!r} is not a SQLAlchemy database URL. Fix: set {where} to a URL "
            f"such as {EXAMPLES}, or unset {STORE_URL_ENV} to use SQLite in $DAGSTER_HOME."
        )
    if match["dialect"] == "sqlite":
        path = match["rest"].removeprefix("/")
        if path in ("", ":memory:"):
            raise StoreConfigError(
                f"{where}={resolved!r}: an in-memory SQLite store is not shared between the processes of a "
                f"run. Fix: use a file, e.g. sqlite:////abs/path/reliability_store.sqlite."
            )
        _check_writable(Path(path.split("?", 1)[0]), where)
    elif not match["rest"].split("/", 1)[0].rpartition("@")[2]:
        raise StoreConfigError(f"{where}={shown(resolved)!r} names no host. Fix: e.g. {EXAMPLES}.")
    return resolved


def _check_writable(path: Path, where: str) -> None:
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    problem = ""
    if path.exists() and path.is_dir():
        problem = "is a directory"
    elif path.exists() and not os.access(path, os.W_OK):
        problem = "is not writable"
    elif existing is not None and existing != path and not existing.is_dir():
        problem = f"cannot be created: {existing} is a file, not a directory"
    elif existing is not None and existing != path and not os.access(existing, os.W_OK | os.X_OK):
        problem = f"cannot be created: {existing} is not writable"
    if problem:
        raise StoreConfigError(
            f"{where}: the SQLite file {path} {problem}. Fix: point {where} at a writable path, or unset "
            f"{STORE_URL_ENV} to use $DAGSTER_HOME/reliability_store.sqlite."
        )


def unavailable(url: str | None, resolved: str, error: BaseException) -> StoreUnavailable:
    """The error for a store that failed on first use, with the driver's own words and the fix."""
    where = source_of(url)
    cause = redact_text(" ".join(str(error).split())[:400])
    return StoreUnavailable(
        f"the reliability store at {shown(resolved)} ({where}) cannot be used: {type(error).__name__}: "
        f"{cause}. Fix: check that the database is running and reachable, that the user may create tables "
        f"in it, and that {where} is right (e.g. {EXAMPLES}); then launch the run again."
    )
