"""OpenTelemetry traces of what the resilient resources do: a span per asset materialization, per LLM call,
per attempt (LLM or HTTP) and per API pull, exported with OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT``
(or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set.

Off, it costs nothing: no OpenTelemetry module is imported (the code location loads as fast as before) and
:func:`span` yields a shared no-op. On, the SDK is set up on the first span, with its own provider (the
standard ``OTEL_*`` variables configure the exporter and ``OTEL_SERVICE_NAME`` the service).

Every span carries ``dagster.run_id`` and ``dagster.asset_key`` when it starts inside a step, and a trace's
id *is* the run id (``run_id.replace("-", "")``), so an alert's run id opens its trace. Every attribute
value goes through the redaction layer; prompt and answer text are recorded only when
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` is ``true`` (or ``span_only``/``span_and_event``).

The materialization span: :func:`materialization` (a context manager and decorator) spans the asset body
exactly. Without it, the first traced call of a step opens one, and it covers the step's traced work: it
ends at the end of its last child, once the step is over (the resource's teardown, the next step of the
run in this process, or process exit). What the LLM and API resources put on their spans (the GenAI
semantic conventions, ``reliability.*``) is in ``resources.tracing_attributes``.
"""

from __future__ import annotations

import atexit
import os
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from reliability_assets.resources.redaction import redact_text, secrets

ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
CAPTURE_VAR = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
SERVICE_NAME = "reliability-assets"
#: A reason or an error text on a span: enough to read, bounded like the dead-letter queue's.
MAX_TEXT = 300
#: A collector that is down costs a step process at most this at exit (``OTEL_EXPORTER_OTLP_TIMEOUT`` wins).
EXPORT_TIMEOUT_S = 3.0

_lock = threading.RLock()
_tracer: Any = None  # the SDK tracer, once set up
_provider: Any = None


# --- setup ------------------------------------------------------------------------------------------


def enabled() -> bool:
    """Whether spans are recorded: set up already, or an OTLP endpoint configured (and the SDK not
    disabled by ``OTEL_SDK_DISABLED``)."""
    if _tracer is not None:
        return True
    if not (os.environ.get(ENDPOINT_VARS[0]) or os.environ.get(ENDPOINT_VARS[1])):
        return False
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() != "true"


def capture_content() -> bool:
    """Prompt and answer text on spans: only when the user turned it on."""
    value = os.environ.get(CAPTURE_VAR, "").strip().lower()
    return value in ("true", "1", "span_only", "span_and_event")


def _get_tracer() -> Any:
    if _tracer is not None:
        return _tracer
    if not enabled():
        return None
    with _lock:
        if _tracer is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            _install(BatchSpanProcessor(OTLPSpanExporter(timeout=_export_timeout())))
        return _tracer


def _export_timeout() -> float | None:
    """The exporter's time per export, retries included: the user's, else EXPORT_TIMEOUT_S (the SDK's
    10 s default would hold every step process that much at exit while the collector is down)."""
    names = ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
    return None if any(os.environ.get(name) for name in names) else EXPORT_TIMEOUT_S


def _install(processor: Any) -> Any:
    """A provider of our own with ``processor``; trace ids are run ids (see ``_RunTraceIds``)."""
    global _tracer, _provider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class _RunTraceIds(RandomIdGenerator):
        def generate_trace_id(self) -> int:
            return _root_trace_id.value or super().generate_trace_id()

    name = os.environ.get("OTEL_SERVICE_NAME") or SERVICE_NAME
    provider = TracerProvider(
        resource=Resource.create({"service.name": name}), id_generator=_RunTraceIds(), shutdown_on_exit=False
    )
    provider.add_span_processor(processor)
    _tracer, _provider = provider.get_tracer("reliability_assets"), provider
    if not _hooks_registered:
        _register_exit_hooks()
    return provider


_hooks_registered = False


def _register_exit_hooks() -> None:
    """Spans are flushed at exit: atexit for a normal exit, and a multiprocessing finalizer for a step
    subprocess (multiprocessing's fork and forkserver children leave through ``os._exit``, skipping
    atexit, after running these finalizers)."""
    global _hooks_registered
    import multiprocessing.util

    atexit.register(shutdown)
    multiprocessing.util.Finalize(None, shutdown, exitpriority=100)
    _hooks_registered = True


class _RootTraceId(threading.local):
    value: int | None = None


_root_trace_id = _RootTraceId()


@contextmanager
def exporting_to(exporter: Any) -> Iterator[Any]:
    """Record spans into ``exporter`` synchronously, whatever the environment says (tests give an
    ``InMemorySpanExporter``); the previous setup is back afterwards. Yields the provider."""
    global _tracer, _provider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    with _lock:
        saved = _tracer, _provider
        provider = _install(SimpleSpanProcessor(exporter))
    try:
        yield provider
    finally:
        finish()
        with _lock:
            _tracer, _provider = saved


def finish(run_id: str | None = None) -> None:
    """End the open materialization spans (of ``run_id``, or all). Called at a resource's teardown: the end
    of a step in a step process, of the run in the in-process executor. Nothing waits on the collector
    here: spans are exported in the background, and at exit by :func:`shutdown`."""
    if _provider is None:
        return
    for step in _open_steps(run_id):
        step.close()


def shutdown() -> None:
    """Export what is pending and stop (at process exit; once, whichever exit hook comes first)."""
    global _tracer, _provider
    if _provider is None:
        return
    finish()
    with _lock:
        provider, _tracer, _provider = _provider, None, None
    provider.shutdown()


# --- spans ------------------------------------------------------------------------------------------


class Span:
    """What a block can add to its span; None is left out. The values are redacted once, when the span
    ends: against the secrets known then (a resource registers its keys during the call), at the cost of
    one ``secrets()`` per span. Without an SDK span (tracing off) every call is a no-op."""

    __slots__ = ("_pending", "_span", "failed")

    def __init__(self, span: Any = None, attributes: Mapping[str, Any] | None = None) -> None:
        self._span, self._pending, self.failed = span, dict(attributes or {}), False

    @property
    def recording(self) -> bool:
        return self._span is not None

    def set(self, key: str, value: Any) -> None:
        if self._span is not None and value is not None:
            self._pending[key] = value

    def end(self, end_time: int | None = None) -> None:
        self._span.set_attributes(_cleaned(self._pending, secrets()))
        self._span.end(end_time=end_time)

    def update(self, attributes: Mapping[str, Any]) -> None:
        for key, value in attributes.items():
            self.set(key, value)

    def fail(self, error_type: str, **reliability: Any) -> None:
        """The operation ended in error: ``error.type`` (low cardinality) and ERROR status."""
        if self._span is None:
            return
        from opentelemetry.trace import Status, StatusCode

        self.failed = True
        self.set("error.type", error_type)
        self.update({f"reliability.{key}": value for key, value in reliability.items()})
        self._span.set_status(Status(StatusCode.ERROR, redact_text(error_type)))


NO_SPAN = Span()


@contextmanager
def span(name: str, attributes: Mapping[str, Any] | None = None, *, kind: str = "internal") -> Iterator[Span]:
    """A span around the block, a child of the current span, else of the step's materialization span.
    Carries the Dagster run and asset of the step. An exception escaping the block sets ``error.type`` to
    its class name (its message is never recorded: it may hold a prompt)."""
    tracer = _get_tracer()
    if tracer is None:
        yield NO_SPAN
        return
    from opentelemetry import context, trace

    step = _current_step()
    parent = None
    if not trace.get_current_span().get_span_context().is_valid and step is not None:
        step = _opened(step, tracer)
        parent = trace.set_span_in_context(step.span)
    otel_kind = trace.SpanKind.CLIENT if kind == "client" else trace.SpanKind.INTERNAL
    started = tracer.start_span(name, context=parent, kind=otel_kind, record_exception=False)
    token = context.attach(trace.set_span_in_context(started))
    handle = Span(started, {**(step.attributes if step else {}), **(attributes or {})})
    try:
        yield handle
    except BaseException as error:
        if not handle.failed:
            handle.fail(type(error).__qualname__)
        raise
    finally:
        context.detach(token)
        handle.end()
        if step is not None:
            step.child_ended(started)


def _clean(value: Any, known: list[str]) -> Any:
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [
            _clean(v, known) if isinstance(v, bool | int | float) else redact_text(str(v), known)
            for v in value
        ]
    return redact_text(str(value), known)


def _cleaned(values: Mapping[str, Any], known: list[str]) -> dict[str, Any]:
    return {key: _clean(value, known) for key, value in values.items() if value is not None}


# --- the step: Dagster identity and its materialization span -------------------------------------------


class _Step:
    """A step of a run in this process, and the materialization span its traced calls hang under."""

    __slots__ = ("attributes", "explicit", "key", "last_end_ns", "name", "run_id", "span")

    def __init__(self, key: tuple[Any, ...], run_id: str, attributes: dict[str, Any], name: str) -> None:
        self.key, self.run_id, self.attributes, self.name = key, run_id, attributes, name
        self.span: Any = None
        self.explicit = False  # opened by materialization(): it ends with its block
        self.last_end_ns: int | None = None

    def child_ended(self, child: Any) -> None:
        end = getattr(child, "end_time", None)
        if end is not None and (self.last_end_ns is None or end > self.last_end_ns):
            self.last_end_ns = end

    def close(self) -> None:
        with _lock:
            _steps.pop(self.key, None)
            if self.span is not None and not self.explicit:
                self.span.end(end_time=self.last_end_ns)
                self.span = None


_steps: dict[tuple[Any, ...], _Step] = {}


def _opened(step: _Step, tracer: Any) -> _Step:
    """The step's materialization span, opened by its first traced call (once, whichever thread makes
    it). The in-process executor runs steps one by one: the run's previous step is over."""
    with _lock:
        if (known := _steps.get(step.key)) is not None:
            return known
        for other in _open_steps(step.run_id):
            if not other.explicit:
                other.close()
        step.span = _start_root(tracer, step.name, step.run_id, step.attributes)
        step.span.set_attribute("reliability.span_bounds", "traced_calls")
        _steps[step.key] = step
        return step


def _open_steps(run_id: str | None) -> list[_Step]:
    with _lock:
        pid = os.getpid()
        return [s for s in _steps.values() if s.key[0] == pid and run_id in (None, s.run_id)]


def _start_root(tracer: Any, name: str, run_id: str, attributes: Mapping[str, Any]) -> Any:
    """A root span whose trace id is the run id (a Dagster run id is a UUID: 128 bits, like a trace id)."""
    try:
        _root_trace_id.value = uuid.UUID(run_id).int
    except ValueError:
        _root_trace_id.value = None
    try:
        from opentelemetry import context

        return tracer.start_span(name, context=context.Context(), attributes=_cleaned(attributes, secrets()))
    finally:
        _root_trace_id.value = None


def _current_step() -> _Step | None:
    """The step running in this thread (Dagster's public ``OpExecutionContext.get()``), or None."""
    from dagster import DagsterInvariantViolationError, OpExecutionContext

    try:
        context = OpExecutionContext.get()
    except DagsterInvariantViolationError:
        return None
    key = (os.getpid(), context.run_id, str(context.op_handle), context.retry_number)
    with _lock:
        if (known := _steps.get(key)) is not None:
            return known
    assets = sorted(k.to_user_string() for k in context.selected_asset_keys)
    if not assets:
        assets = sorted({k.asset_key.to_user_string() for k in context.selected_asset_check_keys})
    attributes: dict[str, Any] = {
        "dagster.run_id": context.run_id,
        "dagster.job_name": context.job_name,
        "dagster.op": context.op_handle.name,
        "dagster.asset_key": ",".join(assets) or None,
        "dagster.partition_key": context.partition_key if context.has_partition_key else None,
        "dagster.retry_number": context.retry_number,
    }
    label = ",".join(assets) or context.op_handle.name
    return _Step(
        key, context.run_id, {k: v for k, v in attributes.items() if v is not None}, f"materialize {label}"
    )


@contextmanager
def materialization() -> Iterator[Span]:
    """The materialization span of the current step, exactly around the block: ``with materialization():``
    in an asset body, or ``@materialization()`` under ``@asset``. Without it, the step's first traced call
    opens one that spans the step's traced work only."""
    tracer = _get_tracer()
    step = _current_step() if tracer is not None else None
    if step is None:
        yield NO_SPAN
        return
    from opentelemetry import context, trace

    with _lock:
        step.explicit = True
        step.span = _start_root(tracer, step.name, step.run_id, step.attributes)
        step.span.set_attribute("reliability.span_bounds", "asset")
        _steps[step.key] = step
    token = context.attach(trace.set_span_in_context(step.span))
    handle = Span(step.span)
    try:
        yield handle
    except BaseException as error:
        handle.fail(type(error).__qualname__)
        raise
    finally:
        context.detach(token)
        handle.end()
        with _lock:
            _steps.pop(step.key, None)


__all__ = [
    "NO_SPAN",
    "Span",
    "capture_content",
    "enabled",
    "exporting_to",
    "finish",
    "materialization",
    "shutdown",
    "span",
]
