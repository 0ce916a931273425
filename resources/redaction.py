"""One redaction layer for every place the framework writes: no secret reaches a log, metadata, the
reliability store, an alert, a snapshot or an exception message.

Providers echo keys back in places nobody plans for (an error *code* such as ``rate_limit_sk-...``, a
refusal, a model answer, a response header), so redacting where a value is *read* always misses one. This
module is applied where values are *written* instead:

- the store: a SQLAlchemy ``before_cursor_execute`` hook rewrites every statement's parameters
  (``install_on_engine``), so breaker and limiter reasons, attempts, dead letters, the cache, quarantine,
  incidents and the alert outbox are covered by construction;
- logs: a ``logging.Filter`` on Dagster's ``dagster.builtin`` logger (what ``get_dagster_logger()``
  returns) and on every logger the framework obtains through :func:`redacted_logger`;
- metadata, check descriptions, ``Failure`` texts, alert payloads, snapshots and model answers: through
  :func:`redact` / :func:`redact_metadata` at the call that hands them to Dagster or to a file.
  ``tests/test_redaction.py`` walks the package's source and fails when a sink call skips them.

The secrets it knows: values registered by resources (API keys, API tokens, store URL passwords: any
field whose name says it is a secret), the environment variables behind every ``EnvVar`` a resource of
the code location holds (:func:`register_env`), and, so that a CLI or a sensor that never built those
resources is covered too, every environment variable whose name ends in KEY, TOKEN, SECRET, PASSWORD or
CREDENTIAL(S), the ``RELIABILITY_ALERT_*_URL`` channels, and passwords inside URLs. Known shapes (OpenAI
``sk-`` keys, ``Bearer`` tokens, ``user:password@`` in URLs) are masked even when nobody registered them.
No library does this for arbitrary sinks (logging-redactor and friends cover log records only), hence
hand-written.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote, quote_plus

T = TypeVar("T")
P = ParamSpec("P")
MASK = "***"
#: Shorter values are not treated as secrets: masking "test" or "none" everywhere would garble text.
MIN_SECRET_LEN = 6
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$", re.IGNORECASE)
_SECRET_FIELD = re.compile(r"(api_key|token|secret|password|passwd|credential)", re.IGNORECASE)
_ALERT_ENV = re.compile(r"^RELIABILITY_ALERT_[A-Z]+_URL$")
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)(?P<password>[^@/\s]+)(?=@)")
_SHAPES = (
    re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_\-]{16,}"),  # OpenAI-style keys (sk-..., sk-proj-...)
    re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/\-]{8,}=*"),  # an Authorization header's token
)

_lock = threading.Lock()
_registered: set[str] = set()
_env_names: set[str] = set()
#: Bumped when a registration adds something: a pinned list older than it is stale.
_version = 0
_pinned: contextvars.ContextVar[tuple[int, list[str]] | None] = contextvars.ContextVar(
    "reliability_redaction_pinned", default=None
)


def register(*values: str | None) -> None:
    """Treat these values as secrets in this process (empty and short values are ignored)."""
    global _version
    with _lock:
        new = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LEN} - _registered
        if new:
            _registered.update(new)
            _version += 1


def register_env(*names: str) -> None:
    """Treat the value of these environment variables as secrets, whatever they hold when redacting."""
    global _version
    with _lock:
        if set(names) - _env_names:
            _env_names.update(names)
            _version += 1


def register_fields(config: Any) -> None:
    """Register the secret-looking fields of a resource or config object (recursively): ``api_key``,
    ``token``, ``password``, ... and passwords inside any URL-valued field."""
    for name, value in _fields(config):
        if isinstance(value, str):
            if _SECRET_FIELD.search(name):
                register(value)
            register(*_url_passwords(value))
        elif isinstance(value, (list, tuple)):
            for item in value:
                if hasattr(type(item), "model_fields") or isinstance(item, Mapping):
                    register_fields(item)
        elif hasattr(type(value), "model_fields") or isinstance(value, Mapping):
            register_fields(value)


def register_resources(resources: Mapping[str, Any]) -> None:
    """Register what the code location's resources hold: the variables behind every ``EnvVar`` (they are
    resolved only in the run, so their names are what is known here) and literal secret fields."""
    from dagster import EnvVar

    def walk(value: Any) -> None:
        if isinstance(value, EnvVar):
            register_env(str(value.env_var_name))
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif hasattr(type(value), "model_fields"):
            for _, field_value in _fields(value):
                walk(field_value)

    for resource in resources.values():
        walk(resource)
        register_fields(resource)


def secrets() -> list[str]:
    """Every secret form known now, longest first (so a key is masked before a shorter key inside it)."""
    pinned = _pinned.get()
    if pinned is not None and pinned[0] == _version:
        return pinned[1]
    return _scan()


def with_secrets_pinned(fn: Callable[P, T]) -> Callable[P, T]:
    """Run ``fn`` as one unit of work for redaction: the environment is read once, when it starts, not at
    each of the dozens of writes one LLM request makes (every store statement is redacted: ~0.5 ms a scan).
    A registration during the call drops the pin; a variable exported during it is seen from the next."""

    @functools.wraps(fn)
    def pinned(*args: P.args, **kwargs: P.kwargs) -> T:
        version = _version
        token = _pinned.set((version, _scan()))
        try:
            return fn(*args, **kwargs)
        finally:
            _pinned.reset(token)

    return pinned


def _scan() -> list[str]:
    with _lock:
        values = set(_registered)
        names = set(_env_names)
    for name, value in os.environ.items():
        if not value:
            continue
        secret_name = name in names or _SECRET_ENV.search(name) or _ALERT_ENV.match(name)
        if secret_name and len(value) >= MIN_SECRET_LEN:
            values.add(value)
        values.update(_url_passwords(value))
    forms = {form for value in values for form in _forms(value)}
    return sorted(forms, key=len, reverse=True)


def redact_text(text: str, known: Iterable[str] | None = None) -> str:
    for secret in secrets() if known is None else known:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _URL_PASSWORD.sub(lambda m: m["head"] + (m["password"] if m["password"] == MASK else MASK), text)
    for shape in _SHAPES:
        text = shape.sub(MASK, text)
    return text


def redact_serialized(text: str) -> str:
    """A whole serialized document (a snapshot's JSON): one C-speed ``replace`` per known secret form over
    the text, instead of walking millions of values; the JSON-escaped form keeps the document valid."""
    for secret in secrets():
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact(value: T) -> T:
    """``value`` with every known secret masked: strings, and strings inside dicts, lists, tuples and
    Dagster metadata values (text, markdown, JSON, URL, path, table records)."""
    return _redact(value, secrets())


def redact_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Asset or check metadata, redacted: what goes to ``MaterializeResult``, ``Output``,
    ``AssetCheckResult`` or ``add_output_metadata``."""
    known = secrets()
    return {str(key): _redact(value, known) for key, value in metadata.items()}


def _redact(value: Any, known: list[str]) -> Any:
    if isinstance(value, str):
        return redact_text(value, known)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {_redact(k, known): _redact(v, known) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(item, known) for item in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_redact(item, known) for item in value)
    return _redact_metadata_value(value, known)


def _redact_metadata_value(value: Any, known: list[str]) -> Any:
    """Dagster's text-carrying metadata values, rebuilt through their public constructors."""
    from dagster import (
        JsonMetadataValue,
        MarkdownMetadataValue,
        MetadataValue,
        PathMetadataValue,
        TableMetadataValue,
        TableRecord,
        TextMetadataValue,
        UrlMetadataValue,
    )

    if isinstance(value, TextMetadataValue):
        return MetadataValue.text(redact_text(value.text or "", known))
    if isinstance(value, MarkdownMetadataValue):
        return MetadataValue.md(redact_text(value.md_str or "", known))
    if isinstance(value, UrlMetadataValue):
        return MetadataValue.url(redact_text(value.url or "", known))
    if isinstance(value, PathMetadataValue):
        return MetadataValue.path(redact_text(str(value.path), known))
    if isinstance(value, JsonMetadataValue):
        return MetadataValue.json(_redact(value.data, known))
    if isinstance(value, TableMetadataValue):
        records = [TableRecord(_redact(dict(r.data), known)) for r in value.records]
        return MetadataValue.table(records, schema=value.schema)
    return value


# --- exceptions ------------------------------------------------------------------------------------


class RedactedMessage:
    """Mixin for the framework's exceptions (first base): an exception's text reaches the event log, the
    compute logs and every stack trace of its chain, so its arguments are masked when it is built."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        known = secrets()
        args = tuple(_redact(a, known) if isinstance(a, str) else a for a in args)
        kwargs = {k: _redact(v, known) if isinstance(v, str) else v for k, v in kwargs.items()}
        super().__init__(*args, **kwargs)


# --- logging ---------------------------------------------------------------------------------------


class RedactingFilter(logging.Filter):
    """Formats the record's message once, redacted, so neither a handler nor the Dagster event log sees
    the raw text (arguments included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must still be logged, redacted
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact_text(message), None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


_FILTER = RedactingFilter()


def redacted_logger(logger: logging.Logger | logging.LoggerAdapter | str) -> Any:
    """``logger`` (or the logger of that name) with the redacting filter: how framework code gets every
    logger, ``context.log`` included, so nothing it logs skips redaction."""
    target = logging.getLogger(logger) if isinstance(logger, str) else logger
    inner = target.logger if isinstance(target, logging.LoggerAdapter) else target
    if _FILTER not in inner.filters:
        inner.addFilter(_FILTER)
    return target


def install_on_engine(engine: Any) -> None:
    """Redact every statement's parameters before they reach the database: the one place all store
    writes pass, whichever table and module they come from."""
    from sqlalchemy import event

    if getattr(engine, "_reliability_redacting", False):
        return

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _redact_parameters(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> tuple[str, Any]:
        return statement, _redact(parameters, secrets())

    engine._reliability_redacting = True


# --- helpers ---------------------------------------------------------------------------------------


def _fields(config: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(config, Mapping):
        return [(str(k), v) for k, v in config.items()]
    names = getattr(type(config), "model_fields", {})
    return [(name, getattr(config, name, None)) for name in names]


def _url_passwords(value: str) -> list[str]:
    if "://" not in value:
        return []
    return [m["password"] for m in _URL_PASSWORD.finditer(value) if len(m["password"]) >= 3]


def _forms(secret: str) -> set[str]:
    """The spellings a secret takes on the way to a sink: raw, URL-quoted, JSON-escaped."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    return {form for form in forms if len(form) >= 3}


# Everything ``get_dagster_logger()`` returns (the resources' event lines included) is redacted.
redacted_logger(logging.getLogger("dagster.builtin"))

__all__ = [
    "MASK",
    "RedactedMessage",
    "RedactingFilter",
    "install_on_engine",
    "redact",
    "redact_metadata",
    "redact_serialized",
    "redact_text",
    "redacted_logger",
    "register",
    "register_env",
    "register_fields",
    "register_resources",
]
