"""The token budget of a request: how much one tool result may take, and how an over-full request is made to fit.

Two rules keep every request inside the context window:

- **Tool results are capped by tokens.** A result may take at most a quarter of the room left below the
  compaction limit (``window - max_output - margin`` minus what the conversation already holds), never more
  than ``RESULT_CEILING`` and never less than ``RESULT_FLOOR`` tokens. So the cap shrinks as the context fills,
  and the results of one turn together never use up the room (each takes a quarter of what the ones before it
  left). A result over its cap keeps its head and its tail; the middle becomes one line saying how many lines
  and tokens were left out and how to get them back.
- **A request that would not fit is shrunk, oldest first.** ``fit_request`` replaces the payloads of old turns
  with short stubs until the rendered request fits: first the tool results and tool-call arguments (the bulk
  of any long session: file contents written or read), oldest first, then any other turn content. The system
  prompt, the pack and the task are never touched, nor is the request's last message. It is used for the
  summary request of a compaction only, so the byte-stable prefix of a session's ordinary turns never changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from v4agent.agent.request.layout import FIRST_TURN_INDEX, Message, ToolSchema
from v4agent.agent.request.template import content_text, render_request
from v4agent.tokens.tokenizer import Tokenizer

__all__ = [
    "RESULT_CEILING", "RESULT_FLOOR", "FitResult", "clip_middle", "fit_request", "request_tokens", "result_cap",
]

RESULT_CEILING = 32_768
RESULT_FLOOR = 1_024
_PIECE_CHARS = 500  # one very long line is cut inside itself, in pieces of this many characters
_HEAD_SHARE = 0.5
_CLIP_TRIES = 4


def result_cap(limit: int, used: int) -> int:
    """The most tokens one tool result may take with ``used`` tokens in the context and ``limit`` the
    compaction limit: a quarter of the room left, within ``[RESULT_FLOOR, RESULT_CEILING]``."""
    return max(RESULT_FLOOR, min(RESULT_CEILING, (limit - used) // 4))


def omitted_note(lines: int, tokens: int, hint: str) -> str:
    """The line that stands for a clipped middle."""
    return f"[... {lines} lines / {tokens} tokens omitted; {hint} ...]"


def _pieces(text: str) -> list[str]:
    """``text`` as lines (kept ends), a line longer than ``_PIECE_CHARS`` cut into pieces of that size."""
    out: list[str] = []
    for line in text.splitlines(keepends=True):
        if len(line) <= _PIECE_CHARS:
            out.append(line)
        else:
            out.extend(line[i:i + _PIECE_CHARS] for i in range(0, len(line), _PIECE_CHARS))
    return out


def _take(sizes: Sequence[int], budget: int) -> int:
    """How many of ``sizes``, from the start, fit in ``budget``."""
    used = 0
    for taken, size in enumerate(sizes):
        if used + size > budget:
            return taken
        used += size
    return len(sizes)


def clip_middle(text: str, cap: int, tokenizer: Tokenizer, *, hint: str = "use read_file with a range") -> str:
    """``text`` when it holds at most ``cap`` tokens; else its head and tail with the middle replaced by a note
    saying how many lines and tokens were left out (and ``hint``: how to see them)."""
    total = tokenizer.count(text)
    if total <= cap:
        return text
    pieces = _pieces(text)
    sizes = tokenizer.count_many(pieces)
    budget = cap - tokenizer.count(omitted_note(len(pieces), total, hint)) - 2
    clipped = text
    for _ in range(_CLIP_TRIES):  # piece counts add up to about the whole: recount, and give back any excess
        head = _take(sizes, max(0, int(budget * _HEAD_SHARE)))
        tail = _take(sizes[head:][::-1], max(0, budget - sum(sizes[:head])))
        middle = "".join(pieces[head:len(pieces) - tail])
        lines = max(1, middle.count("\n"))
        note = omitted_note(lines, max(0, total - sum(sizes[:head]) - sum(sizes[len(pieces) - tail:])), hint)
        head_text = "".join(pieces[:head])
        sep = "" if not head_text or head_text.endswith("\n") else "\n"
        clipped = f"{head_text}{sep}{note}\n{''.join(pieces[len(pieces) - tail:])}"
        over = tokenizer.count(clipped) - cap
        if over <= 0:
            return clipped
        budget -= over + 8
    return clipped


def request_tokens(messages: Sequence[Message], tools: Sequence[ToolSchema], tokenizer: Tokenizer, *,
                   thinking: bool = True, effort: str | None = None) -> int:
    """The request's length in V4 tokens, as the provider counts it (runs are memoized)."""
    return render_request(messages, tools, tokenizer, thinking=thinking, effort=effort).prompt_tokens


@dataclass(frozen=True)
class FitResult:
    """A request made to fit: its messages, how many payloads were stubbed, its size, and whether it fits."""

    messages: list[Message]
    stubbed: int
    tokens: int
    fits: bool


@dataclass(frozen=True)
class _Payload:
    """One replaceable part of a turn message: its content, its reasoning, or one tool call's arguments."""

    index: int
    field: str  # "content", "reasoning_content" or "arguments"
    call: int = -1  # the tool call's position, for "arguments"


def _payloads(messages: Sequence[Message], *, tool_only: bool) -> Iterator[_Payload]:
    for index in range(FIRST_TURN_INDEX, len(messages) - 1):  # the last message is the one being asked
        message = messages[index]
        if message.get("role") == "tool":
            yield _Payload(index, "content")
            continue
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            for position in range(len(calls)):
                yield _Payload(index, "arguments", position)
        if not tool_only:
            yield _Payload(index, "content")
            yield _Payload(index, "reasoning_content")


def _text_of(message: Message, payload: _Payload) -> str:
    if payload.field == "arguments":
        try:
            arguments = message["tool_calls"][payload.call]["function"]["arguments"]
        except (KeyError, IndexError, TypeError):
            return ""
        return arguments if isinstance(arguments, str) else ""
    value = message.get(payload.field)
    return content_text(value) if payload.field == "content" else value if isinstance(value, str) else ""


_WHY = "left out of this request to fit the context window"


def _stub(payload: _Payload, role: str, tokens: int) -> str:
    if payload.field == "arguments":  # still a JSON object: some servers parse the arguments they are sent back
        return json.dumps({"omitted": f"{tokens} tokens of arguments {_WHY}"})
    if role == "tool":
        return f"[tool result of {tokens} tokens {_WHY}]"
    return f"[{tokens} tokens {_WHY}]"


def _replaced(message: Message, payload: _Payload, stub: str) -> Message:
    out: dict[str, Any] = dict(message)
    if payload.field != "arguments":
        out[payload.field] = stub
        return out
    calls = [dict(c) for c in message["tool_calls"]]
    call = calls[payload.call]
    call["function"] = {**call["function"], "arguments": stub}
    out["tool_calls"] = calls
    return out


def fit_request(messages: Sequence[Message], tools: Sequence[ToolSchema], tokenizer: Tokenizer,
                limit: int, *, thinking: bool = True, effort: str | None = None) -> FitResult:
    """``messages`` with old turn payloads stubbed, oldest first, until the request holds at most ``limit``
    tokens: tool results and tool-call arguments first, then any other turn content (see the module doc).
    ``fits`` is False when even every stub leaves it over: the system prompt, pack and task are too big."""
    out = [dict(m) for m in messages]
    total = request_tokens(out, tools, tokenizer, thinking=thinking, effort=effort)
    if total <= limit:
        return FitResult(out, 0, total, True)
    stubbed = 0
    for tool_only in (True, False):
        for payload in _payloads(out, tool_only=tool_only):
            if total <= limit:
                return FitResult(out, stubbed, total, True)
            message = out[payload.index]
            text = _text_of(message, payload)
            if not text or (len(text) < 2 * len(_WHY) and _WHY in text):  # nothing there, or stubbed already
                continue
            size = tokenizer.count(text)
            stub = _stub(payload, str(message.get("role")), size)
            saved = size - tokenizer.count(stub)
            if saved <= 0:
                continue
            out[payload.index] = _replaced(message, payload, stub)
            stubbed += 1
            total -= saved
            if total <= limit:  # the estimate says it fits: render to be sure
                total = request_tokens(out, tools, tokenizer, thinking=thinking, effort=effort)
    total = request_tokens(out, tools, tokenizer, thinking=thinking, effort=effort)
    return FitResult(out, stubbed, total, total <= limit)
