"""A small OpenAI-compatible chat-completions server on loopback, for tests and benchmarks.

It speaks the real protocol (JSON and server-sent-event streaming, usage, errors), so the ``openai``
client talks to it unchanged. Answers come from a function of the request; failures (HTTP 429/500,
slow answers) can be queued to check retries and timeouts. Every request body is kept in ``requests``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[dict[str, Any]], str]


def echo(body: dict[str, Any]) -> str:
    """The default answer: a short sentence that repeats the last user message."""
    question = next((m["content"] for m in reversed(body.get("messages", [])) if m.get("role") == "user"), "")
    return f"You asked about {str(question)[:60]}. Here is a short, helpful travel answer."


class OpenAIServer:
    """``with OpenAIServer() as server: OpenAI(base_url=server.base_url, api_key="k")``."""

    def __init__(self, answer: Answer = echo, *, api_key: str | None = None, port: int = 0) -> None:
        self.answer = answer
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str | None] = []  # the Authorization header of every request
        self.failures: deque[tuple[int, float]] = deque()  # (status, delay seconds) for the next requests
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def fail_next(self, status: int, times: int = 1, delay: float = 0.0) -> None:
        """Answer the next ``times`` requests with HTTP ``status`` (0 = no error, only the delay)."""
        with self._lock:
            self.failures.extend([(status, delay)] * times)

    def __enter__(self) -> OpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._json(200, {"object": "list", "data": [{"id": "any", "object": "model"}]})
                else:
                    self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

            def do_POST(self) -> None:
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                    return
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                with server._lock:
                    server.requests.append(body)
                    server.authorizations.append(self.headers.get("Authorization"))
                    status, delay = server.failures.popleft() if server.failures else (0, 0.0)
                if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    self._json(401, {"error": {"message": "Incorrect API key", "type": "invalid_request_error"}})
                    return
                if delay:
                    time.sleep(delay)
                if status:
                    kind = "rate_limit_exceeded" if status == 429 else "server_error"
                    self._json(status, {"error": {"message": f"injected {status}", "type": kind}})
                    return
                try:
                    text = server.answer(body)
                except LookupError as exc:  # as vLLM answers a model (or LoRA adapter) it does not serve
                    self._json(404, {"error": {"message": str(exc).strip("'\""), "type": "NotFoundError"}})
                    return
                words = text.split(" ")
                usage = {"prompt_tokens": sum(len(str(m.get("content", "")).split()) for m in body["messages"]),
                         "completion_tokens": len(words)}
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                head = {"id": "chatcmpl-loopback", "created": int(time.time()), "model": body.get("model", "")}
                if not body.get("stream"):
                    self._json(200, {**head, "object": "chat.completion", "usage": usage, "choices": [{
                        "index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}]})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                chunk = {**head, "object": "chat.completion.chunk"}
                for i, word in enumerate(words):
                    delta = {"content": word if i == 0 else " " + word}
                    self._event({**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
                self._event({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                if (body.get("stream_options") or {}).get("include_usage"):
                    self._event({**chunk, "choices": [], "usage": usage})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _event(self, payload: dict[str, Any]) -> None:
                self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
