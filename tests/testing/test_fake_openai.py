"""The fake server drives the REAL openai SDK: each fault must surface as the exception real OpenAI causes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from reliability_assets.testing.fake_openai import FakeOpenAI, Fault

MODEL = "gpt-fake"
MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]


class Person(BaseModel):
    name: str
    age: int


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    server.reset()
    yield server
    server.reset()


@pytest.fixture
def client(fake: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0, timeout=5.0) as sdk:
        yield sdk


def create(client: openai.OpenAI, model: str = MODEL) -> Any:
    return client.chat.completions.create(model=model, messages=MESSAGES)


def test_base_url_and_both_paths(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    assert fake.base_url.startswith("http://127.0.0.1:") and fake.base_url.endswith("/v1")
    bare = client.with_options(base_url=fake.base_url.removesuffix("/v1"))
    assert create(bare).choices[0].message.content
    assert [r.path for r in fake.requests] == ["/chat/completions"]


def test_ok_content_and_usage(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(MODEL, Fault.ok("hello there", prompt_tokens=7, completion_tokens=3), Fault.ok("x" * 40))
    first = create(client)
    assert first.object == "chat.completion" and first.model == MODEL
    assert first.choices[0].message.content == "hello there"
    assert first.choices[0].message.role == "assistant"
    assert first.choices[0].finish_reason == "stop"
    assert first.usage is not None
    assert (first.usage.prompt_tokens, first.usage.completion_tokens, first.usage.total_tokens) == (7, 3, 10)
    second = create(client)
    assert second.usage is not None and second.usage.completion_tokens == 10  # len // 4 estimate


def test_responder_and_default_text(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    assert create(client).choices[0].message.content == "Hello from FakeOpenAI."
    fake.set_responder(MODEL, lambda body: f"echo {body['messages'][-1]['content']}")
    assert create(client).choices[0].message.content == "echo hi"


def test_503_is_internal_server_error(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(MODEL, Fault.status(503))
    with pytest.raises(openai.InternalServerError) as info:
        create(client)
    assert info.value.status_code == 503
    assert info.value.type == "server_error"
    assert info.value.request_id is not None and info.value.request_id.startswith("req_fake_")


def test_408_is_a_bare_api_status_error(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(MODEL, Fault.status(408))
    with pytest.raises(openai.APIStatusError) as info:
        create(client)
    assert type(info.value) is openai.APIStatusError and info.value.status_code == 408


def test_rate_limit_exposes_retry_after(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(
        MODEL, Fault.rate_limit(retry_after=1), Fault.rate_limit(retry_after=0.25, retry_after_ms=250)
    )
    with pytest.raises(openai.RateLimitError) as info:
        create(client)
    exc = info.value
    assert exc.status_code == 429 and exc.code == "rate_limit_exceeded" and exc.type == "requests"
    assert exc.response.headers["retry-after"] == "1"
    assert "retry-after-ms" not in exc.response.headers
    with pytest.raises(openai.RateLimitError) as info:
        create(client)
    headers = info.value.response.headers
    assert (headers["retry-after"], headers["Retry-After-Ms"]) == ("0.25", "250")


def test_sdk_own_retry_honours_retry_after_ms(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(MODEL, Fault.rate_limit(retry_after_ms=50), Fault.ok("after retry"))
    retrying = client.with_options(max_retries=1)
    assert create(retrying).choices[0].message.content == "after retry"
    first, second = fake.requests_for(MODEL)
    assert second.received_at - first.received_at >= 0.045


def test_insufficient_quota_code(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(MODEL, Fault.insufficient_quota())
    with pytest.raises(openai.RateLimitError) as info:
        create(client)
    exc = info.value
    assert exc.code == "insufficient_quota" and exc.type == "insufficient_quota"
    assert (
        isinstance(exc.body, dict) and exc.body["code"] == "insufficient_quota"
    )  # body is the inner "error"
    assert "retry-after" not in exc.response.headers


@pytest.mark.parametrize(
    ("code", "exc_type"),
    [
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (409, openai.ConflictError),
        (500, openai.InternalServerError),
        (502, openai.InternalServerError),
    ],
)
def test_status_codes_map_to_sdk_errors(
    fake: FakeOpenAI, client: openai.OpenAI, code: int, exc_type: type[openai.APIStatusError]
) -> None:
    fake.script(MODEL, Fault.status(code))
    with pytest.raises(exc_type) as info:
        create(client)
    assert info.value.status_code == code


def test_context_length_is_bad_request(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(MODEL, Fault.context_length())
    with pytest.raises(openai.BadRequestError) as info:
        create(client)
    assert info.value.code == "context_length_exceeded" and info.value.type == "invalid_request_error"


def test_hang_triggers_sdk_timeout(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(MODEL, Fault.hang(5))
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.5).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert time.monotonic() - start < 1.5


def test_short_hang_still_answers(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(MODEL, Fault.hang(0.2))
    start = time.monotonic()
    assert create(client).choices[0].message.content
    assert time.monotonic() - start >= 0.2


def test_truncated_json_raises_raw_json_decode_error(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(MODEL, Fault.truncated_json())
    with pytest.raises(json.JSONDecodeError) as info:
        create(client)
    assert not isinstance(info.value, openai.OpenAIError)


def test_wrong_shape_returns_completion_without_choices(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(MODEL, Fault.wrong_shape(), Fault.wrong_shape())
    completion = create(client)  # the SDK does not validate: no exception
    assert completion.id == "x" and completion.choices is None and completion.usage is None
    with pytest.raises(TypeError, match="not iterable"):  # parse() iterates the missing choices
        client.chat.completions.parse(model=MODEL, messages=MESSAGES, response_format=Person)


def test_content_filter(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(MODEL, Fault.content_filter(), Fault.content_filter())
    choice = create(client).choices[0]
    assert choice.finish_reason == "content_filter" and choice.message.content is None
    with pytest.raises(openai.ContentFilterFinishReasonError):
        client.chat.completions.parse(model=MODEL, messages=MESSAGES, response_format=Person)


def test_refusal(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(MODEL, Fault.refusal(), Fault.refusal("nope"))
    message = create(client).choices[0].message
    assert message.refusal == "I can't help with that." and message.content is None
    parsed = client.chat.completions.parse(model=MODEL, messages=MESSAGES, response_format=Person)
    assert parsed.choices[0].message.refusal == "nope" and parsed.choices[0].message.parsed is None


def test_length(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(MODEL, Fault.length(), Fault.length('{"name": "Ada", "ag'))
    choice = create(client).choices[0]
    assert choice.finish_reason == "length" and choice.message.content == "partial..."
    with pytest.raises(openai.LengthFinishReasonError) as info:
        client.chat.completions.parse(model=MODEL, messages=MESSAGES, response_format=Person)
    assert info.value.completion.choices[0].message.content == '{"name": "Ada", "ag'


def test_drop_connection_is_connection_error(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(MODEL, Fault.drop_connection(), Fault.ok("recovered"))
    with pytest.raises(openai.APIConnectionError) as info:
        create(client)
    assert not isinstance(info.value, openai.APITimeoutError)
    assert create(client).choices[0].message.content == "recovered"


def test_extra_headers_on_any_fault(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    limits = {"x-ratelimit-remaining-requests": 0, "x-ratelimit-reset-requests": "20s"}
    fake.script(MODEL, Fault.ok("hi", headers=limits), Fault.status(503, headers={"x-should-retry": "false"}))
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert raw.headers["x-ratelimit-remaining-requests"] == "0" and raw.parse().choices[0].message.content
    with pytest.raises(openai.InternalServerError) as info:
        client.with_options(max_retries=2).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert info.value.response.headers["x-should-retry"] == "false"
    assert len(fake.requests) == 2  # the SDK obeyed x-should-retry: false


def test_scripts_are_fifo_per_model_then_default(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(MODEL, Fault.ok("one"), Fault.status(503))
    fake.script(MODEL, Fault.ok("three"))
    fake.script("other", Fault.ok("other-one"))
    fake.set_default(MODEL, Fault.ok("default"))
    assert create(client).choices[0].message.content == "one"
    assert create(client, "other").choices[0].message.content == "other-one"
    with pytest.raises(openai.InternalServerError):
        create(client)
    assert [create(client).choices[0].message.content for _ in range(3)] == ["three", "default", "default"]
    assert create(client, "other").choices[0].message.content == "Hello from FakeOpenAI."
    fake.set_default(MODEL, None)
    assert create(client).choices[0].message.content == "Hello from FakeOpenAI."


def test_requests_are_recorded(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    before = time.monotonic()
    create(client)
    create(client, "other")
    create(client)
    records = fake.requests
    assert [r.model for r in records] == [MODEL, "other", MODEL]
    assert before <= records[0].received_at <= records[1].received_at <= records[2].received_at
    assert records[0].path == "/v1/chat/completions" and records[0].body["messages"] == MESSAGES
    assert records[0].headers["authorization"] == "Bearer test"
    assert len(fake.requests_for(MODEL)) == 2
    fake.reset()
    assert fake.requests == []


def test_parse_with_structured_output(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.set_responder(MODEL, lambda body: json.dumps({"name": "Ada", "age": 36}))
    completion = client.chat.completions.parse(model=MODEL, messages=MESSAGES, response_format=Person)
    assert completion.choices[0].message.parsed == Person(name="Ada", age=36)
    response_format = fake.requests[-1].body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "Person"
    assert set(response_format["json_schema"]["schema"]["required"]) == {"name", "age"}


def test_parse_invalid_json_content_raises_pydantic_error(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(MODEL, Fault.ok("not json"))
    with pytest.raises(
        ValueError, match="validation error for Person"
    ):  # pydantic ValidationError, unwrapped
        client.chat.completions.parse(model=MODEL, messages=MESSAGES, response_format=Person)


def test_rate_limit_rpm_window(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.rate_limit_rpm(MODEL, 3, window_s=2.0)
    remaining = []
    for _ in range(3):
        raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
        assert raw.headers["x-ratelimit-limit-requests"] == "3"
        assert raw.headers["x-ratelimit-reset-requests"].endswith("s")
        remaining.append(int(raw.headers["x-ratelimit-remaining-requests"]))
    assert remaining == [2, 1, 0]
    with pytest.raises(openai.RateLimitError) as info:
        create(client)
    headers = info.value.response.headers
    assert 0 < float(headers["retry-after"]) <= 2.0 and int(headers["retry-after-ms"]) > 0
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert create(client, "unlimited").choices[0].message.content  # other models are not limited
    time.sleep(float(headers["retry-after"]) + 0.05)
    assert create(client).choices[0].message.content  # a slot freed up
    fake.rate_limit_rpm(MODEL, None)
    assert [create(client).choices[0].message.content for _ in range(4)]


def test_stop_is_prompt_while_a_handler_hangs() -> None:
    errors: list[BaseException] = []
    server = FakeOpenAI().start()
    server.script(MODEL, Fault.hang(30))

    def call() -> None:
        sdk = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=10.0)
        try:
            create(sdk)
        except openai.APIError as exc:
            errors.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    deadline = time.monotonic() + 2
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    start = time.monotonic()
    server.stop()
    thread.join(timeout=2)
    assert time.monotonic() - start < 1.0
    assert len(errors) == 1 and isinstance(errors[0], openai.APIConnectionError)
