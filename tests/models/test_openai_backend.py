"""The OpenAI-compatible back-end against a real HTTP server on loopback.

The server speaks the chat-completions streaming protocol (server-sent events) and answers with
the embedded model, so the endpoint path can be compared with the in-process path.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import TRAVEL_QUESTION, free_port
from travelbot.config import Settings
from travelbot.errors import TravelbotError
from travelbot.models import Base, Variant, generate
from travelbot.models.openai_backend import OpenAIBackend


def make_handler(local_variant):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output quiet
            pass

        def do_POST(self):
            if self.path != "/v1/chat/completions":
                self.send_error(404)
                return
            if self.headers.get("Authorization") != "Bearer secret-key":
                self._json(401, {"error": {"message": "bad key", "type": "invalid_request_error"}})
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if body["model"] == "overloaded":
                self._json(503, {"error": {"message": "model is overloaded", "type": "server_error"}})
                return
            generation = generate(
                local_variant, body["messages"], max_new_tokens=body["max_tokens"], temperature=body["temperature"]
            )
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": int(time.time()), "model": body["model"]}
            for chunk in generation:
                event = {**base, "choices": [{"index": 0, "delta": {"content": chunk}, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.flush()
            finish = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": generation.stats.finish_reason}]}
            usage = {**base, "choices": [], "usage": {
                "prompt_tokens": generation.stats.prompt_tokens,
                "completion_tokens": generation.stats.completion_tokens,
                "total_tokens": generation.stats.prompt_tokens + generation.stats.completion_tokens,
            }}
            for event in (finish, usage):
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")

        def _json(self, status, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture(scope="module")
def endpoint(base_variant):
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), make_handler(base_variant))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def remote_variant(endpoint: str, model: str = "smollm2", key_env: str = "TB_TEST_KEY") -> Variant:
    base = Base(name="remote", endpoint=endpoint, model=model, api_key_env=key_env,
                system_prompt="You are a helpful travel assistant.")
    return Variant(name="remote", base=base)


def stream(variant: Variant, key: str | None = "secret-key", **settings):
    from travelbot.models import GenerationSettings, GenerationStats

    backend = OpenAIBackend(variant.base, Settings(), timeout=30)
    if key is not None:
        backend.client.api_key = key
    stats = GenerationStats()
    messages = [{"role": "system", "content": variant.base.system_prompt}, *TRAVEL_QUESTION]
    text = "".join(backend.stream(variant, messages, GenerationSettings(**settings), stats))
    return text, stats


def test_endpoint_streams_the_same_answer_as_in_process(endpoint, base_variant):
    text, stats = stream(remote_variant(endpoint), temperature=0.0, max_new_tokens=24)
    local_messages = [{"role": "system", "content": "You are a helpful travel assistant."}, *TRAVEL_QUESTION]
    local = generate(base_variant, local_messages, temperature=0.0, max_new_tokens=24).result()
    assert text == local and text.strip()
    assert stats.completion_tokens > 0 and stats.prompt_tokens > 0
    assert stats.finish_reason in {"stop", "length"}


def test_endpoint_errors_are_one_clear_sentence(endpoint):
    with pytest.raises(TravelbotError, match="refused the API key; set TB_TEST_KEY"):
        stream(remote_variant(endpoint), key="wrong")
    with pytest.raises(TravelbotError, match="HTTP 503"):
        stream(remote_variant(endpoint, model="overloaded"))
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(TravelbotError, match="Could not reach the endpoint"):
        stream(remote_variant(dead))
