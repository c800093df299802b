"""The records every engine speaks: a request's fixed settings, streamed deltas, the reply and its usage.

Messages and tool schemas are plain OpenAI chat-completions dicts, because that is the wire format and the
byte-stable prefix is built from them. Everything else is a frozen dataclass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from v4agent.core.errors import ExitCode, V4AgentError

Message = dict[str, Any]  # {"role": ..., "content": ..., optional "reasoning_content", "tool_calls", ...}
ToolSchema = dict[str, Any]  # {"type": "function", "function": {"name", "description", "parameters"}}
ThinkLevel = Literal["off", "low", "high", "max"]
# What a call is doing, reported as ``Progress("status", phase)`` so that a front end can show what it waits for:
# sending (the caller's mark that a call starts: nothing back yet), waiting (the reply started, no token yet), queued (the server sends keep-alive
# comments while the request waits), thinking (reasoning streams), streaming (answer or tool calls stream),
# retrying (the attempt failed; ``detail`` says why and when the next one starts).
Phase = Literal["sending", "waiting", "queued", "thinking", "streaming", "retrying", "restarted"]

# Finish reasons DeepSeek documents (https://api-docs.deepseek.com/api/create-chat-completion): "length" means
# the output limit cut the reply, "content_filter" that the service's filter removed content, and
# "insufficient_system_resource" that the service interrupted the request (the client retries it).
FINISH_TRUNCATED = "length"
FINISH_FILTERED = "content_filter"
FINISH_NO_RESOURCE = "insufficient_system_resource"


@dataclass(frozen=True)
class RequestSettings:
    """Parameters that are part of the provider's cache key: fixed for a whole session."""

    model: str
    max_tokens: int = 32_768
    think: ThinkLevel = "high"
    stream: bool = True
    temperature: float | None = None


@dataclass(frozen=True)
class Usage:
    """One call's usage, normalized. ``cache_hit``/``cache_miss`` are None when the server did not say."""

    prompt_tokens: int
    output_tokens: int
    cache_hit: int | None = None
    cache_miss: int | None = None
    reasoning_tokens: int = 0
    estimated: bool = False  # counted by the client for a call the server reported no usage of, not billed figures

    @property
    def hit_known(self) -> bool:
        """True when the server reported how many prompt tokens hit the cache."""
        return self.cache_hit is not None


@dataclass(frozen=True)
class ToolCall:
    """One tool call the model made: its id, the tool's name, and the arguments' raw JSON text."""

    id: str
    name: str
    arguments: str  # raw JSON text exactly as the model produced it (may be malformed)


@dataclass(frozen=True)
class Delta:
    """One streamed piece: kind says whether it is answer text, reasoning text or tool-call progress."""

    kind: Literal["content", "reasoning", "tool_call", "status"]  # "status": a ``Progress``
    text: str = ""
    tool_index: int | None = None
    tool_name: str | None = None


@dataclass(frozen=True)
class Progress(Delta):
    """A progress report on a call: ``text`` is its Phase, ``detail`` what the phase is about (why a retry, and
    how long until it). A subclass, so that the deltas of the reply itself stay as cheap to make as they were."""

    detail: str = ""


@dataclass(frozen=True)
class StreamRestart(Progress):
    """Phase ``restarted``: a stream was cut after part of its reply arrived, so what was shown of it is superseded
    (the call is asked again within the retry policy). ``partial`` is what arrived: the caller bills it as an
    estimate, since a cut stream never sends its usage."""

    partial: ChatReply | None = None


@dataclass(frozen=True)
class ChatReply:
    """A whole reply: answer, reasoning, tool calls, finish reason and usage."""

    content: str
    reasoning: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str
    usage: Usage | None
    model: str = ""  # the model the response names (what served the call, where the server says so)
    raw_id: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    thinking: bool = False  # the request asked for thinking mode
    created: int = 0  # the response's ``created`` (Unix seconds); 0 when it gave none

    @property
    def served_at(self) -> datetime | None:
        """When the server says it made the reply (its ``created``), as aware UTC; None when it did not say."""
        return datetime.fromtimestamp(self.created, UTC) if self.created else None

    @property
    def truncated(self) -> bool:
        """The output limit (``max_tokens``) cut the reply: its text or tool-call arguments are incomplete."""
        return self.finish_reason == FINISH_TRUNCATED

    @property
    def filtered(self) -> bool:
        """The service's content filter stopped the reply."""
        return self.finish_reason == FINISH_FILTERED

    @property
    def incomplete(self) -> str:
        """Why the reply is not a complete answer (cut or filtered), or "" when it is."""
        if self.truncated:
            return "the reply was cut at the output limit (finish reason 'length')"
        if self.filtered:
            return "the service's content filter stopped the reply (finish reason 'content_filter')"
        if self.finish_reason == FINISH_NO_RESOURCE:
            return "the service interrupted the reply (finish reason 'insufficient_system_resource')"
        return ""

    def as_message(self) -> Message:
        """The assistant message to append to the conversation, as DeepSeek requires it sent back.

        In thinking mode every assistant turn carries ``reasoning_content``, even when the model's reasoning
        was empty: a tool-call turn sent back without the key is answered with 400, and a turn without tool
        calls may sit between tool calls, where the rule also holds; elsewhere the API ignores the field
        (https://api-docs.deepseek.com/guides/thinking_mode, "Tool Calls" and "Multi-turn Conversation").
        An assistant turn with only tool calls carries ``content: ""``.
        """
        message: Message = {"role": "assistant", "content": self.content or ""}
        if self.reasoning or self.thinking:
            message["reasoning_content"] = self.reasoning
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls
            ]
        return message


class Engine(Protocol):
    """A chat-completions engine. Implementations: the remote client, the local vLLM engine."""

    name: str
    settings: RequestSettings

    def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSchema] = (),
        *,
        on_delta: Callable[[Delta], None] | None = None,
        max_tokens: int | None = None,
    ) -> ChatReply:
        """Send one request and return the assembled reply. Raises ``EngineError`` subclasses on failure.

        ``max_tokens`` overrides the session's value for one call (a priming call asks for 1 token; note it
        changes the cache key only for output, not for the stored input prefix).
        """
        ...


class EngineError(V4AgentError):
    """Base of engine failures; ``hint`` tells the user what to do."""

    def __init__(self, message: str, *, hint: str = "", retryable: bool = False) -> None:
        super().__init__(message)
        self.hint = hint
        self.retryable = retryable


class EngineUnreachable(EngineError, exit_code=ExitCode.ENGINE_UNREACHABLE):
    """No key, bad key, or the server cannot be reached."""


class EngineBudgetError(EngineError):
    """Insufficient balance or a local cost limit."""


class ReplyInterrupted(EngineError):
    """The service cut the reply short (finish reason ``insufficient_system_resource``): worth another try."""

    kind = "system_resource"
