"""An OpenAI-compatible HTTP server that misbehaves on demand, shipped for tests of code that calls models.

A resilient LLM resource has to classify every way a chat-completion call can fail: rate limits (with and
without ``retry-after``), exhausted quota, auth errors, oversized prompts, 5xx, hangs, dropped connections,
truncated or wrongly shaped JSON, content filtering, refusals and truncation by length. Mocking the SDK would
only test assumptions about it, so this server lets tests drive the REAL ``openai`` client over real HTTP:

    with FakeOpenAI() as server:
        server.script("gpt-x", Fault.rate_limit(retry_after=1), Fault.ok("fine"))
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)

``python -m reliability_assets.testing.fake_openai`` runs it in the foreground, answering every request
with a minimal valid answer (``stub_answer``); ``offline_llm_env`` points the reference pipeline at it.
Standard library only: ``ThreadingHTTPServer`` on 127.0.0.1, a free port, a daemon thread.
"""

from reliability_assets.testing.fake_openai.faults import Fault, FaultKind, HeaderArg, Headers
from reliability_assets.testing.fake_openai.offline import (
    PLACEHOLDER_KEY,
    PRIMARY_MODEL,
    SECONDARY_MODEL,
    offline_llm_env,
    serve,
)
from reliability_assets.testing.fake_openai.server import (
    DEFAULT_TEXT,
    PATHS,
    FakeOpenAI,
    RecordedRequest,
    Responder,
)
from reliability_assets.testing.fake_openai.stub import PLAIN_TEXT, stub_answer, stub_instance

__all__ = [
    "DEFAULT_TEXT",
    "PATHS",
    "PLACEHOLDER_KEY",
    "PLAIN_TEXT",
    "PRIMARY_MODEL",
    "SECONDARY_MODEL",
    "FakeOpenAI",
    "Fault",
    "FaultKind",
    "HeaderArg",
    "Headers",
    "RecordedRequest",
    "Responder",
    "offline_llm_env",
    "serve",
    "stub_answer",
    "stub_instance",
]
