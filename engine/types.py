"""The records every engine speaks: a request's fixed settings, streamed deltas, the reply and its usage.

Messages and tool schemas are plain OpenAI chat-completions dicts, because that is the wire format and the
byte-stable prefix is built from them. Everything else is a frozen dataclass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from v4agent.core.errors import ExitCode, V4AgentError

Message = dict[str, Any]  # {"role": ..., "content": ..., optional "reasoning_content", "tool_calls", ...}
ToolSchema = dict[str, Any]  # {"type": "function", "function": {"name", "description", "parameters"}}
ThinkLevel = Literal["off", "low", "high", "max"]


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

    kind: Literal["content", "reasoning", "tool_call"]
    text: str = ""
    tool_index: int | None = None
    tool_name: str | None = None


@dataclass(frozen=True)
class ChatReply:
    """A whole reply: answer, reasoning, tool calls, finish reason and usage."""

    content: str
    reasoning: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str
    usage: Usage | None
    model: str = ""
    raw_id: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    def as_message(self) -> Message:
        """The assistant message to append to the conversation, as DeepSeek requires it sent back.

        Reasoning text is kept on tool-call turns (the API answers 400 without it); an assistant turn with
        only tool calls carries ``content: ""``.
        """
        message: Message = {"role": "assistant", "content": self.content or ""}
        if self.reasoning:
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
