"""The HTTP side of the stand-in: routes, auth, faults, whole replies and SSE streams on HTTP/1.1."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol, cast

from v4agent.testing.records import ApiError, Billing, CallRecord, Fault
from v4agent.testing.wire import (
    SSE_DONE,
    SSE_KEEPALIVE,
    BalanceInfo,
    Mode,
    ReplyFrame,
    ReplyUsage,
    ScriptedReply,
    balance_body,
    concurrency_message,
    error_body,
    sse_event,
    stream_chunks,
    whole_reply,
)


class ChatService(Protocol):
    """What the handler needs of the stand-in that owns its server (kept here, so neither imports the other)."""

    api_key: str | None
    mode: Mode
    models: tuple[str, ...]
    chunk_chars: int
    chunk_delay: float
    balance: tuple[BalanceInfo, ...]

    def prefix_cache_metrics(self) -> str:
        """The /metrics body: vLLM's prefix-cache counters, as Prometheus text."""
        ...

    def add_call(self, record: CallRecord) -> None:
        """Keep the record of a call (called from handler threads)."""
        ...

    def next_fault(self) -> Fault | None:
        """Take the next queued fault to inject, or None."""
        ...

    def prepare_reply(self, body: dict[str, Any],
                      record: CallRecord) -> tuple[ReplyFrame, ScriptedReply, ReplyUsage, Billing]:
        """Validate a request and pick its reply, usage and cache hit, before anything is sent."""
        ...

    def store_units(self, billing: Billing, *, answered: bool) -> None:
        """Persist a served request's cache units (``answered`` False when the reply was cut or cancelled)."""
        ...


_WRITE_BYTES = 8192


class _ClientGone(Exception):
    pass


_ERROR_FAULTS = frozenset({"429", "500", "503", "402"})


def _fault_error(fault: Fault) -> ApiError:
    """The error an injected fault answers, in DeepSeek's wording.

    429: the concurrency refusal, with no Retry-After ("No `Retry-After` or rate-limit headers": a client
    probing for them found none, https://github.com/tarigelamin1997/jobfetcher/pull/42); its type and code are
    not documented. 402 and 503: https://api-docs.deepseek.com/quick_start/error_codes.
    """
    if fault.kind == "429":
        headers: dict[str, str] = {}
        if fault.retry_after is not None:  # other OpenAI-compatible servers send one; DeepSeek does not
            shown = str(int(fault.retry_after)) if float(fault.retry_after).is_integer() else f"{fault.retry_after:g}"
            headers = {"Retry-After": shown, "retry-after-ms": str(int(fault.retry_after * 1000))}
        return ApiError(429, concurrency_message(fault.concurrency, fault.limit), "rate_limit_error",
                        "rate_limit_exceeded", headers)
    if fault.kind == "402":
        return ApiError(402, "Insufficient Balance", "unknown_error", "invalid_request_error")
    if fault.kind == "503":
        return ApiError(503, "Server overloaded, please try again later", "server_error", "server_overloaded")
    return ApiError(500, "Internal server error (injected)", "server_error", "internal_error")


class ChatHandler(BaseHTTPRequestHandler):
    """The stand-in's HTTP routes: /models, chat completions, and vLLM's /health and /metrics."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, delayed ACKs stall every reply.
    disable_nagle_algorithm = True
    server_version = "v4agent-standin/1"

    @property
    def standin(self) -> ChatService:
        """The stand-in this server belongs to (its replies, faults and cache)."""
        return cast("ChatService", self.server.standin)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        """Log nothing (the base class writes every request to stderr)."""
        return

    # -- plumbing ---------------------------------------------------------------------------------------
    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_text(self, status: int, text: str) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_error(self, err: ApiError) -> None:
        self._send_json(err.status, error_body(err.message, err.type_, err.code), err.headers)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _authorized(self) -> bool:
        key = self.standin.api_key
        return key is None or self.headers.get("Authorization", "") == f"Bearer {key}"

    def _auth_error(self) -> ApiError:
        return ApiError(401, "Authentication Fails, Your api key is invalid", "authentication_error",
                         "invalid_request_error")

    def _write_chunk(self, data: bytes, *, last: bool = False) -> None:
        """One chunk of the chunked body; empty data writes nothing unless ``last`` (the terminator)."""
        if not data and not last:
            return
        try:
            self.wfile.write((b"%x\r\n%s\r\n" % (len(data), data) if data else b"")
                             + (b"0\r\n\r\n" if last else b""))
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as exc:
            raise _ClientGone from exc

    # -- routes -----------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        """Answer the model list, DeepSeek's /user/balance, or, in vllm mode, /health and /metrics without auth."""
        path = self.path.split("?", 1)[0].rstrip("/")
        if self.standin.mode == "vllm" and path in ("/health", "/metrics"):  # vLLM serves these unauthenticated
            text = "" if path == "/health" else self.standin.prefix_cache_metrics()
            self._send_text(200, text)
            return
        balance = self.standin.mode == "deepseek" and path in ("/user/balance", "/v1/user/balance")
        if path not in ("/models", "/v1/models") and not balance:
            self._send_error(ApiError(404, f"no route for GET {path}", "not_found", None))
            return
        if not self._authorized():
            self._send_error(self._auth_error())
            return
        if balance:
            infos = self.standin.balance
            available = any(float(i.total_balance) > 0 for i in infos)
            self._send_json(200, balance_body(infos, available))
            return
        owner = "deepseek" if self.standin.mode == "deepseek" else "vllm"
        data = [{"id": m, "object": "model", "owned_by": owner} for m in self.standin.models]
        self._send_json(200, {"object": "list", "data": data})

    def do_POST(self) -> None:
        """Answer a chat completion (whole or streamed), applying the next queued fault if any."""
        path = self.path.split("?", 1)[0].rstrip("/")
        raw = self._read_body()
        if path not in ("/chat/completions", "/v1/chat/completions"):
            self._send_error(ApiError(404, f"no route for POST {path}", "not_found", None))
            return
        standin = self.standin
        try:
            body = json.loads(raw or b"null")
        except ValueError as exc:
            body = None
            parse_error = f"Failed to deserialize the JSON body into the target type: {exc}"
        else:
            parse_error = "" if isinstance(body, dict) else "the request body must be a JSON object"
        record = CallRecord(request=body if isinstance(body, dict) else {}, path=path,
                            stream=isinstance(body, dict) and bool(body.get("stream")))
        standin.add_call(record)
        fault = standin.next_fault()
        record.fault = fault.kind if fault else None
        try:
            self._chat(record, fault, parse_error)
        except ApiError as err:
            record.status, record.error = err.status, err.message
            self._send_error(err)
        except _ClientGone:
            record.cancelled = True
            self.close_connection = True

    def _chat(self, record: CallRecord, fault: Fault | None, parse_error: str) -> None:
        standin = self.standin
        if not self._authorized() or (fault and fault.kind == "401"):
            raise self._auth_error()
        if fault is not None and fault.kind in _ERROR_FAULTS:
            raise _fault_error(fault)
        if parse_error:
            raise ApiError(400, parse_error)
        frame, reply, usage, billing = standin.prepare_reply(record.request, record)
        if fault and fault.kind == "slow_first_byte":
            time.sleep(fault.delay)
        keepalives = fault.count if fault and fault.kind == "keepalive" else 0
        gap = fault.delay if fault else 0.0
        cut_after = fault.after if fault and fault.kind == "cut_stream" else None
        record.status = 200
        if record.stream:
            self._stream(record, frame, reply, usage, billing, keepalives, gap, cut_after)
        else:
            self._whole(frame, reply, usage, billing, keepalives, gap, cut_after)

    def _whole(self, frame: ReplyFrame, reply: ScriptedReply, usage: ReplyUsage, billing: Billing,
               keepalives: int, gap: float, cut_after: int | None) -> None:
        data = json.dumps(whole_reply(frame, reply, usage), ensure_ascii=False).encode("utf-8")
        # DeepSeek keeps a queued non-streaming request alive with blank lines before the JSON body.
        padding = b"\n" * keepalives
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(padding) + len(data)))
        self.end_headers()
        try:
            for _ in range(keepalives):
                self.wfile.write(b"\n")
                self.wfile.flush()
                time.sleep(gap)
            if cut_after is not None:
                self.standin.store_units(billing, answered=False)
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.standin.store_units(billing, answered=True)
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as exc:
            raise _ClientGone from exc

    def _stream(self, record: CallRecord, frame: ReplyFrame, reply: ScriptedReply, usage: ReplyUsage,
                billing: Billing, keepalives: int, gap: float, cut_after: int | None) -> None:
        standin = self.standin
        options = record.request.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        chunks = stream_chunks(frame, reply, usage, chunk_chars=standin.chunk_chars,
                               include_usage=include_usage)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        stored = False
        try:
            for _ in range(keepalives):
                self._write_chunk(SSE_KEEPALIVE)
                time.sleep(gap)
            pending = bytearray()  # with no delay asked for, events are coalesced into fewer writes
            for number, payload in enumerate(chunks):
                if cut_after is not None and number >= cut_after:
                    self._write_chunk(bytes(pending))
                    standin.store_units(billing, answered=False)
                    stored = True
                    self.close_connection = True  # no terminating chunk: the client sees a cut stream
                    return
                if number == len(chunks) - 1:
                    # Bill before the last bytes go out, so a client that has read [DONE] sees the record.
                    standin.store_units(billing, answered=True)
                    stored = True
                pending += sse_event(payload)
                if standin.chunk_delay or len(pending) >= _WRITE_BYTES:
                    self._write_chunk(bytes(pending))
                    pending.clear()
                    time.sleep(standin.chunk_delay)
            self._write_chunk(bytes(pending) + SSE_DONE, last=True)
        except _ClientGone:
            if not stored:
                standin.store_units(billing, answered=False)
            raise
