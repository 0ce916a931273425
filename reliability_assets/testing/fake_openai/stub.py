"""A minimal valid answer to any chat completion request: what the fake server says when nothing is scripted.

With ``response_format`` json_schema, the answer is the smallest instance of that schema: objects with their
required properties, arrays with ``minItems`` items, the first ``enum`` value, numbers at their lower bound,
and strings such as "stub headline" with no digits (a grounding check flags any number not in its data, so
a stub must cite none). Without a schema the answer is a plain text saying where it came from.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

PLAIN_TEXT = "Stub answer from the local fake OpenAI server (no model was called)."
_MAX_DEPTH = 32  # a recursive schema ($ref to itself through a required property) stops here


def stub_answer(body: dict[str, Any]) -> str:
    """The content of an answer to the request ``body``: JSON for a json_schema request, else text."""
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        return json.dumps(stub_instance(schema, by=str(body.get("model") or "")))
    if response_format.get("type") == "json_object":
        return json.dumps({"answer": "stub text"})
    return PLAIN_TEXT


def stub_instance(schema: dict[str, Any], *, by: str = "") -> Any:
    """The smallest instance of the JSON Schema ``schema`` (draft 2020-12 subset: what pydantic and the
    openai SDK emit: $ref/$defs, anyOf/oneOf/allOf, const, enum, type, bounds, min/max items and length).
    ``by`` (a model name) ends each string, so a reader sees which tier wrote the answer."""
    suffix = f" by {_words(by)}" if by else ""
    return _instance(schema, {**schema, "x-stub-suffix": suffix}, "text", 0)


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        if part:
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return dict(node)


def _words(name: str) -> str:
    """A property name as words without digits: ``revenue_365d`` -> "revenue d"."""
    spaced = re.sub(r"[\d_\-]+", " ", re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)).strip().lower()
    return " ".join(spaced.split()) or "text"


def _instance(schema: dict[str, Any], root: dict[str, Any], name: str, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return None
    if "$ref" in schema:
        merged = {**_resolve(schema["$ref"], root), **{k: v for k, v in schema.items() if k != "$ref"}}
        return _instance(merged, root, name, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if options := schema.get(key):
            # Prefer a non-null option: a stub that says something is more use than a null.
            chosen = next((o for o in options if o.get("type") != "null"), options[0])
            return _instance(chosen, root, name, depth + 1)
    if parts := schema.get("allOf"):
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for part in parts:
            merged.update(_resolve(part["$ref"], root) if "$ref" in part else part)
        return _instance(merged, root, name, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        properties = schema.get("properties") or {}
        return {
            key: _instance(properties.get(key, {}), root, key, depth + 1)
            for key in schema.get("required", [])
        }
    if kind == "array":
        items = schema.get("items") or {}
        return [_instance(items, root, name, depth + 1) for _ in range(int(schema.get("minItems", 0)))]
    if kind == "string":
        return _string(schema, name, root.get("x-stub-suffix", ""))
    if kind in ("integer", "number"):
        return _number(schema, integer=kind == "integer")
    if kind == "boolean":
        return False
    return None


def _string(schema: dict[str, Any], name: str, suffix: str) -> str:
    formatted = {"date": "2000-01-01", "date-time": "2000-01-01T00:00:00Z", "email": "stub@example.com"}
    if schema.get("format") in formatted:
        return formatted[schema["format"]]
    text = f"stub {_words(name)}{suffix}"
    minimum, maximum = int(schema.get("minLength", 0)), schema.get("maxLength")
    while len(text) < minimum:
        text += " text"
    return text[: int(maximum)] if maximum is not None else text


def _number(schema: dict[str, Any], *, integer: bool) -> float | int:
    """Zero, or the nearest value the bounds allow (between an exclusive pair: their midpoint)."""
    low = max(schema.get("minimum", -math.inf), schema.get("exclusiveMinimum", -math.inf))
    high = min(schema.get("maximum", math.inf), schema.get("exclusiveMaximum", math.inf))
    value = min(max(0.0, low), high)
    if value in (schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")):
        value = (
            (low + high) / 2
            if math.isfinite(low) and math.isfinite(high)
            else value + (1 if value == low else -1)
        )
    return math.ceil(value) if integer else value
