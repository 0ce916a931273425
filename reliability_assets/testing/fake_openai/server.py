"""The fake server itself: a ``ThreadingHTTPServer`` on 127.0.0.1 that pops a scripted :class:`Fault` per
request (per model), else answers with the model's responder, the server's default responder or a text."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any, Self, TypeVar

from reliability_assets.testing.fake_openai.faults import Fault, _num

T = TypeVar("T")
Responder = Callable[[dict[str, Any]], str]
PATHS = ("/v1/chat/completions", "/chat/completions")
DEFAULT_TEXT = "Hello from FakeOpenAI."


def _put(lock: threading.Lock, store: dict[str, T], key: str, value: T | None) -> None:
    with lock:
        if value is None:
            store.pop(key, None)
        else:
            store[key] = value


def _duration(seconds: float) -> str:
    """OpenAI-style reset duration, e.g. "1.5s"."""
    return f"{max(seconds, 0.0):.3f}".rstrip("0").rstrip(".") + "s"


@dataclass(frozen=True)
class RecordedRequest:
    model: str
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    received_at: float  # time.monotonic()


class _Window:
    """Server-side sliding-window requests-per-minute limit for one model."""

    def __init__(self, rpm: int, window_s: float) -> None:
        self.rpm, self.window_s, self.hits = rpm, window_s, deque[float]()

    def admit(self, now: float) -> tuple[bool, dict[str, str]]:
        while self.hits and self.hits[0] <= now - self.window_s:
            self.hits.popleft()
        admitted = len(self.hits) < self.rpm
        if admitted:
            self.hits.append(now)
        reset = self.hits[0] + self.window_s - now if self.hits else 0.0
        headers = {
            "x-ratelimit-limit-requests": str(self.rpm),
            "x-ratelimit-remaining-requests": str(self.rpm - len(self.hits)),
            "x-ratelimit-reset-requests": _duration(reset),
        }
        if not admitted:
            wait_ms = max(math.ceil(reset * 1000), 1)
            headers["retry-after"] = _num(wait_ms / 1000)
            headers["retry-after-ms"] = str(wait_ms)
        return admitted, headers


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOpenAI


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid a 40 ms delayed-ACK stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    def do_GET(self) -> None:
        """``/health`` and ``/v1/models``: a supervisor's readiness probe, and what SDKs list."""
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("/health", "/v1/models", "/models"):
            models = [{"id": m, "object": "model", "owned_by": "fake"} for m in self.server.fake.models]
            payload = json.dumps(
                {"status": "ok"} if path == "/health" else {"object": "list", "data": models}
            )
            return self._reply(200, payload.encode())
        return self._send(Fault.status(404, message=f"Invalid URL (GET {path})", code_="invalid_url"), {}, {})

    def _reply(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        try:
            self._handle()
        except ConnectionError:  # the client gave up (e.g. its timeout fired)
            self.close_connection = True

    def _handle(self) -> None:
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        path = self.path.split("?", 1)[0]
        if path not in PATHS:
            return self._send(
                Fault.status(404, message=f"Invalid URL (POST {path})", code_="invalid_url"), {}, {}
            )
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._send(Fault.status(400, message="Request body is not a JSON object."), {}, {})
        fault, extra = fake._next(path, body, {k.lower(): v for k, v in self.headers.items()})
        if fault.delay_s and fake._stop.wait(fault.delay_s):
            self.close_connection = True  # stopping: abandon the hanging request
            return None
        if fault.kind == "drop_connection":
            self.close_connection = True
            return None
        return self._send(fault, body, extra)

    def _send(self, fault: Fault, body: dict[str, Any], extra: dict[str, str]) -> None:
        fake = self.server.fake
        if fault.kind == "error":
            message, type_, code = fault.error
            error = {"message": message, "type": type_, "param": None, "code": code}
            payload = json.dumps({"error": error}).encode()
        elif fault.kind == "wrong_shape":
            payload = json.dumps({"object": "chat.completion", "id": "x"}).encode()
        else:
            try:
                payload = json.dumps(fake._completion(fault, body)).encode()
            except Exception as exc:  # a broken responder is a test bug: surface it as a 500
                return self._send(Fault.status(500, message=f"responder raised {exc!r}"), body, extra)
            if fault.kind == "truncated_json":
                payload = payload[: len(payload) // 2]
        self.send_response(fault.status_code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.send_header("x-request-id", f"req_fake_{next(fake._ids)}")
        for key, value in {**extra, **dict(fault.headers)}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)
        return None


class FakeOpenAI:
    """Scriptable OpenAI-compatible server: ``with FakeOpenAI() as server: ... server.base_url``."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, default_responder: Responder | None = None
    ) -> None:
        """``default_responder(request_body) -> content`` answers any model without a responder of its
        own (``stub.stub_answer`` answers every request validly); None: a fixed text."""
        self._address = (host, port)
        self._default_responder = default_responder
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ids = count(1)
        self._scripts: dict[str, deque[Fault]] = {}
        self._defaults: dict[str, Fault] = {}
        self._responders: dict[str, Responder] = {}
        self._windows: dict[str, _Window] = {}
        self._requests: list[RecordedRequest] = []
        self._rejections: list[tuple[str, float, float]] = []
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # lifecycle
    def start(self) -> Self:
        self._stop.clear()
        self._httpd = _Server(self._address, _Handler)
        self._httpd.fake = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="fake-openai"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # wake every hanging handler first
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self._address[0]}:{self.port}/v1"

    # scripting
    def script(self, model: str, *faults: Fault) -> None:
        """Queue ``faults`` (FIFO) for ``model``; each request pops one."""
        with self._lock:
            self._scripts.setdefault(model, deque()).extend(faults)

    def clear_script(self, model: str) -> None:
        """Drop what is still queued for ``model`` (a scripted fault the client never asked for)."""
        with self._lock:
            self._scripts.pop(model, None)

    def set_default(self, model: str, fault: Fault | None) -> None:
        """What ``model`` answers once its script is empty (``None`` -> ``Fault.ok()``)."""
        _put(self._lock, self._defaults, model, fault)

    def set_responder(self, model: str, fn: Responder | None) -> None:
        """``fn(request_body) -> content`` for ok responses of ``model`` that carry no fixed content."""
        _put(self._lock, self._responders, model, fn)

    def rate_limit_rpm(self, model: str, rpm: int | None, *, window_s: float = 60.0) -> None:
        """Enforce ``rpm`` requests per sliding ``window_s`` for ``model`` (``None`` removes the limit)."""
        _put(self._lock, self._windows, model, None if rpm is None else _Window(rpm, window_s))

    def reset(self) -> None:
        """Forget scripts, defaults, responders, rate limits and recorded requests."""
        with self._lock:
            for store in (self._scripts, self._defaults, self._responders, self._windows):
                store.clear()
            self._requests.clear()
            self._rejections.clear()

    # inspection
    @property
    def models(self) -> list[str]:
        """Every model asked for so far, or scripted, in first-seen order."""
        with self._lock:
            seen = [r.model for r in self._requests] + [*self._scripts, *self._defaults, *self._responders]
        return list(dict.fromkeys(seen))

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, model: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.model == model]

    @property
    def rate_limited(self) -> list[tuple[str, float, float]]:
        """(model, monotonic time, retry-after seconds) of every 429 the rpm window sent."""
        with self._lock:
            return list(self._rejections)

    # internals used by the handler
    def _next(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[Fault, dict[str, str]]:
        model = str(body.get("model", ""))
        now = time.monotonic()
        with self._lock:
            self._requests.append(RecordedRequest(model, path, body, headers, now))
            extra: dict[str, str] = {}
            if window := self._windows.get(model):
                admitted, extra = window.admit(now)
                if not admitted:
                    self._rejections.append((model, now, float(extra["retry-after-ms"]) / 1000))
                    return Fault.status(429, message=f"Rate limit reached for {model} on requests."), extra
            queue = self._scripts.get(model)
            fault = queue.popleft() if queue else self._defaults.get(model, Fault.ok())
            return fault, extra

    def _completion(self, fault: Fault, body: dict[str, Any]) -> dict[str, Any]:
        model = str(body.get("model", ""))
        content = fault.content
        if content is None and not fault.null_content:
            with self._lock:
                responder = self._responders.get(model)
            responder = responder or self._default_responder
            content = responder(body) if responder else DEFAULT_TEXT
        prompt = fault.prompt_tokens
        prompt = len(json.dumps(body.get("messages", []))) // 4 if prompt is None else prompt
        completion = fault.completion_tokens
        completion = len(content or fault.refusal_text or "") // 4 if completion is None else completion
        message = {"role": "assistant", "content": content, "refusal": fault.refusal_text}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": fault.finish_reason}
        usage = dict(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)
        return {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [choice],
            "usage": usage,
            "system_fingerprint": None,
        }
