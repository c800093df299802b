"""Replaying what ``v4agent engine check --record DIR`` saved: a loopback server that answers each request with
the next recorded response, byte for byte (status, content type, body; a stream's SSE lines as they came).

A probe run against a real engine (the vLLM CPU build, or the DeepSeek API with a key) becomes a fixture that
ordinary tests replay with no engine at all. Requests must come in the recorded order: each is checked against
its recording (method, path, model, whether it streams) and a mismatch is answered 500 with what was expected,
so a probe that changed its steps fails loudly instead of reading someone else's answer. The probe's nonce
differs per run, so message text is not compared.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["Recorded", "ReplayServer", "load_recording"]

# Framing headers describe the recorded transfer, not the replayed one: the server sets its own.
_DROPPED = {"content-length", "transfer-encoding", "connection", "date", "server", "content-encoding"}


@dataclass(frozen=True)
class Recorded:
    """One saved exchange: the request as sent, and the response as it came back."""

    step: str
    request: dict[str, Any]
    status: int
    headers: dict[str, str]
    response: str
    cancelled: bool


def load_recording(directory: Path) -> list[Recorded]:
    """The exchanges saved in ``directory`` (``NN-step.json``), in order."""
    out = []
    for path in sorted(directory.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        out.append(Recorded(str(doc["step"]), dict(doc["request"]), int(doc["status"]), dict(doc["headers"]),
                            str(doc["response"]), bool(doc.get("cancelled"))))
    return out


def _shape(method: str, path: str, body: dict[str, Any]) -> tuple[str, str, Any, bool]:
    return method, path.rsplit("/", 1)[-1], body.get("model"), bool(body.get("stream"))


class ReplayServer:
    """A loopback server answering from a recording; ``base_url`` ends in ``/v1``; ``served`` counts answers."""

    def __init__(self, recording: list[Recorded]) -> None:
        self.recording = recording
        self.served = 0
        self.mismatches: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                return

            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                status, headers, text = server.next_answer(method, self.path, body if isinstance(body, dict) else {})
                data = text.encode("utf-8")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def base_url(self) -> str:
        """The replayed endpoint's base URL."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def next_answer(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], str]:
        """The next recorded response, if the request has the recorded shape; else a 500 saying why."""
        with self._lock:
            if self.served >= len(self.recording):
                return self._refuse(f"the recording has {len(self.recording)} exchanges; request {method} {path} "
                                    "is one more")
            recorded = self.recording[self.served]
            want = recorded.request
            expected = _shape("GET", str(want["GET"]), {}) if "GET" in want else _shape(
                "POST", "/chat/completions", want)
            got = _shape(method, path, body)
            if got != expected:
                return self._refuse(f"exchange {self.served + 1} ({recorded.step}): expected {expected}, got {got}")
            self.served += 1
        headers = {k: v for k, v in recorded.headers.items() if k.lower() not in _DROPPED}
        text = recorded.response + ("\n\n" if recorded.response and "event-stream" in
                                    headers.get("content-type", "") else "")
        return recorded.status, headers, text

    def _refuse(self, why: str) -> tuple[int, dict[str, str], str]:
        self.mismatches.append(why)
        return 500, {"content-type": "application/json"}, json.dumps({"error": {"message": f"replay: {why}"}})

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
