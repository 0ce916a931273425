"""One request on the wire, and what prepares it: the call itself (every way a 200 can be wrong becomes
a typed error for the classifier), JSON extraction, the re-ask prompt, trimming, and the request key."""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from reliability_assets.resources.resilience.classify import (
    MalformedResponse,
    NeedsHumanReview,
    OutputTruncated,
    SchemaInvalid,
)
from reliability_assets.resources.resilience.retry import Reply
from reliability_assets.resources.tokens import count_messages, trim_to_tokens

T = TypeVar("T", bound=BaseModel)
Messages = list[dict[str, str]]


def send(
    client: Any,
    timeout: float,
    *,
    model: str,
    json_schema: bool,
    messages: Messages,
    schema: type[T],
    max_tokens: int,
) -> Reply[tuple[T, Any]]:
    """One request. Turns every way a 200 can be wrong into a typed error for the classifier."""
    kwargs: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "timeout": timeout,
    }
    if json_schema:
        from openai.lib import type_to_response_format_param

        kwargs["response_format"] = type_to_response_format_param(schema)
    raw = client.chat.completions.with_raw_response.create(**kwargs)
    completion = raw.parse()  # raises json.JSONDecodeError on a truncated body
    choices = getattr(completion, "choices", None)
    if not choices or choices[0].message is None:
        raise MalformedResponse("200 without choices: wrong-shape body")
    choice = choices[0]
    if choice.finish_reason == "content_filter":
        raise NeedsHumanReview("finish_reason=content_filter")
    if getattr(choice.message, "refusal", None):
        raise NeedsHumanReview(f"model refused: {choice.message.refusal}")
    if choice.finish_reason == "length":
        raise OutputTruncated("finish_reason=length: output cut at max_tokens")
    content = choice.message.content or ""
    try:
        output = schema.model_validate_json(content if json_schema else json_in(content))
    except ValidationError as error:
        raise SchemaInvalid(short(error)) from None
    return Reply((output, completion), dict(raw.headers))


def json_in(text: str) -> str:
    """The outermost JSON object in free text (models without structured output wrap it in prose)."""
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else text


def short(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'root'}: {e['msg']}" for e in error.errors()[:5])


def reask_prompt(error: str) -> str:
    return f"Your previous answer did not match the required JSON schema: {error}. Reply with JSON only."


def trim(messages: Messages, max_tokens: int, model: str) -> Messages:
    """Shorten the longest message (the data, not the instructions) until the request fits."""
    longest = max(range(len(messages)), key=lambda i: len(messages[i]["content"]))
    others = count_messages([m for i, m in enumerate(messages) if i != longest], model=model).tokens
    trimmed = trim_to_tokens(messages[longest]["content"], max(0, max_tokens - others - 8), model=model)
    return [({**m, "content": trimmed} if i == longest else m) for i, m in enumerate(messages)]


def request_key(messages: Messages, schema: type[BaseModel]) -> str:
    payload = json.dumps({"messages": messages, "schema": schema.model_json_schema()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]
