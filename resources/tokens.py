"""Offline token counting for LLM budgets: tokens-per-minute limits, context trimming, cost.

Exact counts come from ``bpe-openai``, whose wheel ships the cl100k_base/o200k_base tables (tiktoken
would download them on first use, and this project must never fetch at run time). It is imported lazily
so that loading the Dagster code location stays fast. Unknown models, or a missing/failing library, fall
back to a conservative estimate flagged ``exact=False``; nothing here raises for ordinary text.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

ESTIMATE_METHOD = "estimate:chars/4"
# Chat framing per OpenAI's cookbook: every message is wrapped in ~3 tokens, a ``name`` costs one more,
# and the reply is primed with 3 (<|start|>assistant<|message|>).
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3
# bpe-openai refuses inputs of 1M characters or more; longer texts are estimated (counting) or pre-cut (trim).
_MAX_EXACT_CHARS = 999_999

# Order matters: the gpt-4o family must match before the gpt-4 prefix.
_ENCODING_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-4o", "o200k_base"),
    ("chatgpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
    ("text-embedding-3", "cl100k_base"),
    ("text-embedding-ada-002", "cl100k_base"),
)


class TokenCount(NamedTuple):
    tokens: int
    exact: bool
    method: str  # "bpe-openai:<encoding>" or "estimate:chars/4"


def encoding_for_model(model: str) -> str | None:
    """The BPE table an OpenAI model uses; ``None`` for others (e.g. a local "llama3"), which we estimate."""
    name = model.strip().lower().rsplit("/", 1)[-1].removeprefix("ft:")
    return next((enc for prefix, enc in _ENCODING_PREFIXES if name.startswith(prefix)), None)


@functools.cache
def _encoder(encoding: str) -> Any | None:
    """Load once per process (a ~0.5 s import); ``None`` if the library is missing or broken."""
    try:
        with warnings.catch_warnings():  # its importlib.resources.open_binary use is deprecated on 3.11/3.12
            warnings.simplefilter("ignore", DeprecationWarning)
            import bpe_openai

            return bpe_openai.get_encoding(encoding)
    except Exception:
        return None


def _encode(text: str, model: str) -> tuple[Any, list[int], str] | None:
    encoding = encoding_for_model(model)
    enc = _encoder(encoding) if encoding else None
    if enc is None:
        return None
    try:
        # encode_ordinary: user text that contains "<|endoftext|>" is counted as text, not rejected.
        return enc, list(enc.encode_ordinary(text)), f"bpe-openai:{encoding}"
    except Exception:  # e.g. _MAX_EXACT_CHARS exceeded
        return None


def estimate_tokens(text: str) -> int:
    """ceil(ASCII chars / 4) + one token per non-ASCII char.

    English averages ~4 chars/token, so this over-estimates (whitespace and common words merge further);
    one token per non-ASCII char covers accented and common CJK text. Not a hard bound: digit runs (~3 per
    token) and emoji or rare CJK (up to 4 byte-tokens per char) can exceed it; hence ``exact=False``.
    """
    non_ascii = sum(1 for ch in text if not ch.isascii())
    return math.ceil((len(text) - non_ascii) / 4) + non_ascii


def count_tokens(text: str, *, model: str = "gpt-4o-mini") -> TokenCount:
    """Tokens in ``text`` for ``model``: exact when the model's table is known, else ``estimate_tokens``."""
    encoded = _encode(text, model)
    if encoded is None:
        return TokenCount(estimate_tokens(text), False, ESTIMATE_METHOD)
    _, ids, method = encoded
    return TokenCount(len(ids), True, method)


def count_messages(messages: Sequence[Mapping[str, str]], *, model: str = "gpt-4o-mini") -> TokenCount:
    """Prompt tokens of a chat request, including per-message framing and reply priming."""
    probe = count_tokens("", model=model)  # which path this model takes, before any text is counted
    total, exact = REPLY_PRIMING_TOKENS, probe.exact
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            counted = count_tokens(value, model=model)
            total += counted.tokens + (TOKENS_PER_NAME if key == "name" else 0)
            exact = exact and counted.exact
    return TokenCount(total, exact, probe.method if exact else ESTIMATE_METHOD)


def trim_to_tokens(text: str, max_tokens: int, *, model: str = "gpt-4o-mini") -> str:
    """The longest head of ``text`` that fits ``max_tokens`` (never more), cut at a token boundary.

    Exact-path texts past ``_MAX_EXACT_CHARS`` are cut there first, so a huge budget returns that head.
    """
    if max_tokens <= 0 or not text:
        return ""
    head = text[:_MAX_EXACT_CHARS]
    encoded = _encode(head, model)
    if encoded is None:
        return _trim_estimate(text, max_tokens)
    enc, ids, _ = encoded
    if len(ids) <= max_tokens:
        return head
    keep = max_tokens
    while keep > 0:
        # A cut inside a multi-byte char leaves a partial UTF-8 tail: drop it rather than emit U+FFFD.
        head = enc.decode_bytes(ids[:keep]).decode("utf-8", errors="ignore")
        # Re-encoding a prefix can (rarely) merge differently; verify so the budget always holds.
        if count_tokens(head, model=model).tokens <= max_tokens:
            return str(head)
        keep -= 1
    return ""


def _trim_estimate(text: str, max_tokens: int) -> str:
    """Longest prefix whose estimate fits; the estimate only grows with length, so scan once."""
    ascii_chars = non_ascii = 0
    for i, ch in enumerate(text):
        if ch.isascii():
            ascii_chars += 1
        else:
            non_ascii += 1
        if math.ceil(ascii_chars / 4) + non_ascii > max_tokens:
            return text[:i]
    return text
