"""A loopback stand-in for the DeepSeek API (or a vLLM server) that the whole test suite talks to.

    with StandIn(replies=[ScriptedReply(content="hi")]) as server:
        client = OpenAI(base_url=server.base_url, api_key="sk-test")
        ...
        server.calls[0].cache_hit

A real HTTP/1.1 server on 127.0.0.1 (keep-alive; streams use chunked transfer encoding) speaking the
chat-completions wire format: whole JSON replies and SSE streams. Replies come from a script (consumed in order)
and then from ``handler(request_json)`` if one is given; running out of both answers 500 with a clear message.

The context cache is simulated with V4's unit rules (``v4agent.cacheunits.UnitStore``) over the request rendered
with the V4 tokenizer (``v4agent.chatrender``), one cache per (model, thinking, effort) since changing those
starts a new cache. ``mode="vllm"`` matches in 16-token blocks instead and reports only
``prompt_tokens_details.cached_tokens``. Every reply's usage also carries ``standin_theoretical_max_hit``.

Thinking mode (deepseek mode): on when ``thinking.type == "enabled"``; off when it is ``"disabled"``; when
``thinking`` is absent it is on only if ``reasoning_effort`` is given. In thinking mode an earlier assistant turn
with ``tool_calls`` but no ``reasoning_content`` is answered with DeepSeek's 400 — so scripted tool-call replies
for thinking-mode sessions should carry some reasoning, as the real model's always do.

Faults (``server.faults``) are consumed one per chat request, in order: "429" (with ``Retry-After``), "500",
"402" (insufficient balance), "401", "cut_stream" (close the socket after ``after`` chunks, no ``[DONE]``),
"slow_first_byte" (wait ``delay`` s before answering), "keepalive" (``count`` SSE ``: keep-alive`` comments,
or blank lines for a whole reply, ``delay`` s apart, before the reply). GET requests consume no fault.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast

from v4agent.cacheunits import BlockStore, UnitStore, common_prefix_len, theoretical_max_hit
from v4agent.chatrender import content_text, render_output, render_request
from v4agent.testing.wire import (
    SSE_DONE,
    SSE_KEEPALIVE,
    Mode,
    ReplyFrame,
    ReplyUsage,
    ScriptedReply,
    ScriptedToolCall,
    error_body,
    reply_message,
    sse_event,
    stream_chunks,
    tool_call_ids,
    whole_reply,
    )
from v4agent.tokenizer import Tokenizer, get_tokenizer

__all__ = ["CallRecord", "Fault", "ScriptedReply", "ScriptedToolCall", "StandIn"]

DEFAULT_MODELS = ("deepseek-v4-flash", "deepseek-v4-pro")
# Older names the real API still accepts; served but not listed.
ALIAS_MODELS = ("deepseek-flash", "deepseek-chat", "deepseek-reasoner")
CONTEXT_WINDOW = 1_048_576
MAX_OUTPUT = 393_216
_ROLES = {"system", "user", "assistant", "tool", "developer"}
_FAULT_KINDS = {"429", "500", "402", "401", "cut_stream", "slow_first_byte", "keepalive"}


@dataclass
class Fault:
    kind: str
    retry_after: float | None = None  # "429": the Retry-After header, seconds
    delay: float = 0.0                # "slow_first_byte": wait; "keepalive": gap between comments
    count: int = 3                    # "keepalive": how many comments
    after: int = 3                    # "cut_stream": chunks sent before the socket is closed

    def __post_init__(self) -> None:
        if self.kind not in _FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; choose one of {sorted(_FAULT_KINDS)}")


@dataclass
class CallRecord:
    """One chat request as the stand-in saw and billed it."""

    request: dict[str, Any]
    status: int = 0
    prompt_tokens: int = 0
    cache_hit: int = 0
    cache_miss: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    theoretical_max_hit: int = 0
    stream: bool = False
    fault: str | None = None
    cancelled: bool = False   # the client went away mid-stream (the input unit is still stored)
    error: str = ""
    reply: dict[str, Any] | None = None  # the assistant message sent, as a client should send it back
    path: str = ""


class _ClientGone(Exception):
    pass


class _ApiError(Exception):
    def __init__(self, status: int, message: str, type_: str = "invalid_request_error",
                 code: str | None = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.type_, self.code = status, message, type_, code


@dataclass
class _Cache:
    units: UnitStore | None
    blocks: BlockStore | None
    history: list[list[int]] = field(default_factory=list)

    def lookup(self, tokens: list[int]) -> tuple[int, int]:
        hit = self.units.lookup(tokens) if self.units is not None else 0
        if self.blocks is not None:
            hit = self.blocks.lookup(tokens)
        return hit, theoretical_max_hit(self.history, tokens)

    def store(self, input_tokens: list[int], output_tokens: list[int]) -> None:
        if self.units is not None:
            self.units.store(input_tokens, output_tokens)
        if self.blocks is not None:
            self.blocks.store(input_tokens, output_tokens)
        full = [*input_tokens, *output_tokens]
        self.history = [h for h in self.history if common_prefix_len(h, full) < len(h)]
        self.history.append(full)


class StandIn:
    """The loopback server; use as a context manager (or call ``start``/``stop``)."""

    def __init__(self, replies: Sequence[ScriptedReply] | None = None,
                 handler: Callable[[dict[str, Any]], ScriptedReply] | None = None, *,
                 mode: Mode = "deepseek", api_key: str | None = "sk-test", unit_interval: int | None = 4096,
                 chunk_chars: int = 7, chunk_delay: float = 0.0, block_size: int = 16,
                 models: Sequence[str] = DEFAULT_MODELS, context_window: int = CONTEXT_WINDOW,
                 tokenizer: Tokenizer | None = None) -> None:
        if mode not in ("deepseek", "vllm"):
            raise ValueError("mode must be 'deepseek' or 'vllm'")
        self.replies: list[ScriptedReply] = list(replies or [])
        self.handler = handler
        self.mode: Mode = mode
        self.api_key = api_key
        self.unit_interval = unit_interval
        self.block_size = block_size
        self.chunk_chars = chunk_chars
        self.chunk_delay = chunk_delay
        self.models = tuple(models)
        self.context_window = context_window
        self.faults: list[Fault] = []
        self.calls: list[CallRecord] = []
        self.tokenizer = tokenizer or get_tokenizer("deepseek-v4")
        self._caches: dict[tuple[str, bool, str], _Cache] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> StandIn:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True
        httpd.standin = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the stand-in is not running")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def reset_cache(self) -> None:
        """Forget every stored unit (as if the provider evicted its cache)."""
        with self._lock:
            self._caches.clear()

    # -- request processing (called from handler threads) ----------------------------------------------
    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self.faults.pop(0) if self.faults else None

    def _cache_for(self, key: tuple[str, bool, str]) -> _Cache:
        cache = self._caches.get(key)
        if cache is None:
            if self.mode == "vllm":
                cache = _Cache(None, BlockStore(self.block_size))
            else:
                cache = _Cache(UnitStore(self.unit_interval), None)
            self._caches[key] = cache
        return cache

    def _next_reply(self, body: dict[str, Any]) -> ScriptedReply:
        with self._lock:
            if self.replies:
                return self.replies.pop(0)
        if self.handler is not None:
            try:
                reply = self.handler(body)
            except Exception as exc:  # a broken test handler must show up as a clear 500
                raise _ApiError(500, f"stand-in handler raised {type(exc).__name__}: {exc}",
                                "server_error", "internal_error") from exc
            if not isinstance(reply, ScriptedReply):
                raise _ApiError(500, f"stand-in handler returned {type(reply).__name__}, not ScriptedReply",
                                "server_error", "internal_error")
            return reply
        raise _ApiError(500, f"stand-in script exhausted: no scripted reply left for request "
                             f"{len(self.calls)} and no handler", "server_error", "internal_error")

    def _thinking(self, body: dict[str, Any]) -> bool:
        if self.mode == "vllm":
            kwargs = body.get("chat_template_kwargs")
            return isinstance(kwargs, dict) and bool(kwargs.get("thinking") or kwargs.get("enable_thinking"))
        thinking = body.get("thinking")
        if isinstance(thinking, dict):
            return thinking.get("type") == "enabled"
        return "reasoning_effort" in body

    def _validate(self, body: dict[str, Any], thinking: bool) -> None:
        model = body.get("model")
        if not isinstance(model, str) or model not in (*self.models, *ALIAS_MODELS):
            raise _ApiError(400, "Model Not Exist")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _ApiError(400, "messages must be a non-empty list of message objects")
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in _ROLES:
                raise _ApiError(400, f"Invalid message at index {index}: unknown or missing role")
            if (self.mode == "deepseek" and thinking and message.get("role") == "assistant"
                    and message.get("tool_calls") and not isinstance(message.get("reasoning_content"), str)):
                raise _ApiError(400, f"Missing `reasoning_content` field in the assistant message at message "
                                     f"index {index}. In thinking mode the reasoning_content of a tool-call "
                                     f"turn must be passed back to the API.")
        tools = body.get("tools", [])
        if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
            raise _ApiError(400, "tools must be a list of tool objects")
        max_tokens = body.get("max_tokens")
        if max_tokens is not None and (not isinstance(max_tokens, int) or not 1 <= max_tokens <= MAX_OUTPUT):
            raise _ApiError(400, f"Invalid max_tokens value, the valid range of max_tokens is [1, {MAX_OUTPUT}]")

    def _prepare(self, body: dict[str, Any], record: CallRecord) -> tuple[ReplyFrame, ScriptedReply,
                                                                          ReplyUsage, list[int], list[int], _Cache]:
        thinking = self._thinking(body)
        self._validate(body, thinking)
        rendered = render_request(body["messages"], body.get("tools") or [], self.tokenizer)
        tokens = rendered.tokens
        record.prompt_tokens = len(tokens)
        if len(tokens) > self.context_window:
            raise _ApiError(400, f"This model's maximum context length is {self.context_window} tokens. "
                                 f"However, you requested {len(tokens)} tokens in the messages. "
                                 f"Please reduce the length of the messages.")
        reply = self._next_reply(body)
        number = next(self._ids)
        effort = str(body.get("reasoning_effort", "")) if thinking else ""
        frame = ReplyFrame(id=f"standin-{number:06d}", model=str(body["model"]), created=int(time.time()),
                           mode=self.mode, thinking=thinking, tool_ids=tool_call_ids(reply, number))
        message = reply_message(reply, frame.tool_ids, thinking=thinking)
        output = render_output(message, self.tokenizer)
        reasoning_tokens = self.tokenizer.count(reply.reasoning) if reply.reasoning else 0
        with self._lock:
            cache = self._cache_for((frame.model, thinking, effort))
            hit, best = cache.lookup(tokens)
        usage = ReplyUsage(len(tokens), len(output), reasoning_tokens, hit, best)
        record.cache_hit, record.cache_miss = hit, len(tokens) - hit
        record.output_tokens, record.reasoning_tokens, record.theoretical_max_hit = (
            len(output), reasoning_tokens, best)
        record.reply = {k: v for k, v in message.items() if k != "tool_calls"}
        if reply.tool_calls:
            record.reply["tool_calls"] = [{k: v for k, v in c.items() if k != "index"}
                                          for c in message["tool_calls"]]
        record.reply["content"] = content_text(message.get("content"))
        return frame, reply, usage, tokens, output, cache

    def _store(self, cache: _Cache, tokens: list[int], output: list[int]) -> None:
        with self._lock:
            cache.store(tokens, output)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "v4agent-standin/1"

    @property
    def standin(self) -> StandIn:
        return cast(StandIn, self.server.standin)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
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

    def _send_error(self, err: _ApiError, headers: dict[str, str] | None = None) -> None:
        self._send_json(err.status, error_body(err.message, err.type_, err.code), headers)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _authorized(self) -> bool:
        key = self.standin.api_key
        return key is None or self.headers.get("Authorization", "") == f"Bearer {key}"

    def _auth_error(self) -> _ApiError:
        return _ApiError(401, "Authentication Fails, Your api key is invalid", "authentication_error",
                         "invalid_request_error")

    def _write_chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as exc:
            raise _ClientGone from exc

    # -- routes -----------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in ("/models", "/v1/models"):
            self._send_error(_ApiError(404, f"no route for GET {path}", "not_found", None))
            return
        if not self._authorized():
            self._send_error(self._auth_error())
            return
        owner = "deepseek" if self.standin.mode == "deepseek" else "vllm"
        data = [{"id": m, "object": "model", "owned_by": owner} for m in self.standin.models]
        self._send_json(200, {"object": "list", "data": data})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        raw = self._read_body()
        if path not in ("/chat/completions", "/v1/chat/completions"):
            self._send_error(_ApiError(404, f"no route for POST {path}", "not_found", None))
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
        with standin._lock:
            standin.calls.append(record)
        fault = standin._next_fault()
        record.fault = fault.kind if fault else None
        try:
            self._chat(record, fault, parse_error)
        except _ApiError as err:
            record.status, record.error = err.status, err.message
            self._send_error(err)
        except _ClientGone:
            record.cancelled = True
            self.close_connection = True

    def _chat(self, record: CallRecord, fault: Fault | None, parse_error: str) -> None:
        standin = self.standin
        if not self._authorized() or (fault and fault.kind == "401"):
            raise self._auth_error()
        if fault and fault.kind == "429":
            record.status = 429
            retry = fault.retry_after if fault.retry_after is not None else 1.0
            shown = str(int(retry)) if float(retry).is_integer() else f"{retry:g}"
            err = _ApiError(429, "Rate limit reached for requests", "rate_limit_error", "rate_limit_exceeded")
            record.error = err.message
            self._send_error(err, {"Retry-After": shown, "retry-after-ms": str(int(retry * 1000))})
            return
        if fault and fault.kind == "500":
            raise _ApiError(500, "Internal server error (injected)", "server_error", "internal_error")
        if fault and fault.kind == "402":
            raise _ApiError(402, "Insufficient Balance", "unknown_error", "invalid_request_error")
        if parse_error:
            raise _ApiError(400, parse_error)
        frame, reply, usage, tokens, output, cache = standin._prepare(record.request, record)
        if fault and fault.kind == "slow_first_byte":
            time.sleep(fault.delay)
        keepalives = fault.count if fault and fault.kind == "keepalive" else 0
        gap = fault.delay if fault else 0.0
        cut_after = fault.after if fault and fault.kind == "cut_stream" else None
        record.status = 200
        if record.stream:
            self._stream(record, frame, reply, usage, tokens, output, cache, keepalives, gap, cut_after)
        else:
            self._whole(record, frame, reply, usage, tokens, output, cache, keepalives, gap, cut_after)

    def _whole(self, record: CallRecord, frame: ReplyFrame, reply: ScriptedReply, usage: ReplyUsage,
               tokens: list[int], output: list[int], cache: _Cache, keepalives: int, gap: float,
               cut_after: int | None) -> None:
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
                self.standin._store(cache, tokens, [])
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.standin._store(cache, tokens, output)
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as exc:
            raise _ClientGone from exc

    def _stream(self, record: CallRecord, frame: ReplyFrame, reply: ScriptedReply, usage: ReplyUsage,
                tokens: list[int], output: list[int], cache: _Cache, keepalives: int, gap: float,
                cut_after: int | None) -> None:
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
            for number, payload in enumerate(chunks):
                if cut_after is not None and number >= cut_after:
                    standin._store(cache, tokens, [])
                    stored = True
                    self.close_connection = True  # no terminating chunk: the client sees a cut stream
                    return
                if number == len(chunks) - 1:
                    # Bill before the last bytes go out, so a client that has read [DONE] sees the record.
                    standin._store(cache, tokens, output)
                    stored = True
                self._write_chunk(sse_event(payload))
                if standin.chunk_delay:
                    time.sleep(standin.chunk_delay)
            self._write_chunk(SSE_DONE)
            self._write_chunk(b"")
        except _ClientGone:
            if not stored:
                standin._store(cache, tokens, [])
            raise
