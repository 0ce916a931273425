"""What the resources put on their spans (``resources.tracing``): the OpenTelemetry GenAI semantic
conventions for LLM calls and attempts (``gen_ai.*``, ``error.type``, ``server.*``) and ``reliability.*``
for how a call was served (tier, degraded, deferred, cost) and how an API pull went.

Prompt and answer text (``gen_ai.input.messages``, ``gen_ai.output.messages``) only with content capture
on (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``); every value is redacted by ``Span.set``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from reliability_assets.resources.tracing import MAX_TEXT, Span, capture_content, span


def server(base_url: str | None) -> dict[str, Any]:
    """``server.address`` and ``server.port`` of a URL: never its path, query or credentials."""
    where = urlsplit(base_url or "")
    return {"server.address": where.hostname, "server.port": where.port}


def attempt_span(endpoint: Any, base_url: str | None, max_tokens: int) -> dict[str, Any]:
    """``call_endpoint``'s span options for an LLM tier: ``chat {model}`` client spans with the request
    attributes of the GenAI semantic conventions (an OpenAI-compatible endpoint is the ``openai``
    flavour). The URL's host and port only: never its path or credentials."""
    attributes = {
        **server(base_url),
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.system": "openai",  # the attribute's name before gen_ai.provider.name, for older backends
        "gen_ai.request.model": endpoint.model,
        "gen_ai.request.max_tokens": max_tokens,
        "reliability.tier": endpoint.name,
    }
    return {"span_name": f"chat {endpoint.model}", "span_attributes": attributes}


F = TypeVar("F", bound=Callable[..., Any])


def traced_generate(generate: F) -> F:
    """``ResilientLLM.generate`` in a ``reliability.llm.generate`` span (its attempts are its children)
    that records how the call was served. Prompt text goes on it (``gen_ai.input.messages``) only when
    content capture is on."""

    @functools.wraps(generate)
    def traced(llm: Any, messages: list[dict[str, str]], *, source: str, **options: Any) -> Any:
        attributes: dict[str, Any] = {"gen_ai.operation.name": "chat", "reliability.source": source}
        if capture_content():
            content = [_message(m.get("role"), m.get("content")) for m in messages]
            attributes["gen_ai.input.messages"] = json.dumps(content)
        with span("reliability.llm.generate", attributes) as call:
            result = generate(llm, messages, source=source, **options)
            if call.recording:
                _record(call, result, llm, options.get("max_tokens") or llm.max_tokens)
            return result

    return cast(F, traced)


def _record(call: Span, result: Any, llm: Any, max_tokens: int) -> None:
    """What the ``LLMResult`` says: the tier that served (and its model), how, at what cost."""
    model = next((e.model for e in llm.endpoints if e.name == result.tier), None)
    call.update(
        {
            "gen_ai.provider.name": "openai" if model else None,
            "gen_ai.request.model": model,
            "gen_ai.request.max_tokens": max_tokens,
            "gen_ai.usage.input_tokens": result.prompt_tokens,
            "gen_ai.usage.output_tokens": result.completion_tokens,
            "reliability.tier": result.tier,
            "reliability.degraded": result.degraded,
            "reliability.deferred": result.deferred,
            "reliability.resumed": result.resumed,
            "reliability.cost_usd": result.cost_usd,
            "reliability.attempts": len(result.attempts),
            "reliability.reason": result.reason[:MAX_TEXT] or None,
        }
    )
    if capture_content() and result.output is not None:
        answer = result.output.model_dump_json()
        call.set("gen_ai.output.messages", json.dumps([_message("assistant", answer)]))
    if result.deferred:
        call.fail("deferred")


def _message(role: Any, content: Any) -> dict[str, Any]:
    return {"role": role, "parts": [{"type": "text", "content": content}]}


def pull_attributes(pull: Any) -> dict[str, Any]:
    """What a ``Pull`` says, for the pull's span."""
    return {
        "reliability.served_from": pull.served_from,
        "reliability.degraded": pull.degraded,
        "reliability.pages": pull.pages,
        "reliability.received": pull.received,
        "reliability.quarantined": pull.quarantined,
        "reliability.attempts": len(pull.attempts),
        "reliability.snapshot_age_s": pull.snapshot_age_s,
        "reliability.reason": pull.reason[:MAX_TEXT] or None,
    }


__all__ = ["attempt_span", "pull_attributes", "server", "traced_generate"]
