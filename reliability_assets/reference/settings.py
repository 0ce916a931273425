"""Environment settings, read once when the code location loads. Every variable is in the README.

The reference LLM (``reference_llm``) reads:
- ``OPENAI_API_KEY``: the key of the primary and secondary tiers; unset, both are skipped (offline).
- ``OPENAI_BASE_URL``: their OpenAI-compatible server (default https://api.openai.com/v1).
- ``RELIABILITY_LLM_PRIMARY_MODEL`` / ``RELIABILITY_LLM_SECONDARY_MODEL``: their models (default gpt-4o-mini
  / gpt-4o). Cost is counted at OpenAI's list price for those two; any other model is counted at $0.
- ``RELIABILITY_LLM_LOCAL_URL`` / ``RELIABILITY_LLM_LOCAL_MODEL``: a keyless local server (Ollama, vLLM).
- ``RELIABILITY_CHAOS``: fault injection for every run (llm_primary_down, llm_down); the run tag
  ``reliability/chaos`` overrides it per run.
With none set, every OpenAI tier is skipped and the deterministic template writes the summary. Offline,
``reliability_assets.testing.fake_openai.offline_llm_env(base_url)`` gives the variables that point the
primary and secondary tiers at the local fake server (``python -m reliability_assets.testing.fake_openai``,
models ``local-fake-primary`` and ``local-fake-secondary``), so chaos has a real tier to fail.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import EnvVar
from pydantic import BaseModel, Field, ValidationError

from reliability_assets import LLMEndpoint, RedactedMessage, ResilientAPI, ResilientLLM, dagster_home
from reliability_assets.reference.analytics.generator import Scenario
from reliability_assets.reference.analytics.raw_sources import ApiSource, RawSource, SyntheticSource


class SettingsError(RedactedMessage, ValueError):
    """A wrong environment variable: the message names the variable and the fix."""


ENV_PREFIX = "RELIABILITY_"


class Settings(BaseModel):
    """``RELIABILITY_<FIELD>`` variables. Scenario, seed and size are defaults of run config: the
    Launchpad overrides them per run. (pydantic-settings would do this too, at +0.1 s load time.)"""

    scenario: Scenario = Scenario.clean
    seed: int = Field(default=7, ge=0)
    size: int = Field(default=5_000, ge=50, le=5_000_000)
    duckdb_path: Path | None = None
    api_url: str | None = Field(default=None, description="Read customers and orders from this HTTP API.")


def load_settings() -> Settings:
    values = {
        name: os.environ[f"{ENV_PREFIX}{name.upper()}"]
        for name in Settings.model_fields
        if os.environ.get(f"{ENV_PREFIX}{name.upper()}")
    }
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0])
            variable = f"{ENV_PREFIX}{field.upper()}"
            default = Settings.model_fields[field].default
            problems.append(
                f"{variable}={os.environ.get(variable)!r}: {error['msg']}. Fix: set {variable} to a "
                f"valid value, or unset it to use the default ({getattr(default, 'value', default)!r})."
            )
        raise SettingsError("invalid environment:\n  " + "\n  ".join(problems)) from None


def duckdb_path() -> Path:
    return load_settings().duckdb_path or dagster_home() / "reliability.duckdb"


def artifacts_dir() -> Path:
    """Pickled non-table outputs (the model, the summary) live beside the DuckDB file."""
    return dagster_home() / "storage"


def _secret(name: str) -> EnvVar | None:
    """An ``EnvVar`` (resolved at run time, never shown in the UI) when set; None makes the tier skip."""
    return EnvVar(name) if os.environ.get(name) else None


def _chaos(variable: str, allowed: tuple[str, ...]) -> str:
    """A fault-injection variable, refused at load when it names no mode (a typo would inject nothing)."""
    from reliability_assets import check_chaos

    try:
        return check_chaos(os.environ.get(variable, ""), where=variable, allowed=allowed)
    except ValueError as error:
        raise SettingsError(f"invalid environment:\n  {error}") from None


#: OpenAI's list prices (USD per 1k input and output tokens) of the default models. Any other model (an
#: Azure deployment, a local server, the fake) is counted at $0 rather than at a price that is not its own.
LIST_PRICES: dict[str, tuple[float, float]] = {"gpt-4o-mini": (0.00015, 0.0006), "gpt-4o": (0.0025, 0.01)}


def reference_llm(*, deadline_s: float = 90.0) -> ResilientLLM:
    """Primary and secondary OpenAI-compatible models, then a local server; any of them may be absent
    (the variables are in this module's docstring)."""
    from reliability_assets import LLM_FAULTS, LLMChaos

    key = _secret("OPENAI_API_KEY")
    base_url = os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
    env = os.environ.get
    primary = env("RELIABILITY_LLM_PRIMARY_MODEL") or "gpt-4o-mini"
    secondary = env("RELIABILITY_LLM_SECONDARY_MODEL") or "gpt-4o"
    primary_in, primary_out = LIST_PRICES.get(primary, (0.0, 0.0))
    secondary_in, secondary_out = LIST_PRICES.get(secondary, (0.0, 0.0))
    return ResilientLLM(
        endpoints=[
            LLMEndpoint(
                name="primary",
                model=primary,
                base_url=base_url,
                api_key=key,
                requests_per_minute=500,
                tokens_per_minute=200_000,
                input_price_per_1k=primary_in,
                output_price_per_1k=primary_out,
            ),
            LLMEndpoint(
                name="secondary",
                model=secondary,
                base_url=base_url,
                api_key=key,
                input_price_per_1k=secondary_in,
                output_price_per_1k=secondary_out,
                requests_per_minute=500,
                tokens_per_minute=30_000,
            ),
            LLMEndpoint(
                name="local",
                model=env("RELIABILITY_LLM_LOCAL_MODEL", "llama3.1"),
                base_url=env("RELIABILITY_LLM_LOCAL_URL") or None,
                require_api_key=False,
                json_schema=False,
                timeout_s=60,
                context_window=8_192,
            ),
        ],
        chaos=LLMChaos(_chaos("RELIABILITY_CHAOS", LLM_FAULTS)),
        deadline_s=deadline_s,
    )


def reference_source(settings: Settings) -> RawSource:
    """The HTTP API when ``RELIABILITY_API_URL`` is set (``make api`` serves one), else the generator."""
    if settings.api_url:
        from reliability_assets import API_FAULTS, API_TEST_FAULTS, APIChaos

        return ApiSource(
            api=ResilientAPI(
                base_url=settings.api_url,
                token=_secret("RELIABILITY_API_TOKEN"),
                chaos=APIChaos(_chaos("RELIABILITY_API_CHAOS", (*API_FAULTS, *API_TEST_FAULTS))),
            )
        )
    return SyntheticSource(scenario=settings.scenario, seed=settings.seed, size=settings.size)
