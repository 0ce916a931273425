"""The fake server as the reference's offline model provider: the environment that points the primary and
secondary tiers at it, and a foreground ``serve`` that ``make dev`` supervises.

Offline, no tier of the reference LLM is configured and the deterministic template writes the summary, so
fault injection has nothing to fail. Pointed at this server, the "primary" tier (model
``local-fake-primary``) serves a schema-valid stub answer, and ``reliability/chaos=llm_primary_down`` makes
a real failover to the "secondary" tier (``local-fake-secondary``) visible in the summary's metadata.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from reliability_assets.testing.fake_openai.server import FakeOpenAI
from reliability_assets.testing.fake_openai.stub import stub_answer

PRIMARY_MODEL = "local-fake-primary"
SECONDARY_MODEL = "local-fake-secondary"
#: Not a secret: the fake accepts any key, and the SDK refuses to send a request without one.
PLACEHOLDER_KEY = "placeholder-key-for-the-local-fake-openai-server"


def offline_llm_env(base_url: str) -> dict[str, str]:
    """The variables that point the reference's primary and secondary tiers at the fake at ``base_url``
    (e.g. ``http://127.0.0.1:8767/v1``); the model names say the answers are stubs, not a model's."""
    return {
        "OPENAI_BASE_URL": base_url,
        "OPENAI_API_KEY": PLACEHOLDER_KEY,
        "RELIABILITY_LLM_PRIMARY_MODEL": PRIMARY_MODEL,
        "RELIABILITY_LLM_SECONDARY_MODEL": SECONDARY_MODEL,
    }


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ready: Callable[[FakeOpenAI], None] | None = None,
    responder: Callable[[dict[str, Any]], str | None] | None = None,
) -> None:
    """Answer every chat completion validly until SIGTERM or SIGINT, then stop: with ``responder``'s
    answer, or when it has none (None) the schema-valid stub (``stub.stub_answer``). ``ready`` is called
    once the port is bound (the default prints the base URL)."""
    stopping = threading.Event()

    def answer(body: dict[str, Any]) -> str:
        given = responder(body) if responder is not None else None
        return given if given is not None else stub_answer(body)

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with FakeOpenAI(host, port, default_responder=answer) as fake:
            (ready or _announce)(fake)
            while not stopping.wait(1.0):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _announce(fake: FakeOpenAI) -> None:
    print(f"fake OpenAI server: base_url={fake.base_url} (stub answers; Ctrl-C stops)", flush=True)
    sys.stdout.flush()
