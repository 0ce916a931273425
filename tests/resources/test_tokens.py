"""Token counting must be exact for OpenAI models, conservative otherwise, and never touch the network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from reliability_assets.resources import tokens
from reliability_assets.resources.tokens import TokenCount, count_messages, count_tokens, trim_to_tokens

REPO_ROOT = Path(__file__).resolve().parents[2]
ENGLISH = (
    "Reliability is a feature: every call to the language model is budgeted in tokens per minute, "
    "trimmed to the context window, and priced before it is sent. The quick brown fox jumps over "
    "the lazy dog, again and again, while the retries back off and the circuit breaker waits."
)
MIXED = "naïve café — 日本語のテキスト 🚀 <|endoftext|> 1234567\n\n\tdone. " * 20


@pytest.fixture
def fresh_encoders() -> Iterator[None]:
    """Tests that fake a broken library must not poison (or reuse) the process-wide encoder cache."""
    tokens._encoder.cache_clear()
    yield
    tokens._encoder.cache_clear()


# Reference ids (tiktoken's own, e.g. "hello world" -> [15339, 1917] in cl100k_base).
@pytest.mark.parametrize(
    ("model", "text", "expected", "encoding"),
    [
        ("gpt-4", "hello world", 2, "cl100k_base"),
        ("gpt-3.5-turbo", "Hello, world!", 4, "cl100k_base"),
        ("gpt-4-turbo", "The quick brown fox jumps over the lazy dog.", 10, "cl100k_base"),
        ("gpt-4o-mini", "hello world", 2, "o200k_base"),
        ("gpt-4o", "Hello, world!", 4, "o200k_base"),
        ("gpt-4.1-nano", "日本語のテキスト", 6, "o200k_base"),
        ("o3-mini", "1234567", 3, "o200k_base"),
        ("openai/o4-mini", "", 0, "o200k_base"),
    ],
)
def test_exact_counts_match_reference(model: str, text: str, expected: int, encoding: str) -> None:
    assert count_tokens(text, model=model) == TokenCount(expected, True, f"bpe-openai:{encoding}")


def test_special_token_text_is_counted_not_rejected() -> None:
    result = count_tokens("<|endoftext|>", model="gpt-4o")
    assert result.exact
    assert result.tokens > 1  # ordinary text, not the single special token


@pytest.mark.parametrize("exact_model", ["gpt-4", "gpt-4o-mini"])
def test_estimate_for_unknown_model_is_not_below_exact_for_english(exact_model: str) -> None:
    estimate = count_tokens(ENGLISH, model="llama3")
    assert estimate.exact is False
    assert estimate.method == "estimate:chars/4"
    assert estimate.tokens >= count_tokens(ENGLISH, model=exact_model).tokens


def test_estimate_counts_non_ascii_chars_one_each() -> None:
    assert count_tokens("abcdefgh", model="llama3").tokens == 2
    assert count_tokens("abcde", model="llama3").tokens == 2
    assert count_tokens("日本語🚀", model="llama3").tokens == 4
    for text in ("naïve café résumé", "日本語のテキスト"):  # not a hard bound for emoji, see estimate_tokens
        assert count_tokens(text, model="llama3").tokens >= count_tokens(text, model="gpt-4").tokens


def test_missing_library_falls_back_to_estimate(
    monkeypatch: pytest.MonkeyPatch, fresh_encoders: None
) -> None:
    monkeypatch.setitem(sys.modules, "bpe_openai", None)  # import now raises ImportError
    result = count_tokens(ENGLISH, model="gpt-4o")
    assert result == TokenCount(count_tokens(ENGLISH, model="llama3").tokens, False, "estimate:chars/4")
    assert count_tokens("x" * 40, model="gpt-4o").tokens <= 10
    assert trim_to_tokens(ENGLISH, 5, model="gpt-4o") == ENGLISH[:20]


@pytest.mark.parametrize("model", ["gpt-4o-mini", "llama3"])
def test_count_messages_adds_chat_overhead(model: str) -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "hello world", "name": "ops"},
    ]
    content = sum(count_tokens(v, model=model).tokens for m in messages for v in m.values())
    result = count_messages(messages, model=model)
    # 3 per message, 1 for the name, 3 to prime the reply.
    assert result.tokens == content + 2 * 3 + 1 + 3
    assert result.exact is (model != "llama3")
    assert count_messages([], model=model).tokens == 3


@pytest.mark.parametrize("model", ["gpt-4", "gpt-4o-mini", "llama3"])
@pytest.mark.parametrize("budget", [0, 1, 2, 7, 50, 10_000])
@pytest.mark.parametrize("text", [ENGLISH, MIXED, "🚀" * 30])
def test_trim_never_exceeds_budget_and_keeps_head(model: str, budget: int, text: str) -> None:
    head = trim_to_tokens(text, budget, model=model)
    assert text.startswith(head)
    assert count_tokens(head, model=model).tokens <= budget
    if count_tokens(text, model=model).tokens <= budget:
        assert head == text
    else:
        # As long as it fits: one more token's worth of text would not.
        assert count_tokens(text[: len(head) + 4], model=model).tokens > budget


def test_trim_exact_cuts_at_token_boundary() -> None:
    assert trim_to_tokens("hello world and more", 2, model="gpt-4o") == "hello world"
    assert trim_to_tokens("hello", 0, model="gpt-4o") == ""


def test_counting_is_offline_and_lazy(tmp_path: Path) -> None:
    """Fresh interpreter, dead proxies, empty tiktoken cache, sockets forbidden: still exact."""
    script = textwrap.dedent(
        """
        import json, os, sys

        def forbid_network(event, args):
            if event in {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request"}:
                sys.stderr.write(f"network attempted: {event} {args}\\n")
                os._exit(3)

        sys.addaudithook(forbid_network)
        from reliability_assets.resources.tokens import count_tokens
        lazy = "bpe_openai" not in sys.modules
        out = {m: list(count_tokens("hello world", model=m)) for m in ("gpt-4", "gpt-4o-mini")}
        print(json.dumps({"lazy": lazy, "counts": out}))
        """
    )
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    env = {
        **os.environ,
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
        "TIKTOKEN_CACHE_DIR": str(cache),
        "PYTHONPATH": str(REPO_ROOT),
    }
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["lazy"] is True
    assert result["counts"] == {
        "gpt-4": [2, True, "bpe-openai:cl100k_base"],
        "gpt-4o-mini": [2, True, "bpe-openai:o200k_base"],
    }
    assert list(cache.iterdir()) == []
