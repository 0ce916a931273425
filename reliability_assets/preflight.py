"""Checks a run must pass before any of its steps starts: the Launchpad's resource values against the
constraints Dagster's config schema cannot express, the ``reliability/chaos`` tag, and the reliability
store.

Dagster checks run config against the schema at launch: types, required fields and enums. A pydantic
constraint such as ``deadline_s > 0`` or ``size >= 50`` is only applied when a step builds the resource,
so ``llm.deadline_s: -5`` used to fail the summary step after every upstream asset had run, three times
under the RetryPolicy. Dagster has no run-start hook, but the executor is the run's first user code: this
one (``preflight_executor``, Dagster's ``multi_or_in_process_executor`` with a check in front) refuses the
run before it starts a step, with every problem at once, each naming the field and the fix.

It also picks the default: ``in_process``. A run launched from the UI then pays the interpreter and the
imports once, like the CLI, instead of once per step (3-6 s a step on 2 loaded cores: the reference job
took 3-5 min from the UI, about a minute in one process; ``benchmarks/ui_run.py``). Pools still hold:
Dagster's in-process executor claims a pool slot for each step in the instance before running it
(``InstanceConcurrencyContext`` in ``dagster/_core/executor/in_process.py``, claimed in
``ActiveExecution.get_next_step``), the same path the multiprocess executor takes, so a step waits while
another run holds its pool. ``multiprocess`` stays one Launchpad edit away for step isolation, best with
``start_method: {forkserver: {preload_modules: [...]}}`` (``multiprocess_forkserver``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

from dagster import Executor, ExecutorDefinition, Field, multi_or_in_process_executor

from reliability_assets.resources.redaction import RedactedMessage, redact_text
from reliability_assets.tags import CHAOS_TAG

if TYPE_CHECKING:
    from dagster import InitExecutorContext

#: The Launchpad's default execution: every step in the run's process.
IN_PROCESS: dict[str, Any] = {"in_process": {}}


def multiprocess_forkserver(*code_location_modules: str) -> dict[str, Any]:
    """The Launchpad's ``execution.config`` for step isolation without a fresh interpreter per step: step
    processes fork from a server that has imported the code location and the heavy libraries once."""
    preload = [*code_location_modules, "pandas", "great_expectations", "evidently"]
    return {"multiprocess": {"start_method": {"forkserver": {"preload_modules": preload}}}}


class PreflightError(RedactedMessage, Exception):
    """The run was refused before any step: the message lists each problem with its fix."""


def resource_problems(resources: Mapping[str, Any], run_config: Mapping[str, Any]) -> list[str]:
    """Each Launchpad value under ``resources.<key>.config`` that the resource's own model rejects."""
    from pydantic import TypeAdapter, ValidationError

    problems = []
    given = run_config.get("resources") or {}
    for key, section in given.items():
        resource = resources.get(key)
        fields = getattr(type(resource), "model_fields", None)
        config = (section or {}).get("config") if isinstance(section, Mapping) else None
        if not fields or not isinstance(config, Mapping):
            continue
        for name, value in config.items():
            field = fields.get(name)
            if field is None or (isinstance(field.annotation, type) and issubclass(field.annotation, Enum)):
                continue  # Dagster's schema already rejects unknown fields and enum values at launch
            annotated: Any = field.annotation  # its type, with its constraints when it has any
            if field.metadata:
                annotated = Annotated[(field.annotation, *field.metadata)]
            adapter: TypeAdapter[Any] = TypeAdapter(annotated)
            try:
                adapter.validate_python(_resolve_env(value))
            except ValidationError as error:
                for detail in error.errors():
                    where = ".".join(str(p) for p in (key, "config", name, *detail["loc"]))
                    default = "" if field.is_required() else f" (default {field.get_default()!r})"
                    problems.append(
                        f"resources.{where} = {_short(detail.get('input'))}: {detail['msg']}. Fix: change "
                        f"it in the Launchpad, or remove it to use the code location's value{default}."
                    )
    return problems


def chaos_problems(tags: Mapping[str, str]) -> list[str]:
    from reliability_assets.resources.chaos import check_chaos

    value = tags.get(CHAOS_TAG)
    try:
        check_chaos(value or "", where=f"run tag {CHAOS_TAG}")
    except ValueError as error:
        return [str(error)]
    return []


def _store_urls(resources: Mapping[str, Any]) -> list[str | None]:
    """The distinct store URLs of the resources that keep state in the store (None: the default)."""
    urls: list[str | None] = []
    for resource in resources.values():
        if "store_url" in getattr(type(resource), "model_fields", {}):
            url = _resolve_env(resource.store_url)
            if url not in urls:
                urls.append(url)
    return urls


def check_store_urls(resources: Mapping[str, Any]) -> None:
    """When the code location loads: every store URL parses (no connection, no SQLAlchemy import)."""
    from reliability_assets.resources.store_url import check_store_url

    for url in _store_urls(resources):
        check_store_url(url)


def store_problems(resources: Mapping[str, Any]) -> list[str]:
    """Open every store the resources use (each URL once): a wrong URL or a database that does not answer
    stops the run here, not in the first step that happens to need it."""
    from reliability_assets.resources.store import ReliabilityStore

    problems = []
    for url in _store_urls(resources):
        try:
            ReliabilityStore(url)
        except Exception as error:  # StoreConfigError or StoreUnavailable: both say what to fix
            problems.append(getattr(error, "description", None) or str(error))
    return problems


def preflight_executor(
    resources: Mapping[str, Any], *, default: Mapping[str, Any] = IN_PROCESS
) -> ExecutorDefinition:
    """Dagster's default executor (same config: ``multiprocess`` or ``in_process``, ``default`` when the
    run config names neither) that first runs the checks above against the run and refuses it, before any
    step, if one fails."""
    base = multi_or_in_process_executor
    assert base.executor_creation_fn is not None

    def create(init_context: InitExecutorContext) -> Executor:
        assert base.executor_creation_fn is not None
        return _PreflightExecutor(base.executor_creation_fn(init_context), resources)

    return ExecutorDefinition(
        name="preflight_executor",
        config_schema=Field(base.config_schema.as_field().config_type, default_value=dict(default)),
        requirements=base.get_requirements,
        executor_creation_fn=create,
        description="in_process by default (one process, as fast as the CLI) or multiprocess (a process "
        "per step; start_method forkserver preloads the code location), after checks that refuse a run "
        "whose configuration cannot work before any step starts.",
    )


class _PreflightExecutor(Executor):
    def __init__(self, inner: Executor, resources: Mapping[str, Any]) -> None:
        self._inner = inner
        self._resources = resources

    @property
    def retries(self) -> Any:
        return self._inner.retries

    @property
    def step_dependency_config(self) -> Any:
        return self._inner.step_dependency_config

    def execute(self, plan_context: Any, execution_plan: Any) -> Iterator[Any]:
        problems = [
            *resource_problems(self._resources, plan_context.run_config),
            *chaos_problems(plan_context.dagster_run.tags),
            *store_problems(self._resources),
        ]
        if problems:
            raise PreflightError(
                redact_text(
                    f"run refused before any step started ({len(problems)} problem(s)):\n  - "
                    + "\n  - ".join(problems)
                )
            )
        yield from self._inner.execute(plan_context, execution_plan)


def _resolve_env(value: Any) -> Any:
    """Launchpad values as the resource will see them: ``{"env": NAME}`` is the variable's value."""
    if isinstance(value, Mapping):
        if set(value) == {"env"}:
            return os.environ.get(str(value["env"]))
        return {k: _resolve_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env(v) for v in value]
    from dagster import EnvVar

    if isinstance(value, EnvVar):
        return os.environ.get(value.env_var_name)
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
