"""A small Launchpad: resources whose internals a run rarely changes stop pre-filling the Launchpad.

The Launchpad pre-fills every config field that has a default (GraphQL `runConfigSchemaOrError {
rootDefaultYaml }`, computed by `dagster._core.snap.snap_to_yaml.default_values_yaml_from_type_snap`).
A Pythonic resource instance turns each value it was built with into such a default, so the LLM's three
endpoints alone pre-filled about 60 lines, and the source's scenario, seed and size came last.

`quiet_resources` wraps each such resource in Dagster's `configured` (a config function over the same
resource): its schema keeps every field, type and description, but none is required and none has a
default, so nothing is pre-filled; the function lays what the run gives over the values the resource was
built with. So a run can still set, say, `resources.llm.config.deadline_s`; Dagster still resolves
`EnvVar` secrets when the run starts (the `{"env": NAME}` form goes through the original schema, and is
never written into the Launchpad); the preflight still reads the original instances.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: The values a user comes to the Launchpad to set, per resource: still pre-filled. (The generator's
#: scenario, seed and size; the HTTP API source has none of them, so nothing of it is pre-filled.)
SHOWN: Mapping[str, tuple[str, ...]] = {"source": ("scenario", "seed", "size")}


def quiet_resources(
    resources: Mapping[str, Any], *, shown: Mapping[str, Iterable[str]] = SHOWN
) -> dict[str, Any]:
    """`resources` with each configurable resource wrapped by `quiet`, keeping the `shown` fields."""
    return {key: quiet(value, keep=tuple(shown.get(key, ()))) for key, value in resources.items()}


def quiet(resource: Any, *, keep: Iterable[str] = ()) -> Any:
    """The resource definition of `resource` (a Pythonic resource or IO manager, or a definition) with the
    same config schema minus its defaults, but for the fields in `keep`; a resource whose every field is
    kept, or a plain object, is returned as is."""
    from dagster import Field, ResourceDefinition, Shape
    from dagster._config.pythonic_config import ConfigurableResourceFactory

    definition: ResourceDefinition
    if isinstance(resource, ConfigurableResourceFactory):
        definition = resource.get_resource_definition()
    elif isinstance(resource, ResourceDefinition):
        definition = resource
    else:
        return resource
    field = definition.config_schema.as_field()
    shape = field.config_type
    fields = getattr(shape, "fields", None)
    kept = set(keep)
    if not fields:
        return definition  # nothing to configure, nothing pre-filled
    if set(fields) <= kept:
        return resource  # everything it has is worth pre-filling
    built_with = field.default_value if field.default_provided else {}
    schema = Shape(
        {
            name: inner
            if name in kept
            else Field(inner.config_type, is_required=False, description=inner.description)
            for name, inner in fields.items()
        },
        description=getattr(shape, "description", None),
    )
    # Dagster's IO managers document themselves in reStructuredText: no literal double backticks in the UI.
    description = (definition.description or "").replace("``", "`") or None
    return definition.configured(
        lambda given: _over(built_with, given or {}), config_schema=schema, description=description
    )


def _over(base: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """`given` laid over `base`, nested mappings merged key by key (a list is replaced whole)."""
    merged = dict(base)
    for key, value in given.items():
        below = merged.get(key)
        merged[key] = (
            _over(below, value) if isinstance(value, Mapping) and isinstance(below, Mapping) else value
        )
    return merged


def default_yaml(job: Any) -> str:
    """The YAML the Launchpad pre-fills for `job`, computed as the webserver computes it."""
    from dagster._core.snap.snap_to_yaml import default_values_yaml_from_type_snap

    snapshot = job.get_job_snapshot()
    schema = snapshot.config_schema_snapshot
    (mode,) = snapshot.mode_def_snaps
    root = schema.get_config_snap(mode.root_config_key)
    return str(default_values_yaml_from_type_snap(schema, root))
