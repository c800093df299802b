"""The conformance probe's HTTP side: raw chat requests, whole or streamed (or dropped at the first chunk),
their replies assembled, and every exchange kept for the report and ``--record`` with the key stripped."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from v4agent.engine.stream import StreamAssembler, iter_sse_data, reply_from_completion
from v4agent.engine.types import ChatReply

PROBE_TIMEOUT_S = 120.0
_SECRET_HEADERS = {"authorization", "set-cookie", "cookie", "x-api-key", "api-key"}


@dataclass(frozen=True)
class Exchange:
    """One request and what came back: status, raw body text, the assembled reply and the raw usage."""

    step: str
    request: dict[str, Any]
    status: int
    body: str  # raw response text: a JSON body, or the SSE lines of a stream
    headers: dict[str, str]
    reply: ChatReply | None = None
    usage: dict[str, Any] | None = None
    first_delta: dict[str, Any] | None = None  # the first streamed delta, as sent
    cancelled: bool = False  # dropped after the first chunk on purpose
    error: str = ""  # the error message of a non-2xx reply, or why the reply could not be read

    @property
    def ok(self) -> bool:
        """A 2xx reply that could be read."""
        return 200 <= self.status < 300 and not self.error


@dataclass
class Wire:
    """Raw chat requests against one endpoint; ``exchanges`` keeps every one, in order."""

    base_url: str
    api_key: str
    timeout: float = PROBE_TIMEOUT_S
    exchanges: list[Exchange] = field(default_factory=list)

    def __post_init__(self) -> None:
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        self._http = httpx.Client(base_url=self.base_url.rstrip("/"), headers=headers,
                                  timeout=httpx.Timeout(self.timeout, connect=10.0))

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def get_json(self, step: str, path: str) -> Exchange:
        """A GET whose reply is JSON (the model list)."""
        try:
            response = self._http.get(path)
        except httpx.HTTPError as exc:
            return self._keep(Exchange(step, {"GET": path}, 0, "", {}, error=type(exc).__name__))
        return self._keep(Exchange(step, {"GET": path}, response.status_code, response.text,
                                   _public_headers(response.headers), error=_error_of(response)))

    def chat(self, step: str, body: dict[str, Any], *, cancel_after_first: bool = False) -> Exchange:
        """POST /chat/completions; a stream is read to its end, or dropped after its first data chunk."""
        try:
            if body.get("stream"):
                return self._keep(self._stream(step, body, cancel_after_first))
            response = self._http.post("/chat/completions", json=body)
        except httpx.HTTPError as exc:
            return self._keep(Exchange(step, body, 0, "", {}, error=f"{type(exc).__name__}: {exc}"))
        error = _error_of(response)
        reply = usage = None
        if not error:
            try:
                parsed = json.loads(response.text.strip())
                reply, usage = reply_from_completion(parsed), parsed.get("usage")
            except (ValueError, AttributeError) as exc:
                error = f"not a chat completion: {exc}"
        return self._keep(Exchange(step, body, response.status_code, response.text,
                                   _public_headers(response.headers), reply, usage, error=error))

    def _stream(self, step: str, body: dict[str, Any], cancel_after_first: bool) -> Exchange:
        with self._http.stream("POST", "/chat/completions", json=body) as response:
            headers = _public_headers(response.headers)
            if response.status_code >= 400:
                response.read()
                return Exchange(step, body, response.status_code, response.text, headers,
                                error=_error_of(response))
            lines: list[str] = []
            assembler = StreamAssembler()
            usage: dict[str, Any] | None = None
            first: dict[str, Any] | None = None
            for payload in iter_sse_data(_kept(response.iter_lines(), lines)):
                chunk = json.loads(payload)
                for choice in chunk.get("choices") or []:
                    if first is None and isinstance(choice, Mapping):
                        first = dict(choice.get("delta") or {})
                usage = chunk.get("usage") or usage
                assembler.feed(chunk, emit=False)
                if cancel_after_first:
                    return Exchange(step, body, response.status_code, "\n".join(lines), headers,
                                    first_delta=first, cancelled=True)
        error = "" if assembler.finished else "the stream ended before its finish"
        reply = assembler.reply({}) if assembler.finished else None
        return Exchange(step, body, response.status_code, "\n".join(lines), headers, reply, usage, first, error=error)

    def _keep(self, exchange: Exchange) -> Exchange:
        self.exchanges.append(exchange)
        return exchange

    def record(self, directory: Path) -> list[Path]:
        """Write each exchange to ``directory`` as ``NN-step.json``, with the key nowhere in it."""
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for number, exchange in enumerate(self.exchanges, 1):
            document = {"step": exchange.step, "request": exchange.request, "status": exchange.status,
                        "headers": exchange.headers, "response": exchange.body, "cancelled": exchange.cancelled,
                        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            text = json.dumps(document, ensure_ascii=False, indent=2)
            if self.api_key:
                text = text.replace(self.api_key, "***")
            path = directory / f"{number:02d}-{exchange.step}.json"
            path.write_text(text + "\n", encoding="utf-8")
            written.append(path)
        return written


def _kept(lines: Any, into: list[str]) -> Any:
    for line in lines:
        into.append(line)
        yield line


def _public_headers(headers: httpx.Headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _SECRET_HEADERS}


def _error_of(response: httpx.Response) -> str:
    """The error message of a non-2xx reply (OpenAI shape, else the text), or ""."""
    if response.status_code < 400:
        return ""
    try:
        error = json.loads(response.text).get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, Mapping) and isinstance(error.get("message"), str):
        return str(error["message"])
    return response.text.strip()[:300] or f"HTTP {response.status_code}"
