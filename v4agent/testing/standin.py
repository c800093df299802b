"""A loopback stand-in for the DeepSeek API (or a vLLM server) that the whole test suite talks to.

    with StandIn(replies=[ScriptedReply(content="hi")]) as server:
        client = OpenAI(base_url=server.base_url, api_key="sk-test")
        ...
        server.calls[0].cache_hit

A real HTTP/1.1 server on 127.0.0.1 (keep-alive; streams use chunked transfer encoding) speaking the
chat-completions wire format: whole JSON replies and SSE streams. Replies come from a script (consumed in order)
and then from ``handler(request_json)`` if one is given; running out of both answers 500 with a clear message.

The context cache is simulated with V4's unit rules (``v4agent.agent.request.cacheunits.UnitStore``) over the request rendered
with the V4 tokenizer (``v4agent.agent.request.template``), one cache per (model, thinking, effort) since changing those
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
import threading
import time
from collections.abc import Callable, Sequence
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any

from v4agent.agent.request.cacheunits import BlockStore, UnitStore, pack_tokens
from v4agent.agent.request.template import render_output, render_request
from v4agent.testing.http_handler import ChatHandler
from v4agent.testing.records import ApiError, CallRecord, Fault, ModelCache
from v4agent.testing.wire import (
    Mode,
    ReplyFrame,
    ReplyUsage,
    ScriptedReply,
    ScriptedToolCall,
    reply_message,
    tool_call_ids,
)
from v4agent.tokens.tokenizer import Tokenizer, get_tokenizer

__all__ = ["CallRecord", "Fault", "ScriptedReply", "ScriptedToolCall", "StandIn"]

DEFAULT_MODELS = ("deepseek-v4-flash", "deepseek-v4-pro")
# Older names the real API still accepts; served but not listed.
ALIAS_MODELS = ("deepseek-flash", "deepseek-chat", "deepseek-reasoner")
CONTEXT_WINDOW = 1_048_576
MAX_OUTPUT = 393_216
_ROLES = {"system", "user", "assistant", "tool", "developer"}


class StandIn:
    """The loopback server; use as a context manager (or call ``start``/``stop``)."""

    def __init__(self, replies: Sequence[ScriptedReply] | None = None,
                 handler: Callable[[dict[str, Any]], ScriptedReply] | None = None, *,
                 mode: Mode = "deepseek", api_key: str | None = "sk-test", unit_interval: int | None = 4096,
                 chunk_chars: int = 7, chunk_delay: float = 0.0, block_size: int = 16,
                 models: Sequence[str] = DEFAULT_MODELS, context_window: int = CONTEXT_WINDOW,
                 tokenizer: Tokenizer | None = None, port: int = 0, report_cached_tokens: bool = True) -> None:
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
        # vllm mode only: False leaves cached_tokens out of usage, so clients must read /metrics counters.
        self.report_cached_tokens = report_cached_tokens
        self.faults: list[Fault] = []
        self.calls: list[CallRecord] = []
        self.tokenizer = tokenizer or get_tokenizer("deepseek-v4")
        self._caches: dict[tuple[str, bool, str], ModelCache] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> StandIn:
        """Listen on 127.0.0.1 (the given port, or a free one) in a daemon thread; returns self."""
        httpd = ThreadingHTTPServer(("127.0.0.1", self._port), ChatHandler)
        httpd.daemon_threads = True
        httpd.standin = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down and wait for its thread."""
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
        """``http://127.0.0.1:PORT`` of the running server; raises RuntimeError when stopped."""
        if self._httpd is None:
            raise RuntimeError("the stand-in is not running")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def port(self) -> int:
        """The port the running server listens on."""
        return int(self.base_url.rsplit(":", 1)[1])

    def reset_cache(self) -> None:
        """Forget every stored unit (as if the provider evicted its cache)."""
        with self._lock:
            self._caches.clear()

    # -- request processing (called from handler threads) ----------------------------------------------
    def add_call(self, record: CallRecord) -> None:
        """Keep a call's record (from a handler thread)."""
        with self._lock:
            self.calls.append(record)

    def prefix_cache_metrics(self) -> str:
        """vLLM's /metrics prefix-cache counters (cumulative prompt tokens queried and hit), Prometheus text."""
        with self._lock:
            queried = sum(c.prompt_tokens or 0 for c in self.calls)
            hits = sum(c.cache_hit or 0 for c in self.calls)
        labels = '{engine="0",model_name="' + self.models[0] + '"}'
        return (f"# TYPE vllm:prefix_cache_queries_total counter\nvllm:prefix_cache_queries_total{labels} {queried:.1f}\n"
                f"# TYPE vllm:prefix_cache_hits_total counter\nvllm:prefix_cache_hits_total{labels} {hits:.1f}\n")

    def next_fault(self) -> Fault | None:
        """Take the next queued fault, or None."""
        with self._lock:
            return self.faults.pop(0) if self.faults else None

    def _cache_for(self, key: tuple[str, bool, str]) -> ModelCache:
        cache = self._caches.get(key)
        if cache is None:
            if self.mode == "vllm":
                cache = ModelCache(None, BlockStore(self.block_size))
            else:
                cache = ModelCache(UnitStore(self.unit_interval), None)
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
                raise ApiError(500, f"stand-in handler raised {type(exc).__name__}: {exc}",
                                "server_error", "internal_error") from exc
            if not isinstance(reply, ScriptedReply):
                raise ApiError(500, f"stand-in handler returned {type(reply).__name__}, not ScriptedReply",
                                "server_error", "internal_error")
            return reply
        raise ApiError(500, f"stand-in script exhausted: no scripted reply left for request "
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
            raise ApiError(400, "Model Not Exist")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ApiError(400, "messages must be a non-empty list of message objects")
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in _ROLES:
                raise ApiError(400, f"Invalid message at index {index}: unknown or missing role")
            if (self.mode == "deepseek" and thinking and message.get("role") == "assistant"
                    and message.get("tool_calls") and not isinstance(message.get("reasoning_content"), str)):
                raise ApiError(400, f"Missing `reasoning_content` field in the assistant message at message "
                                     f"index {index}. In thinking mode the reasoning_content of a tool-call "
                                     f"turn must be passed back to the API.")
        tools = body.get("tools", [])
        if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
            raise ApiError(400, "tools must be a list of tool objects")
        max_tokens = body.get("max_tokens")
        if max_tokens is not None and (not isinstance(max_tokens, int) or not 1 <= max_tokens <= MAX_OUTPUT):
            raise ApiError(400, f"Invalid max_tokens value, the valid range of max_tokens is [1, {MAX_OUTPUT}]")

    def prepare_reply(self, body: dict[str, Any], record: CallRecord) -> tuple[ReplyFrame, ScriptedReply,
                                                                          ReplyUsage, bytes, bytes, ModelCache]:
        """Validate a request, pick its reply, and work out its usage and cache hit, before sending."""
        thinking = self._thinking(body)
        self._validate(body, thinking)
        rendered = render_request(body["messages"], body.get("tools") or [], self.tokenizer)
        count = len(rendered.tokens)
        record.prompt_tokens = count
        if count > self.context_window:
            raise ApiError(400, f"This model's maximum context length is {self.context_window} tokens. "
                                 f"However, you requested {count} tokens in the messages. "
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
            hit, best = cache.lookup(rendered.packed)
        usage = ReplyUsage(count, len(output), reasoning_tokens, hit, best, self.report_cached_tokens)
        record.cache_hit, record.cache_miss = hit, count - hit
        record.output_tokens, record.reasoning_tokens, record.theoretical_max_hit = (
            len(output), reasoning_tokens, best)
        record.reply = dict(message)
        return frame, reply, usage, rendered.packed, pack_tokens(output), cache

    def store_units(self, cache: ModelCache, tokens: bytes, output: bytes) -> None:
        """Bill-side effect of a served request: store its units (``output`` empty when cut or cancelled)."""
        with self._lock:
            cache.store(tokens, output)
