"""The chat-completions wire format as DeepSeek (or vLLM) writes it: whole replies, SSE chunks, error bodies.

Pure builders: the server in ``standin.py`` only decides *what* to send and writes these bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Mode = Literal["deepseek", "vllm"]


@dataclass(frozen=True)
class ScriptedToolCall:
    """A tool call a scripted reply makes; ``id`` None gets a generated one."""

    name: str
    arguments: str  # raw JSON text, sent as is (may be malformed on purpose)
    id: str | None = None


@dataclass(frozen=True)
class ScriptedReply:
    """What the stand-in answers to one call: content, reasoning, tool calls, finish reason."""

    content: str = ""
    reasoning: str = ""
    tool_calls: Sequence[ScriptedToolCall] = ()
    finish_reason: str | None = None  # default: "tool_calls" or "stop", or "length" when cut at max_tokens


@dataclass(frozen=True)
class ReplyUsage:
    """The usage figures of one reply, before they are written in a mode's format."""

    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    cache_hit: int
    theoretical_max_hit: int
    cached_details: bool = True  # False: leave prompt_tokens_details out, as vLLM does without the flag for it

    def to_json(self, mode: Mode) -> dict[str, Any]:
        """The usage object as ``mode`` writes it (DeepSeek adds its prompt_cache_hit/miss fields)."""
        usage: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
        }
        if self.cached_details or mode == "deepseek":
            usage["prompt_tokens_details"] = {"cached_tokens": self.cache_hit}
        if mode == "deepseek":
            usage["prompt_cache_hit_tokens"] = self.cache_hit
            usage["prompt_cache_miss_tokens"] = self.prompt_tokens - self.cache_hit
        usage["standin_theoretical_max_hit"] = self.theoretical_max_hit
        return usage


@dataclass
class ReplyFrame:
    """What every chunk or whole reply of one call shares."""

    id: str
    model: str
    created: int
    mode: Mode
    thinking: bool
    tool_ids: list[str] = field(default_factory=list)
    finish_reason: str = ""  # as served (a reply cut at max_tokens ends at "length"); "" = the script's

    def finish(self, reply: ScriptedReply) -> str:
        """The finish reason to send for ``reply``."""
        return self.finish_reason or finish_reason_of(reply)


def finish_reason_of(reply: ScriptedReply) -> str:
    """The scripted finish reason, else ``tool_calls`` when the reply calls tools, else ``stop``."""
    if reply.finish_reason is not None:
        return reply.finish_reason
    return "tool_calls" if reply.tool_calls else "stop"


def tool_call_ids(reply: ScriptedReply, call_number: int) -> list[str]:
    """Ids of the reply's tool calls: the scripted one, else ``call_NNNN_i`` from the call number."""
    return [c.id or f"call_{call_number:04d}_{i}" for i, c in enumerate(reply.tool_calls)]


def reply_message(reply: ScriptedReply, ids: Sequence[str], *, thinking: bool) -> dict[str, Any]:
    """The assistant message of a whole reply (DeepSeek sends ``content: ""`` beside tool calls)."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if thinking or reply.reasoning:
        message["reasoning_content"] = reply.reasoning
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": ids[i], "type": "function",
             "function": {"name": c.name, "arguments": c.arguments}}
            for i, c in enumerate(reply.tool_calls)
        ]
    return message


def whole_reply(frame: ReplyFrame, reply: ScriptedReply, usage: ReplyUsage) -> dict[str, Any]:
    """A whole (non-streamed) chat completion body."""
    message = reply_message(reply, frame.tool_ids, thinking=frame.thinking)
    return {
        "id": frame.id,
        "object": "chat.completion",
        "created": frame.created,
        "model": frame.model,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": frame.finish(reply)}],
        "usage": usage.to_json(frame.mode),
        "system_fingerprint": "fp_standin",
    }


def _pieces(text: str, size: int) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start:start + size]


def _chunk(frame: ReplyFrame, delta: dict[str, Any], finish_reason: str | None = None,
           usage: dict[str, Any] | None = None, *, no_choices: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": frame.id,
        "object": "chat.completion.chunk",
        "created": frame.created,
        "model": frame.model,
        "system_fingerprint": "fp_standin",
        "choices": [] if no_choices else [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def stream_chunks(frame: ReplyFrame, reply: ScriptedReply, usage: ReplyUsage, *, chunk_chars: int,
                  include_usage: bool) -> list[dict[str, Any]]:
    """The SSE payloads of one streamed reply, in order (without the final ``[DONE]``).

    Reasoning deltas come before content deltas; each tool call opens with its index, id and name, then its
    arguments follow in ``chunk_chars`` pieces. Usage: DeepSeek puts it on the chunk carrying the finish
    reason; vLLM (like OpenAI) sends an extra chunk with empty ``choices``.

    In thinking mode DeepSeek's first delta is ``{"role": "assistant", "content": null, "reasoning_content": ""}``
    and answer deltas carry ``"reasoning_content": null``: the shape in the test fixtures of DeepSeek's own
    harness (https://github.com/deepseek-ai/deepseek-harness, its chat-completions adapter tests).
    """
    size = max(1, chunk_chars)
    deepseek_thinking = frame.thinking and frame.mode == "deepseek"
    opening: dict[str, Any] = {"role": "assistant", "content": ""}
    if deepseek_thinking:
        opening = {"role": "assistant", "content": None, "reasoning_content": ""}
    chunks = [_chunk(frame, opening)]
    for piece in _pieces(reply.reasoning, size):
        chunks.append(_chunk(frame, {"content": None, "reasoning_content": piece}))
    for piece in _pieces(reply.content, size):
        delta: dict[str, Any] = {"content": piece, "reasoning_content": None} if deepseek_thinking else {
            "content": piece}
        chunks.append(_chunk(frame, delta))
    for i, call in enumerate(reply.tool_calls):
        opening = {"index": i, "id": frame.tool_ids[i], "type": "function",
                   "function": {"name": call.name, "arguments": ""}}
        chunks.append(_chunk(frame, {"tool_calls": [opening]}))
        for piece in _pieces(call.arguments, size):
            chunks.append(_chunk(frame, {"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
    usage_json = usage.to_json(frame.mode) if include_usage else None
    finish = frame.finish(reply)
    if frame.mode == "deepseek":
        chunks.append(_chunk(frame, {"content": ""}, finish, usage_json))
    else:
        chunks.append(_chunk(frame, {}, finish))
        if usage_json is not None:
            chunks.append(_chunk(frame, {}, usage=usage_json, no_choices=True))
    return chunks


def sse_event(payload: dict[str, Any]) -> bytes:
    """One SSE ``data:`` event carrying ``payload`` as compact JSON."""
    return b"data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"
SSE_KEEPALIVE = b": keep-alive\n\n"


def error_body(message: str, type_: str, code: str | None) -> dict[str, Any]:
    """An OpenAI-style error body, as DeepSeek and vLLM send it."""
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def concurrency_message(current: int, limit: int) -> str:
    """DeepSeek's 429 over the account's concurrency limit, verbatim as a client quoted it
    (https://github.com/tarigelamin1997/jobfetcher/pull/42): a rate limit, although it names the balance."""
    return (f"Your current concurrency is {current}, which exceeds your concurrency limit of {limit} based on "
            f"your remaining balance. Please top up your balance to restore your concurrency.")


@dataclass(frozen=True)
class BalanceInfo:
    """One currency's entry of ``GET /user/balance`` (amounts are strings, as documented)."""

    currency: str = "USD"
    total_balance: str = "10.00"
    granted_balance: str = "0.00"
    topped_up_balance: str = "10.00"


def balance_body(infos: Sequence[BalanceInfo], available: bool = True) -> dict[str, Any]:
    """The body of ``GET /user/balance`` (https://api-docs.deepseek.com/api/get-user-balance)."""
    return {"is_available": available,
            "balance_infos": [{"currency": i.currency, "total_balance": i.total_balance,
                               "granted_balance": i.granted_balance, "topped_up_balance": i.topped_up_balance}
                              for i in infos]}
