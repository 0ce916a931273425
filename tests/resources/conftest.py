"""Fixtures of the resources tests."""

from __future__ import annotations

import pytest

from reliability_assets.testing.fake_openai import FakeOpenAI
from tests.resources.llm_support import GOOD, LOCAL, PRIMARY, SECONDARY


@pytest.fixture
def server():
    with FakeOpenAI() as fake:
        for model in (PRIMARY, SECONDARY, LOCAL):
            fake.set_responder(model, lambda body: GOOD.model_dump_json())
        yield fake
