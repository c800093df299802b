"""A tiny loopback HTTP server for the wire-rule tests: each test scripts exactly the bytes it needs.

The shared stand-in (``v4agent.testing``) models the whole service; the rules here need replies it may not give
(a 429 without ``Retry-After``, a socket that never answers, a stream of keep-alives that never ends, a finish
reason the service sets on its own), so they are written against this fake, which does only what it is told.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CREATED = 1_789_437_600  # 2026-09-15 02:00 UTC, a Tuesday: peak hours, after deepseek-v4-pro was routed


class Exchange:
    """One request as the fake saw it, and the means to answer it."""

    def __init__(self, handler: BaseHTTPRequestHandler, body: Any, number: int, stop: threading.Event) -> None:
        self.handler = handler
        self.body = body
        self.number = number  # 0 for the first request the fake got
        self.stop = stop  # set when the test ends: blocked answers return

    def json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        """A whole JSON reply."""
        data = json.dumps(payload).encode()
        h = self.handler
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(data)
        h.wfile.flush()

    def error(self, status: int, message: str, code: str = "invalid_request_error",
              headers: dict[str, str] | None = None) -> None:
        """An error in DeepSeek's shape."""
        self.json(status, {"error": {"message": message, "type": code, "param": None, "code": code}}, headers)

    def start_stream(self) -> None:
        """Status line and headers of an SSE stream that ends when the connection closes."""
        h = self.handler
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.flush()

    def write(self, text: str) -> bool:
        """Write raw stream text; False once the client has gone away."""
        try:
            self.handler.wfile.write(text.encode())
            self.handler.wfile.flush()
        except OSError:
            return False
        return True

    def sse(self, chunks: Iterable[dict[str, Any]], *, done: bool = True) -> None:
        """A whole SSE stream of ``chunks``, then ``[DONE]``."""
        self.start_stream()
        for chunk in chunks:
            self.write(f"data: {json.dumps(chunk)}\n\n")
        if done:
            self.write("data: [DONE]\n\n")

    def every(self, text: str, gap_s: float) -> None:
        """Write ``text`` every ``gap_s`` until the client goes away or the test ends."""
        while not self.stop.is_set() and self.write(text):
            time.sleep(gap_s)

    def hang(self) -> None:
        """Answer nothing at all until the test ends."""
        self.stop.wait(30)


def chunk(delta: dict[str, Any], finish: str | None = None, *, model: str = "deepseek-v4-flash",
          usage: dict[str, Any] | None = None) -> dict[str, Any]:
    """One ``chat.completion.chunk`` as DeepSeek streams it."""
    out: dict[str, Any] = {"id": "fake-1", "object": "chat.completion.chunk", "created": CREATED, "model": model,
                           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage is not None:
        out["usage"] = usage
    return out


def usage(prompt: int = 100, completion: int = 10, hit: int = 0) -> dict[str, Any]:
    """A DeepSeek usage object."""
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_cache_hit_tokens": hit, "prompt_cache_miss_tokens": prompt - hit}


def text_reply(text: str = "ok", finish: str = "stop", *, model: str = "deepseek-v4-flash",
               reasoning: str | None = None) -> list[dict[str, Any]]:
    """The chunks of a plain answer (optionally after some reasoning)."""
    chunks = [chunk({"role": "assistant", "content": ""}, model=model)]
    if reasoning is not None:
        chunks.append(chunk({"reasoning_content": reasoning}, model=model))
    chunks += [chunk({"content": text}, model=model), chunk({}, finish, model=model, usage=usage())]
    return chunks


def tool_reply(name: str, arguments: str, finish: str = "tool_calls", *, call_id: str = "call_1",
               model: str = "deepseek-v4-flash") -> list[dict[str, Any]]:
    """The chunks of one tool call with no reasoning text at all, as the real model often sends them."""
    call = {"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    return [chunk({"role": "assistant", "content": None, "tool_calls": [call]}, model=model),
            chunk({}, finish, model=model, usage=usage())]


class FakeServer:
    """A ThreadingHTTPServer on 127.0.0.1 whose POSTs go to ``respond`` and whose GET /models lists ``models``."""

    def __init__(self, respond: Callable[[Exchange], None], *, models: Iterable[str] = ()) -> None:
        self.respond = respond
        self.models = list(models)
        self.requests: list[Any] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                payload = {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "fake"}
                                                      for m in fake.models]}
                Exchange(self, None, -1, fake.stop).json(200, payload)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
                with fake._lock:
                    number = len(fake.requests)
                    fake.requests.append(body)
                fake.respond(Exchange(self, body, number, fake.stop))
                self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The fake's URL, as an engine's base URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def serving(respond: Callable[[Exchange], None], **kwargs: Any) -> Iterator[FakeServer]:
    """``with serving(respond) as server:`` — a running fake."""
    with FakeServer(respond, **kwargs) as server:
        yield server
