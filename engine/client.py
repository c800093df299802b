"""The remote engine: chat completions against any OpenAI-compatible server, on the ``openai`` SDK.

The SDK client is configured once (base URL joining, identifying headers, its ``httpx2`` connection pool) and
its exception classes are what failures raise. Each call posts a prebuilt JSON body on that pool: the SDK's
typed ``create`` rebuilds options and re-walks every message per call, which costs more than the rest of
the client. The stream is read as raw SSE lines and assembled by ``v4agent.engine.stream`` (pure and fast).
Retries are ours (``v4agent.engine.retry``), so the SDK's own are off. The read timeout is long because
DeepSeek may queue a request for minutes, sending keep-alive comments meanwhile."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import httpx
import httpx2

from v4agent.engine.presets import Preset, UnknownPreset, get_preset, model_info
from v4agent.engine.retry import Failure, RetryPolicy, run_with_retry
from v4agent.engine.stream import StreamAssembler, iter_sse_data, reply_from_completion
from v4agent.engine.types import (
    ChatReply,
    Delta,
    EngineError,
    EngineUnreachable,
    Message,
    RequestSettings,
    ThinkLevel,
    ToolSchema,
)

if TYPE_CHECKING:
    import openai

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 900.0  # between bytes; keep-alive comments reset it
_TRANSPORT_ERRORS = (httpx2.TransportError, httpx.TransportError, ConnectionError)


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
    read_timeout_s: float = READ_TIMEOUT_S


class StreamCut(EngineError):
    """The stream ended before its finish; retryable only if nothing final was shown yet."""

    kind = "stream_cut"


def think_params(style: str, think: ThinkLevel) -> dict[str, Any]:
    """The request fields that select thinking for an engine style (merged into the body)."""
    if style == "deepseek":
        if think == "off":
            return {"thinking": {"type": "disabled"}}
        return {"thinking": {"type": "enabled"}, "reasoning_effort": think}
    if style == "chat_template_kwargs":
        return {"chat_template_kwargs": {"thinking": think != "off"}}
    return {}


def _status_error_classes() -> dict[int, type[openai.APIStatusError]]:
    import openai  # imported on first use: it costs about a second at CLI start-up

    return {
        400: openai.BadRequestError, 401: openai.AuthenticationError, 403: openai.PermissionDeniedError,
        404: openai.NotFoundError, 409: openai.ConflictError, 422: openai.UnprocessableEntityError,
        429: openai.RateLimitError,
    }


def status_error(response: httpx2.Response) -> openai.APIStatusError:
    """The SDK's exception for an HTTP error reply (the same classes its own requests raise)."""
    import openai

    try:
        body: Any = json.loads(response.content)
    except ValueError:
        body = response.text or None
    error = body.get("error") if isinstance(body, dict) else None
    message = str(error.get("message")) if isinstance(error, dict) and error.get("message") else (
        f"Error code: {response.status_code} - {body}")
    cls = _status_error_classes().get(response.status_code)
    if cls is None:
        cls = openai.InternalServerError if response.status_code >= 500 else openai.APIStatusError
    return cls(message, response=response, body=body)


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
        read_timeout_s: float = READ_TIMEOUT_S,
    ) -> None:
        self.name = preset.name
        self.preset = preset
        self.settings = settings
        self.base_url = base_url
        self.retry = retry or RetryPolicy()
        self.on_retry = on_retry
        self._sleep = sleep
        self._http = httpx2.Client(
            timeout=httpx2.Timeout(connect=CONNECT_TIMEOUT_S, read=read_timeout_s, write=60.0, pool=60.0))
        import openai  # on first use: importing the SDK is slow, and CLI start-up should not pay for it

        self._client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or "not-needed",  # local servers often take none; the SDK insists on one
            max_retries=0,
            http_client=self._http,
        )
        # Built once: the SDK's URL join and identifying headers, plus the key (never logged).
        self._url = str(self._client.base_url).rstrip("/") + "/chat/completions"
        self._headers = {k: v for k, v in self._client.default_headers.items() if isinstance(v, str)}
        self._headers.update({"Content-Type": "application/json", "Accept": "application/json, text/event-stream"})
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"

    def close(self) -> None:
        """Close the SDK client and the HTTP connection pool under it."""
        self._client.close()

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
        if s.temperature is not None:
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
        http_request = self._http.build_request("POST", self._url, content=body, headers=self._headers)
        try:
            response = self._http.send(http_request, stream=True)
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
        """Send one chat request (streamed or whole, per the settings), with retries; return the reply."""
        request = self.build_request(messages, tools, max_tokens=max_tokens)
        once = self._stream_once if self.settings.stream else self._whole_once

        def attempt(number: int) -> ChatReply:
            reply = once(request, on_delta)
            return replace(reply, timings={**reply.timings, "attempts": float(number)})

        return run_with_retry(attempt, self.retry, sleep=self._sleep, on_retry=self.on_retry,
                              what=f"{self.name} {self.settings.model} request")

    def _whole_once(self, request: dict[str, Any], on_delta: Callable[[Delta], None] | None) -> ChatReply:
        started = time.perf_counter()
        with contextlib.closing(self._post(request)) as response:
            try:
                body = json.loads(response.read())
            except _TRANSPORT_ERRORS as exc:
                raise StreamCut(f"connection lost while reading the reply ({type(exc).__name__})",
                                retryable=True) from exc
            except ValueError as exc:
                raise EngineError("the server's reply is not JSON", retryable=True) from exc
        reply = reply_from_completion(body, {"total_s": time.perf_counter() - started})
        if on_delta is not None:
            if reply.reasoning:
                on_delta(Delta("reasoning", reply.reasoning))
            if reply.content:
                on_delta(Delta("content", reply.content))
        return reply

    def _stream_once(self, request: dict[str, Any], on_delta: Callable[[Delta], None] | None) -> ChatReply:
        started = time.perf_counter()
        assembler = StreamAssembler()
        shown_final = False  # content or tool calls already passed on: a retry would show them twice
        first_byte: float | None = None
        with contextlib.closing(self._post(request)) as response:
            try:
                lines = response.iter_lines()
                for payload in iter_sse_data(lines):
                    if first_byte is None:
                        first_byte = time.perf_counter() - started
                    deltas = assembler.feed_json(payload, emit=on_delta is not None)
                    if on_delta is not None:
                        for delta in deltas:
                            on_delta(delta)
                            shown_final = shown_final or delta.kind != "reasoning"
                for _ in lines:  # drain the tail after [DONE] so the connection goes back to the pool
                    pass
            except _TRANSPORT_ERRORS as exc:
                raise self._cut(f"the stream was cut ({type(exc).__name__})", shown_final) from exc
        if not assembler.finished:
            raise self._cut("the stream ended before the reply finished", shown_final)
        timings = {"total_s": time.perf_counter() - started, "first_byte_s": first_byte or 0.0}
        return assembler.reply(timings)

    @staticmethod
    def _cut(message: str, shown_final: bool) -> StreamCut:
        if shown_final:
            return StreamCut(message + " after part of the answer was shown; not retried",
                             hint="run the request again", retryable=False)
        return StreamCut(message, retryable=True)


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
    return RemoteEngine(base_url, settings.api_key, request, preset, read_timeout_s=settings.read_timeout_s)
