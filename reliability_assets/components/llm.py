"""A ``ResilientLLM`` resource and its tiers, declared in ``defs.yaml``.

Secrets stay out of the YAML and out of the definitions: a tier's ``api_key`` must be an environment
reference, ``"{{ env.OPENAI_API_KEY }}"`` (or ``env('OPENAI_API_KEY')``), and becomes
``dg.EnvVar("OPENAI_API_KEY")``, which Dagster reads in the run's process and shows by name in the UI. A
literal key fails the load (it would be committed with the file). Dagster's own ``{{ env.X }}`` renders the
value at load time; for ``api_key`` this component keeps the reference instead, so the key is never in the
resource's config, the component's repr or any metadata.

A key whose variable is not set when the definitions load leaves its tier without a key: the tier is
skipped, as ``ResilientLLM`` skips any unconfigured tier, instead of failing every run that would start it.
"""

import os
import re
from dataclasses import dataclass, field
from typing import Annotated, Any

import dagster as dg
from dagster.components import (
    Component,
    ComponentLoadContext,
    ResolutionContext,
    Resolvable,
    Resolver,
    scaffold_with,
)

from reliability_assets.components._scaffold import TemplateScaffolder
from reliability_assets.resource_keys import LLM_KEY
from reliability_assets.resources.redaction import RedactedMessage

#: ``{{ env.NAME }}`` or ``{{ env('NAME') }}``: the only accepted form of a key in YAML.
_ENV_REFERENCE = re.compile(r"""^\s*\{\{\s*env(?:\.(\w+)|\(\s*['"](\w+)['"]\s*\))\s*\}\}\s*$""")


class SecretInYamlError(RedactedMessage, ValueError):
    """A literal secret in ``defs.yaml``; the message never repeats it."""


def _resolve_api_key(context: ResolutionContext, value: Any) -> dg.EnvVar | None:
    """The raw YAML value, before Dagster renders it: only an environment reference is accepted."""
    if value is None:
        return None
    match = _ENV_REFERENCE.match(value) if isinstance(value, str) else None
    if match is None:
        raise SecretInYamlError(
            "api_key must name an environment variable, e.g. api_key: '{{ env.OPENAI_API_KEY }}': a key "
            "written in defs.yaml would be committed with it (the value is not repeated here)"
        )
    name = match[1] or match[2]
    return dg.EnvVar(name) if os.environ.get(name) else None


ApiKey = Annotated[
    dg.EnvVar | None,
    Resolver(
        _resolve_api_key,
        model_field_type=str | None,
        inject_before_resolve=False,  # the reference, not the value Dagster would render
        description="'{{ env.NAME }}': the variable holding the key (kept as dg.EnvVar, read in the run). "
        "Unset: the tier is skipped.",
        examples=["{{ env.OPENAI_API_KEY }}"],
    ),
]


def _doc(text: str, **kwargs: Any) -> Any:
    return Resolver.default(description=text, **kwargs)


@dataclass
class LLMTier(Resolvable):
    """One OpenAI-compatible endpoint (``LLMEndpoint``), tried in the order listed."""

    name: Annotated[str, _doc("Tier name shown in metadata, e.g. primary, secondary, local.")]
    # ``model`` in YAML; not the attribute name, which would shadow ``Resolvable.model()``.
    model_name: Annotated[
        str,
        Resolver(
            lambda context, value: context.resolve_value(value, as_type=str),
            model_field_name="model",
            model_field_type=str,
            description="The model (or Azure deployment) name.",
        ),
    ]
    base_url: Annotated[
        str | None, _doc("e.g. https://api.openai.com/v1 or '{{ env.LLM_URL }}'; empty: tier skipped.")
    ] = None
    api_key: ApiKey = None
    require_api_key: Annotated[bool, _doc("false for local servers that need no key.")] = True
    timeout_s: Annotated[float, _doc("Per attempt; capped by the time left of the deadline.")] = 30.0
    max_attempts: int = 3
    context_window: int = 128_000
    input_price_per_1k: float = 0.0
    output_price_per_1k: float = 0.0
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    json_schema: Annotated[bool, _doc("Strict json_schema output; false: JSON parsed from the text.")] = True


class _LLMScaffolder(TemplateScaffolder):
    template = f"""\
  # The resource key: {LLM_KEY} is the user's ResilientLLM (the dead-letter replay job uses it).
  key: {LLM_KEY}
  # One deadline per request, across all tiers.
  deadline_s: 60
  tiers:
    - name: primary
      model: gpt-4o-mini
      base_url: https://api.openai.com/v1
      # Never the key itself: the variable that holds it (unset: the tier is skipped).
      api_key: "{{{{ env.OPENAI_API_KEY }}}}"
    - name: local
      model: llama3.1
      base_url: http://127.0.0.1:11434/v1
      require_api_key: false
      json_schema: false
"""
    attributes = {"key": LLM_KEY, "tiers": [{"name": "primary", "model": "gpt-4o-mini"}]}  # noqa: RUF012


@scaffold_with(_LLMScaffolder)
@dataclass
class ResilientLLMComponent(Component, Resolvable):
    """A ``ResilientLLM`` resource: ordered tiers, then the cache, the asset's deterministic answer, and
    human review, under one deadline."""

    tiers: Annotated[list[LLMTier], _doc("The endpoints, in the order they are tried.")]
    key: Annotated[str, _doc("The resource key assets and jobs ask for.")] = LLM_KEY
    deadline_s: Annotated[float, _doc("One deadline per request, across all tiers (seconds).")] = 90.0
    max_tokens: int = 800
    max_reasks: Annotated[int, _doc("Re-asks with the validation error, per tier.")] = 1
    max_cost_usd_per_call: Annotated[
        float | None, _doc("Skip a tier whose worst-case cost exceeds this.")
    ] = None
    chaos: Annotated[str, _doc("Fault injection: off, llm_primary_down or llm_down.")] = "off"
    options: Annotated[
        dict[str, Any], _doc("Other ResilientLLM fields, e.g. breaker settings (sliding_window_size, ...).")
    ] = field(default_factory=dict)

    def build_defs(self, context: ComponentLoadContext) -> dg.Definitions:
        return dg.Definitions(resources={self.key: self.resource()})

    def resource(self) -> Any:
        """The ``ResilientLLM``; a wrong value fails here, naming the tier and the field."""
        from pydantic import ValidationError

        from reliability_assets import LLMEndpoint, ResilientLLM

        names = [t.name for t in self.tiers]
        if duplicated := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"tiers: tier name(s) {duplicated} used twice; each tier needs its own name")
        endpoints = []
        for i, tier in enumerate(self.tiers):
            values = {k: v for k, v in vars(tier).items() if v is not None}
            values["model"] = values.pop("model_name")
            try:
                endpoints.append(LLMEndpoint(**values))
            except ValidationError as error:
                raise ValueError(f"tiers[{i}] ({tier.name}): {_fields(error)}") from None
        options = {
            "deadline_s": self.deadline_s,
            "max_tokens": self.max_tokens,
            "max_reasks": self.max_reasks,
            "max_cost_usd_per_call": self.max_cost_usd_per_call,
            "chaos": self.chaos,
            **self.options,
        }
        try:
            return ResilientLLM(endpoints=endpoints, **options)
        except (ValidationError, ValueError) as error:
            detail = _fields(error) if isinstance(error, ValidationError) else str(error)
            raise ValueError(f"ResilientLLMComponent: {detail}") from None


def _fields(error: Any) -> str:
    """Each problem with its field, without the input (which may be a secret)."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in error.errors())
