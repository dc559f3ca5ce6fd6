"""A loopback stand-in for an OpenAI-compatible chat server: for tests, the benchmark and demos.

It is not a model: its reply repeats the start of the prompt (all of it with ``echo=True``), so a
test can see exactly what reached the endpoint. Faults can be switched on — HTTP errors for the
first attempts of each prompt, a fixed status, garbage bodies, slow answers, ``Retry-After`` — and
it counts requests and the most requests it served at once.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeBehaviour:
    """What the server does; change fields while it runs to change its behaviour."""

    delay_s: float = 0.0
    errors_before_success: int = 0
    """the first N attempts of each distinct prompt answer ``error_status``"""
    error_status: int = 500
    retry_after_s: float | None = None
    status: int | None = None
    """answer every request with this status (e.g. 401)"""
    garbage: bool = False
    empty_reply: bool = False
    fail_prompts_containing: str | None = None
    echo: bool = False


@dataclass
class FakeStats:
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    attempts_by_prompt: Counter = field(default_factory=Counter)
    prompts: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeOpenAIServer:
    """``with FakeOpenAIServer() as server: ... server.base_url ...`` (``http://127.0.0.1:P/v1``)."""

    def __init__(self, behaviour: FakeBehaviour | None = None) -> None:
        self.behaviour = behaviour or FakeBehaviour()
        self.stats = FakeStats()
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.request_queue_size = 64
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reply_for(self, model: str, prompt: str) -> str:
        flat = " ".join(prompt.split())
        shown = flat if self.behaviour.echo else flat[:160]
        return f"[fake reply from {model}, not a model] {shown}"


def _make_handler(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            return

        def do_POST(self) -> None:  # noqa: N802 — the http.server API
            stats, behaviour = server.stats, server.behaviour
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
            prompt = body["messages"][-1]["content"]
            with stats.lock:
                stats.requests += 1
                stats.in_flight += 1
                stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
                stats.attempts_by_prompt[prompt] += 1
                stats.prompts.append(prompt)
                attempt = stats.attempts_by_prompt[prompt]
            try:
                time.sleep(behaviour.delay_s)
                self._answer(behaviour, body, prompt, attempt)
            finally:
                with stats.lock:
                    stats.in_flight -= 1

        def _answer(self, behaviour: FakeBehaviour, body: dict, prompt: str,
                    attempt: int) -> None:
            if behaviour.status is not None:
                return self._send(behaviour.status, {"error": {"message": "fake error"}})
            failing = (behaviour.fail_prompts_containing is not None
                       and behaviour.fail_prompts_containing in prompt)
            if failing or attempt <= behaviour.errors_before_success:
                headers = {}
                if behaviour.retry_after_s is not None:
                    headers["Retry-After"] = f"{behaviour.retry_after_s:g}"
                return self._send(behaviour.error_status, {"error": {"message": "try later"}},
                                  headers)
            if behaviour.garbage:
                return self._send(200, "<html>not json</html>")
            content = "" if behaviour.empty_reply else server.reply_for(body["model"], prompt)
            return self._send(200, {"id": "fake", "object": "chat.completion",
                                    "model": body["model"], "choices": [{
                                        "index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": content}}]})

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None
                  ) -> None:
            data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def main() -> None:
    """``python tests/text/fake_openai.py [DELAY_MS]``: serve until killed, print the base URL."""
    delay_ms = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    with FakeOpenAIServer(FakeBehaviour(delay_s=delay_ms / 1000)) as server:
        print(server.base_url, flush=True)
        server._thread.join()


if __name__ == "__main__":
    main()
