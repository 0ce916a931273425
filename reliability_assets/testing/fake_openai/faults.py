"""Scripted responses of the fake OpenAI server: :class:`Fault` and the error bodies it sends, modelled on
the ones the real API sends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Headers = tuple[tuple[str, str], ...]
HeaderArg = Mapping[str, object] | None
FaultKind = Literal["completion", "error", "truncated_json", "wrong_shape", "drop_connection"]

# status -> (type, message, code), modelled on the bodies the real API sends.
_IRE, _QUOTA = "invalid_request_error", "insufficient_quota"
_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: (_IRE, "Invalid request.", None),
    401: (_IRE, "Incorrect API key provided: test.", "invalid_api_key"),
    403: (_IRE, "You are not allowed to sample from this model.", None),
    404: (_IRE, "The model does not exist or you do not have access to it.", "model_not_found"),
    408: (_IRE, "Request timed out.", None),
    409: (_IRE, "Conflict.", None),
    429: ("requests", "Rate limit reached for requests.", "rate_limit_exceeded"),
    500: ("server_error", "The server had an error while processing your request.", None),
    502: ("server_error", "Bad gateway.", None),
    503: ("server_error", "The server is overloaded or not ready yet.", None),
}


def _hdrs(headers: HeaderArg) -> Headers:
    return tuple((str(k), str(v)) for k, v in (headers or {}).items())


def _num(value: float) -> str:
    """``1`` -> "1", ``1.5`` -> "1.5": the integer/float spelling a retry-after header uses."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True)
class Fault:
    """One scripted response. Build it with the classmethods, never by hand."""

    kind: FaultKind = "completion"
    status_code: int = 200
    content: str | None = None
    null_content: bool = False  # content null in the message instead of calling the responder
    refusal_text: str | None = None
    finish_reason: str = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: tuple[str, str, str | None] = ("", "", None)  # (message, type, code)
    delay_s: float = 0.0
    headers: Headers = ()

    @classmethod
    def ok(
        cls,
        content: str | None = None,
        *,
        finish_reason: str = "stop",
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        headers: HeaderArg = None,
    ) -> Fault:
        """A valid chat.completion; ``content=None`` asks the model's responder (or a default text)."""
        return cls(
            content=content,
            finish_reason=finish_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            headers=_hdrs(headers),
        )

    @classmethod
    def status(
        cls,
        code: int,
        *,
        message: str | None = None,
        type_: str | None = None,
        code_: str | None = None,
        headers: HeaderArg = None,
    ) -> Fault:
        """An OpenAI error body ``{"error": {message, type, param, code}}`` with HTTP status ``code``."""
        fallback = ("server_error" if code >= 500 else _IRE, f"HTTP {code}.", None)
        d_type, d_message, d_code = _ERRORS.get(code, fallback)
        error = (message or d_message, type_ or d_type, code_ if code_ is not None else d_code)
        return cls(kind="error", status_code=code, error=error, headers=_hdrs(headers))

    @classmethod
    def rate_limit(
        cls,
        *,
        retry_after: float | None = None,
        retry_after_ms: float | None = None,
        headers: HeaderArg = None,
    ) -> Fault:
        """429 rate_limit_exceeded, optionally with ``retry-after`` and/or ``retry-after-ms``."""
        extra = {"retry-after": retry_after, "retry-after-ms": retry_after_ms}
        given = {k: _num(v) for k, v in extra.items() if v is not None}
        return cls.status(429, headers={**given, **(headers or {})})

    @classmethod
    def insufficient_quota(cls, *, headers: HeaderArg = None) -> Fault:
        """429 that must NOT be retried: the account is out of credit."""
        msg = "You exceeded your current quota, please check your plan and billing details."
        return cls.status(429, message=msg, type_=_QUOTA, code_=_QUOTA, headers=headers)

    @classmethod
    def context_length(cls, *, headers: HeaderArg = None) -> Fault:
        """400 context_length_exceeded: the prompt is too long for the model."""
        msg = "This model's maximum context length is 8192 tokens. However, your messages resulted in more."
        return cls.status(400, message=msg, code_="context_length_exceeded", headers=headers)

    @classmethod
    def hang(cls, seconds: float, *, headers: HeaderArg = None) -> Fault:
        """Wait ``seconds`` (interruptible by stop()) and then send a valid completion."""
        return cls(delay_s=seconds, headers=_hdrs(headers))

    @classmethod
    def truncated_json(cls, *, headers: HeaderArg = None) -> Fault:
        """200 application/json whose body is a valid completion cut in half."""
        return cls(kind="truncated_json", headers=_hdrs(headers))

    @classmethod
    def wrong_shape(cls, *, headers: HeaderArg = None) -> Fault:
        """200 with the JSON object ``{"object": "chat.completion", "id": "x"}``: no ``choices``."""
        return cls(kind="wrong_shape", headers=_hdrs(headers))

    @classmethod
    def content_filter(cls, *, headers: HeaderArg = None) -> Fault:
        """200, finish_reason "content_filter", content null."""
        return cls(null_content=True, finish_reason="content_filter", headers=_hdrs(headers))

    @classmethod
    def refusal(cls, text: str = "I can't help with that.", *, headers: HeaderArg = None) -> Fault:
        """200 whose message carries ``refusal`` and a null content."""
        return cls(null_content=True, refusal_text=text, headers=_hdrs(headers))

    @classmethod
    def length(cls, content: str = "partial...", *, headers: HeaderArg = None) -> Fault:
        """200 with finish_reason "length" (output cut at max_tokens)."""
        return cls(content=content, finish_reason="length", headers=_hdrs(headers))

    @classmethod
    def drop_connection(cls) -> Fault:
        """Close the socket without sending any response."""
        return cls(kind="drop_connection")
