"""One tier of ``ResilientLLM``: its configuration, whether it is configured at all, the key of its shared
breaker and history, and its SDK client (one per process)."""

from __future__ import annotations

import functools
from typing import Any

from dagster import Config
from pydantic import Field

CHAOS_DEAD_URL = "http://127.0.0.1:9/v1"  # the discard port: connection refused, every time


class LLMEndpoint(Config):
    """One OpenAI-compatible endpoint (OpenAI, Azure's v1 API, a local Ollama or vLLM)."""

    name: str = Field(description="Tier name shown in metadata, e.g. primary, secondary, local.")
    model: str
    base_url: str | None = Field(default=None, description="None: skipped (the tier is not configured).")
    api_key: str | None = Field(default=None, description="Use EnvVar; None or empty: the tier is skipped.")
    timeout_s: float = Field(default=30.0, gt=0, description="Per attempt; capped by the time left.")
    max_attempts: int = Field(default=3, ge=1)
    context_window: int = Field(default=128_000, gt=0)
    input_price_per_1k: float = Field(default=0.0, ge=0)
    output_price_per_1k: float = Field(default=0.0, ge=0)
    requests_per_minute: int | None = Field(default=None, gt=0)
    tokens_per_minute: int | None = Field(default=None, gt=0)
    json_schema: bool = Field(default=True, description="Strict json_schema output; else JSON from text.")
    require_api_key: bool = Field(default=True, description="False for local servers that need no key.")


def skip_reason(endpoint: LLMEndpoint) -> str:
    """Why a tier is not called at all ("" when it is configured)."""
    if not endpoint.base_url:
        return "no base_url configured"
    if endpoint.require_api_key and not endpoint.api_key:
        return "no API key"
    return ""


def breaker_name(endpoint: LLMEndpoint, base_url: str | None = None) -> str:
    """The key of an endpoint's breaker, limiter and history in the store."""
    return f"llm:{base_url or endpoint.base_url}:{endpoint.model}"


@functools.lru_cache(maxsize=32)
def client_for(base_url: str | None, api_key: str, _pid: int) -> Any:
    """One SDK client per endpoint per process: building one loads the CA bundle (~40 ms) and a kept
    client reuses its connections. ``max_retries=0``: the resource owns the only retry loop."""
    import openai

    return openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
