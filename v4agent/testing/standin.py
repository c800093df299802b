"""A loopback stand-in for the DeepSeek API (or a vLLM server) that the whole test suite talks to.

    with StandIn(replies=[ScriptedReply(content="hi")]) as server:
        client = OpenAI(base_url=server.base_url, api_key="sk-test")
        ...
        server.calls[0].cache_hit

A real HTTP/1.1 server on 127.0.0.1 (keep-alive; streams use chunked transfer encoding) speaking the
chat-completions wire format: whole JSON replies and SSE streams. Replies come from a script (consumed in order)
and then from ``handler(request_json)`` if one is given; running out of both answers 500 with a clear message.

It follows DeepSeek's documentation strictly and on its own, sharing nothing with the client's beliefs: the
request is rendered to tokens with the model's published encoder (``v4render``), billed by the documented cache
rules (``v4cache``), checked by the documented rules (``v4rules``, each with its source), served under the model
names valid on the request's date (``v4models``), and cut at ``max_tokens`` (``v4reply``). ``mode="vllm"``
matches in KV blocks instead and reports only ``prompt_tokens_details.cached_tokens``. Every reply's usage also
carries ``standin_theoretical_max_hit``. ``GET /user/balance`` answers ``balance``.

Each cache is one (served model, thinking mode, effort, ``user_id``) since changing those starts a new cache
(``user_id`` isolates KV cache: https://api-docs.deepseek.com/quick_start/rate_limit); whether ``max_tokens`` or
``stream`` join that key is undocumented, so ``cache_identity`` names the body fields that do (none by default),
and ``store_cancelled_input`` says whether a stream the client drops still stores its input unit.

Faults (``server.faults``) are consumed one per chat request, in order: "429" (the concurrency message, no
Retry-After), "500", "503", "402" (insufficient balance), "401", "cut_stream" (close the socket after ``after``
chunks, no ``[DONE]``), "slow_first_byte" (wait ``delay`` s before answering), "keepalive" (``count`` SSE
``: keep-alive`` comments, or blank lines for a whole reply, ``delay`` s apart, as a queued request gets them:
https://api-docs.deepseek.com/quick_start/rate_limit). GET requests consume no fault.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any

from v4agent.testing.http_handler import ChatHandler
from v4agent.testing.records import ApiError, Billing, CallRecord, Fault, ModelCache
from v4agent.testing.v4cache import Blocks, DocUnits
from v4agent.testing.v4models import ROUTES, ModelRoute, mapped_effort
from v4agent.testing.v4render import PieceTokens
from v4agent.testing.v4reply import DEEPSEEK_FINISH_REASONS, serve
from v4agent.testing.v4rules import check_context, check_messages, check_model, check_parameters, thinking_of
from v4agent.testing.wire import (
    BalanceInfo,
    Mode,
    ReplyFrame,
    ReplyUsage,
    ScriptedReply,
    ScriptedToolCall,
    tool_call_ids,
)
from v4agent.tokens.tokenizer import Tokenizer, get_tokenizer

__all__ = ["BalanceInfo", "CallRecord", "Fault", "ScriptedReply", "ScriptedToolCall", "StandIn"]

DEFAULT_MODELS = ("deepseek-v4-flash", "deepseek-v4-pro")
CONTEXT_WINDOW = 1_048_576


class StandIn:
    """The loopback server; use as a context manager (or call ``start``/``stop``)."""

    def __init__(self, replies: Sequence[ScriptedReply] | None = None,
                 handler: Callable[[dict[str, Any]], ScriptedReply] | None = None, *,
                 mode: Mode = "deepseek", api_key: str | None = "sk-test", unit_interval: int | None = 4096,
                 chunk_chars: int = 7, chunk_delay: float = 0.0, block_size: int = 16,
                 models: Sequence[str] = DEFAULT_MODELS, context_window: int = CONTEXT_WINDOW,
                 tokenizer: Tokenizer | None = None, port: int = 0, report_cached_tokens: bool = True,
                 clock: Callable[[], datetime] | None = None, routes: Sequence[ModelRoute] = ROUTES,
                 cache_identity: Sequence[str] = (), store_cancelled_input: bool = True,
                 balance: Sequence[BalanceInfo] | None = None) -> None:
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
        self.clock = clock or (lambda: datetime.now(UTC))
        self.routes = tuple(routes)
        self.cache_identity = tuple(cache_identity)
        self.store_cancelled_input = store_cancelled_input
        self.balance = tuple(balance) if balance is not None else (BalanceInfo(),)
        self.faults: list[Fault] = []
        self.calls: list[CallRecord] = []
        self.tokens = PieceTokens(tokenizer or get_tokenizer("deepseek-v4"))
        self._caches: dict[tuple[Any, ...], ModelCache] = {}
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

    def _cache_for(self, key: tuple[Any, ...]) -> ModelCache:
        cache = self._caches.get(key)
        if cache is None:
            store = Blocks(self.block_size) if self.mode == "vllm" else DocUnits(self.unit_interval)
            cache = self._caches[key] = ModelCache(store)
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

    def _cache_key(self, body: dict[str, Any], served: str, thinking: bool) -> tuple[Any, ...]:
        effort = mapped_effort(body.get("reasoning_effort")) if thinking else ""
        if self.mode == "vllm":
            kwargs = body.get("chat_template_kwargs")
            effort = str(kwargs.get("reasoning_effort", "")) if isinstance(kwargs, dict) and thinking else ""
        identity = tuple(repr(body.get(name)) for name in self.cache_identity)
        return (served, thinking, effort, str(body.get("user_id") or ""), *identity)

    def _render_effort(self, body: dict[str, Any], thinking: bool) -> str | None:
        if not thinking:
            return None
        if self.mode == "vllm":
            kwargs = body.get("chat_template_kwargs")
            raw = kwargs.get("reasoning_effort") if isinstance(kwargs, dict) else None
            return "max" if raw == "max" else "high"
        return mapped_effort(body.get("reasoning_effort"))

    def prepare_reply(self, body: dict[str, Any],
                      record: CallRecord) -> tuple[ReplyFrame, ScriptedReply, ReplyUsage, Billing]:
        """Validate a request, pick its reply, and work out its usage and cache hit, before sending."""
        route = check_model(body, self.mode, self.models, self.routes, self.clock())
        thinking = thinking_of(body, self.mode, route)
        record.thinking, record.served_by = thinking, route.served_by if route else str(body["model"])
        check_messages(body, mode=self.mode, thinking=thinking)
        record.sampling_ignored = check_parameters(body, thinking=thinking)
        prompt = self.tokens.prompt(body["messages"], body.get("tools") or [], thinking=thinking,
                                    effort=self._render_effort(body, thinking))
        record.prompt_tokens, record.input_end = prompt.count, prompt.input_end
        check_context(prompt.count, body.get("max_tokens"), self.context_window)
        scripted = self._next_reply(body)
        if self.mode == "deepseek" and scripted.finish_reason not in (None, *DEEPSEEK_FINISH_REASONS):
            raise ApiError(500, f"stand-in script: {scripted.finish_reason!r} is not a DeepSeek finish reason",
                           "server_error", "internal_error")
        number = next(self._ids)
        ids = tool_call_ids(scripted, number)
        served = serve(scripted, ids, thinking=thinking, max_tokens=body.get("max_tokens"), tokens=self.tokens)
        frame = ReplyFrame(id=f"standin-{number:06d}", model=str(body["model"]), created=int(time.time()),
                           mode=self.mode, thinking=thinking, tool_ids=ids, finish_reason=served.finish_reason)
        with self._lock:
            cache = self._cache_for(self._cache_key(body, record.served_by, thinking))
            hit, best = cache.lookup(prompt.packed)
        output = len(served.output) // 4
        usage = ReplyUsage(prompt.count, output, served.reasoning_tokens, hit, best, self.report_cached_tokens)
        record.cache_hit, record.cache_miss, record.theoretical_max_hit = hit, prompt.count - hit, best
        record.output_tokens, record.reasoning_tokens = output, served.reasoning_tokens
        record.reply, record.finish_reason = dict(served.message), served.finish_reason
        return frame, served.reply, usage, Billing(cache, prompt.packed, prompt.input_end, served.output)

    def store_units(self, billing: Billing, *, answered: bool) -> None:
        """Bill-side effect of a served request: persist its units. ``answered`` False: the reply was cut or
        the client went away, so only the input's units are kept (if ``store_cancelled_input``)."""
        if not answered and not self.store_cancelled_input:
            return
        with self._lock:
            billing.cache.store.persist(billing.prompt, billing.input_end, billing.output if answered else None)
