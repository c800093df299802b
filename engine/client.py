"""The remote engine: chat completions against any OpenAI-compatible server, on the ``openai`` SDK.

The SDK client is configured once (base URL joining, identifying headers, its ``httpx2`` connection pool) and
its exception classes are what failures raise. Each call posts a prebuilt JSON body on that pool: the SDK's
typed ``create`` rebuilds options and re-walks every message per call, which costs more than the rest of
the client. The stream is read as raw SSE lines and assembled by ``v4agent.engine.stream`` (pure and fast).
Retries are ours (``v4agent.engine.retry``), so the SDK's own are off. Each attempt runs against its
deadlines (``v4agent.engine.deadline``) and reports what it waits for as ``Progress("status", phase)`` deltas.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import httpx
import httpx2

from v4agent.engine.deadline import CallClock, Deadlines
from v4agent.engine.limiter import ConcurrencyLimiter
from v4agent.engine.presets import Preset, UnknownPreset, get_preset, model_info
from v4agent.engine.retry import Failure, RetryPolicy, classify, run_with_retry
from v4agent.engine.statuserrors import status_error
from v4agent.engine.stream import StreamAssembler, iter_sse_data, reply_from_completion
from v4agent.engine.thinking import think_params, thinks
from v4agent.engine.types import (
    FINISH_NO_RESOURCE,
    ChatReply,
    Delta,
    EngineError,
    EngineUnreachable,
    Message,
    Phase,
    Progress,
    ReplyInterrupted,
    RequestSettings,
    StreamRestart,
    ThinkLevel,
    ToolSchema,
)

if TYPE_CHECKING:
    import openai

_TRANSPORT_ERRORS = (httpx2.TransportError, httpx.TransportError, ConnectionError)
_TIMEOUTS = (httpx2.TimeoutException, httpx.TimeoutException, TimeoutError)
DeltaSink = Callable[[Delta], None]


@dataclass(frozen=True)
class EngineSettings:
    """What opening a remote engine reads, chosen by the caller; an empty field takes the preset's value."""

    engine: str = "deepseek"  # the preset's name
    base_url: str = ""
    api_key: str = ""  # never logged; "" = none (local servers often take none)
    model: str = ""
    max_tokens: int = RequestSettings.max_tokens  # clipped to the model's output limit
    think: ThinkLevel = "high"
    stream: bool = True
    temperature: float | None = None
    deadlines: Deadlines = field(default_factory=Deadlines)


class StreamCut(EngineError):
    """The stream ended before its finish; retried within the policy (``partial``: what had arrived, if any)."""

    kind = "stream_cut"

    def __init__(self, message: str, *, partial: ChatReply | None = None, hint: str = "",
                 retryable: bool = True) -> None:
        super().__init__(message, hint=hint, retryable=retryable)
        self.partial = partial


@dataclass(frozen=True)
class _Wire:
    """The SDK client, its connection pool, and the URL and headers every call posts with."""

    client: openai.OpenAI
    http: httpx2.Client
    url: str
    headers: dict[str, str]


def _open_wire(base_url: str, api_key: str, deadlines: Deadlines) -> _Wire:
    d = deadlines
    http = httpx2.Client(timeout=httpx2.Timeout(connect=d.connect_s, read=d.read_timeout(), write=60.0, pool=60.0))
    import openai  # on first use: importing the SDK is slow, and CLI start-up should not pay for it

    client = openai.OpenAI(
        base_url=base_url,
        api_key=api_key or "not-needed",  # local servers often take none; the SDK insists on one
        max_retries=0,
        http_client=http,
    )
    # Built once: the SDK's URL join and identifying headers, plus the key (never logged).
    headers = {k: v for k, v in client.default_headers.items() if isinstance(v, str)}
    headers.update({"Content-Type": "application/json", "Accept": "application/json, text/event-stream"})
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return _Wire(client, http, str(client.base_url).rstrip("/") + "/chat/completions", headers)


class RemoteEngine:
    """``engine.types.Engine`` over HTTP. One instance per session: its settings are the cache key."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        settings: RequestSettings,
        preset: Preset,
        *,
        retry: RetryPolicy | None = None,
        on_retry: Callable[[Failure, float], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        deadlines: Deadlines | None = None,
        limiter: ConcurrencyLimiter | None = None,
    ) -> None:
        self.name = preset.name
        self.preset = preset
        self.settings = settings
        self.base_url = base_url
        self.retry = retry or RetryPolicy()
        self.on_retry = on_retry
        self.deadlines = deadlines or Deadlines()
        self.limiter = limiter  # shared by engines that run in parallel on one account
        self.thinking = thinks(preset.think_style, settings.think)
        self._sleep = sleep
        self._api_key = api_key
        self._wire: _Wire | None = None  # made at the first call: building the SDK client costs start-up time
        self._wire_lock = threading.Lock()

    def _connection(self) -> _Wire:
        with self._wire_lock:
            if self._wire is None:
                self._wire = _open_wire(self.base_url, self._api_key, self.deadlines)
            return self._wire

    def close(self) -> None:
        """Close the SDK client and the HTTP connection pool under it (if a call ever opened them)."""
        with self._wire_lock:
            if self._wire is not None:
                self._wire.client.close()
                self._wire = None

    def build_request(
        self, messages: Sequence[Message], tools: Sequence[ToolSchema] = (), *, max_tokens: int | None = None
    ) -> dict[str, Any]:
        """The JSON body sent to ``/chat/completions`` (pure; tests read it)."""
        s = self.settings
        request: dict[str, Any] = {
            "model": s.model,
            "messages": list(messages),
            "max_tokens": max_tokens if max_tokens is not None else s.max_tokens,
            "stream": s.stream,
        }
        if s.stream:
            request["stream_options"] = {"include_usage": True}
        if tools:
            request["tools"] = list(tools)
        # DeepSeek ignores temperature in thinking mode (https://api-docs.deepseek.com/guides/thinking_mode,
        # "Input and Output Parameters"); sending it there would only split the cache key for nothing.
        if s.temperature is not None and not (self.thinking and self.preset.think_style == "deepseek"):
            request["temperature"] = s.temperature
        request.update(think_params(self.preset.think_style, s.think))
        return request

    def _post(self, request: dict[str, Any]) -> httpx2.Response:
        """Send the body on the SDK's connection pool; the response is open (read it, then close it).

        The SDK's own ``create``/``post`` rebuild options, URL and headers and re-walk every message on each
        call; this prebuilt request keeps the client's overhead under its budget. Failures are raised
        as the SDK's exception types, so callers and ``retry.classify`` see one vocabulary.
        """
        import openai  # already loaded by __init__; a local name keeps the module import light

        body = json.dumps(request, ensure_ascii=False).encode("utf-8")
        wire = self._connection()
        http_request = wire.http.build_request("POST", wire.url, content=body, headers=wire.headers)
        try:
            response = wire.http.send(http_request, stream=True)
        except httpx2.TimeoutException as exc:
            raise openai.APITimeoutError(request=http_request) from exc
        except httpx2.TransportError as exc:
            raise openai.APIConnectionError(request=http_request) from exc
        if response.status_code >= 400:
            try:
                response.read()
            finally:
                response.close()
            raise status_error(response)
        return response

    def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSchema] = (),
        *,
        on_delta: Callable[[Delta], None] | None = None,
        max_tokens: int | None = None,
    ) -> ChatReply:
        """Send one chat request (streamed or whole, per the settings), with retries; return the reply.

        ``on_delta`` also gets ``Progress("status", phase)`` as the call goes from waiting to streaming, and before
        each retry. A reply the service interrupted (``insufficient_system_resource``) is tried again, and so is a
        stream cut mid-reply, even after part of it was shown: ``on_delta`` then gets a ``StreamRestart`` (what
        was shown is superseded; its ``partial`` is what arrived, for an estimated ledger line), and the retried
        attempt streams the whole reply again. The retry policy and each attempt's deadlines bound it all.
        """
        request = self.build_request(messages, tools, max_tokens=max_tokens)
        once = self._stream_once if self.settings.stream else self._whole_once

        def attempt(number: int) -> ChatReply:
            try:
                reply = self._limited(once, request, on_delta)
            except StreamCut as exc:
                if exc.partial is not None and on_delta is not None:
                    on_delta(StreamRestart("status", "restarted", detail=str(exc), partial=exc.partial))
                raise
            if reply.finish_reason == FINISH_NO_RESOURCE:
                raise ReplyInterrupted(f"the service interrupted the reply ({FINISH_NO_RESOURCE})", retryable=True)
            return replace(reply, timings={**reply.timings, "attempts": float(number)}, thinking=self.thinking)

        def retrying(failure: Failure, delay: float) -> None:
            if on_delta is not None:
                on_delta(Progress("status", "retrying", detail=f"{failure.message}; retrying in {delay:.1f} s"))
            if self.on_retry is not None:
                self.on_retry(failure, delay)

        return run_with_retry(attempt, self.retry, sleep=self._sleep, on_retry=retrying,
                              what=f"{self.name} {self.settings.model} request")

    def _limited(self, once: Callable[[dict[str, Any], DeltaSink | None], ChatReply], request: dict[str, Any],
                 on_delta: DeltaSink | None) -> ChatReply:
        """One attempt, holding a slot of the shared concurrency limit when there is one."""
        limiter = self.limiter
        if limiter is None:
            return once(request, on_delta)
        with limiter.slot():
            try:
                reply = once(request, on_delta)
            except Exception as exc:
                failure = classify(exc)
                if failure.kind == "rate_limit":
                    limiter.on_rate_limit(failure.stated_limit)
                raise
        limiter.on_success()
        return reply

    def _whole_once(self, request: dict[str, Any], on_delta: DeltaSink | None) -> ChatReply:
        clock = CallClock(self.deadlines)
        with contextlib.closing(self._post(request)) as response:
            _status(on_delta, "waiting")
            clock.token()  # a whole reply has no first token before its end: only the total deadline applies
            chunks: list[bytes] = []
            try:
                for chunk in response.iter_bytes():  # blank lines while queued: check the deadline as they come
                    clock.check()
                    chunks.append(chunk)
            except _TRANSPORT_ERRORS as exc:
                raise StreamCut(_lost(exc, self.deadlines, "while reading the reply"), retryable=True) from exc
        try:
            body = json.loads(b"".join(chunks))
        except ValueError as exc:
            raise EngineError("the server's reply is not JSON", retryable=True) from exc
        reply = reply_from_completion(body, {"total_s": clock.elapsed()})
        if on_delta is not None:
            if reply.reasoning:
                on_delta(Delta("reasoning", reply.reasoning))
            if reply.content:
                on_delta(Delta("content", reply.content))
        return reply

    def _stream_once(self, request: dict[str, Any], on_delta: DeltaSink | None) -> ChatReply:
        clock = CallClock(self.deadlines)
        assembler = StreamAssembler()
        phase: Phase = "waiting"
        with contextlib.closing(self._post(request)) as response:
            _status(on_delta, phase)
            try:
                lines = _watched(response.iter_lines(), clock, on_delta)
                for payload in iter_sse_data(lines):
                    clock.token()
                    deltas = assembler.feed_json(payload, emit=on_delta is not None)
                    if on_delta is not None:
                        for delta in deltas:
                            if delta.kind == "reasoning":
                                if phase != "thinking":
                                    phase = _report(on_delta, "thinking")
                            elif phase != "streaming":
                                phase = _report(on_delta, "streaming")
                            on_delta(delta)
                for _ in lines:  # drain the tail after [DONE] so the connection goes back to the pool
                    pass
            except _TRANSPORT_ERRORS as exc:
                raise _cut(_lost(exc, self.deadlines, "the stream was cut"), assembler, clock) from exc
        if not assembler.finished:
            raise _cut("the stream ended before the reply finished", assembler, clock)
        timings = {"total_s": clock.elapsed(), "first_byte_s": clock.first_token_s or 0.0}
        return assembler.reply(timings)


def _cut(message: str, assembler: StreamAssembler, clock: CallClock) -> StreamCut:
    """A cut stream, retryable: what it had sent is superseded by the next attempt, never joined to it.

    A cut after the server had sent a chunk carries what arrived (``partial``): the server had read the prompt
    and generated that much, so the call is recorded as billed, with estimated usage. DeepSeek's documentation
    says nothing on billing a stream the connection dropped (checked: api-docs.deepseek.com pricing and error
    pages as stored, Dec 2026); providers that do document it bill it (novita.ai/docs/guides/llm-billing: a
    client disconnect, 499, is "Charged"), and users report that DeepSeek retries after a cut cost more tokens
    (github.com/esengine/DeepSeek-Reasonix/issues/3375). So it is counted, as an estimate, flagged.
    """
    if not assembler.chunks:
        return StreamCut(message)
    partial = assembler.reply({"total_s": clock.elapsed(), "first_byte_s": clock.first_token_s or 0.0})
    return StreamCut(message + " after part of the reply arrived", partial=partial)


def _status(on_delta: DeltaSink | None, phase: Phase, detail: str = "") -> None:
    if on_delta is not None:
        on_delta(Progress("status", phase, detail=detail))


def _report(on_delta: DeltaSink, phase: Phase) -> Phase:
    """Report a move to thinking or streaming (once per change, at the first delta of that kind)."""
    on_delta(Progress("status", phase))
    return phase


def _watched(lines: Iterator[str], clock: CallClock, on_delta: DeltaSink | None) -> Iterator[str]:
    """The response's lines with the deadlines checked at each; the first keep-alive is reported as queued."""
    queued = False
    for line in lines:
        clock.check()
        if not queued and line.startswith(":") and clock.first_token_s is None:
            queued = True
            _status(on_delta, "queued", "the server holds the request in its queue")
        yield line


def _lost(exc: BaseException, deadlines: Deadlines, what: str) -> str:
    if isinstance(exc, _TIMEOUTS):
        return f"{what}: the server sent nothing for {deadlines.read_timeout():g} s"
    return f"{what} ({type(exc).__name__})"


def preset_named(name: str) -> Preset:
    """The preset called ``name``; an unknown name is an EngineError that says how to pick one."""
    try:
        return get_preset(name)
    except UnknownPreset as exc:
        raise EngineError(str(exc), hint="pick one with --engine") from None


def open_engine(settings: EngineSettings) -> RemoteEngine:
    """A RemoteEngine for already-chosen settings, the preset filling what they leave empty.

    Raises EngineError for an unknown preset or a preset without a default model, and EngineUnreachable with
    a hint when there is no base URL or the preset needs a key and none is given."""
    preset = preset_named(settings.engine)
    base_url = settings.base_url or preset.base_url
    if not base_url:
        raise EngineUnreachable(f"engine '{preset.name}' needs a base URL",
                                hint="pass --base-url or set base_url in .v4agent.toml")
    if preset.key_required and not settings.api_key:
        raise EngineUnreachable(
            f"no API key for engine '{preset.name}'",
            hint=f"export {preset.key_env}=<your key> (or set api_key_env to the variable that holds it)",
        )
    model = settings.model or preset.default_model
    if not model:
        raise EngineError(f"engine '{preset.name}' has no default model", hint="pass --model")
    request = RequestSettings(
        model=model,
        max_tokens=min(settings.max_tokens, model_info(model).max_output),
        think=settings.think,
        stream=settings.stream,
        temperature=settings.temperature,
    )
    return RemoteEngine(base_url, settings.api_key, request, preset, deadlines=settings.deadlines)
