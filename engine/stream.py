"""Pure assembly of a streamed chat completion: SSE lines -> chunks -> deltas -> one ``ChatReply``.

Tool-call arguments may be split at any byte of any chunk and several calls may interleave by ``index``;
reasoning deltas (``reasoning_content``) are kept apart from answer text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from v4agent.engine.types import ChatReply, Delta, EngineError, ToolCall
from v4agent.engine.usage import normalize_usage

DONE = "[DONE]"
_decode = json.JSONDecoder().decode  # skips json.loads' per-call argument checks on the hot path


class StreamProtocolError(EngineError):
    """The server sent something that is not a chat-completions stream."""


def iter_sse_data(lines: Iterable[str]) -> Iterator[str]:
    """The ``data`` payloads of an SSE stream, stopping at ``[DONE]``. Comments (keep-alives) are skipped."""
    pending: str | None = None  # the usual event has one data line; several are joined with newlines
    for line in lines:
        if line.endswith(("\n", "\r")):
            line = line.rstrip("\r\n")
        if not line:
            if pending is not None:
                if pending == DONE:
                    return
                yield pending
                pending = None
        elif line.startswith("data:"):
            data = line[6:] if line.startswith("data: ") else line[5:]
            pending = data if pending is None else pending + "\n" + data
    if pending is not None and pending != DONE:
        yield pending


@dataclass
class _PendingCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class StreamAssembler:
    """Feed chunks (parsed JSON dicts) in order; ``reply()`` gives the assembled result."""

    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    calls: dict[int, _PendingCall] = field(default_factory=dict)
    finish_reason: str | None = None
    usage_raw: Mapping[str, Any] | None = None
    model: str = ""
    raw_id: str = ""
    created: int = 0
    chunks: int = 0

    def feed_json(self, payload: str, *, emit: bool = True) -> list[Delta]:
        """Take one SSE data payload as a chunk; raise when it is not a JSON object or reports an error."""
        try:
            chunk = _decode(payload)
        except ValueError:
            raise StreamProtocolError(f"the server sent a stream chunk that is not JSON: {payload[:80]!r}") from None
        if not isinstance(chunk, dict):
            raise StreamProtocolError(f"the server sent a stream chunk that is not an object: {payload[:80]!r}")
        if "error" in chunk and "choices" not in chunk:
            error = chunk["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise EngineError(f"the server reported an error mid-stream: {message}", retryable=True)
        return self.feed(chunk, emit=emit)

    def feed(self, chunk: Mapping[str, Any], *, emit: bool = True) -> list[Delta]:
        """Take one chunk; return its deltas (an empty list when ``emit`` is False: nobody is listening)."""
        self.chunks += 1
        if not self.raw_id and chunk.get("id"):
            self.raw_id = str(chunk["id"])
        if not self.model and chunk.get("model"):
            self.model = str(chunk["model"])
            self.created = _created(chunk)
        usage = chunk.get("usage")
        if usage:
            self.usage_raw = usage
        deltas: list[Delta] = []
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("reasoning_content")
            if text:
                self.reasoning.append(text)
                if emit:
                    deltas.append(Delta("reasoning", text))
            text = delta.get("content")
            if text:
                self.content.append(text)
                if emit:
                    deltas.append(Delta("content", text))
            for call in delta.get("tool_calls") or ():
                made = self._feed_call(call)
                if emit:
                    deltas.append(made)
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        return deltas

    def _feed_call(self, call: Mapping[str, Any]) -> Delta:
        index = int(call.get("index", len(self.calls)))
        pending = self.calls.setdefault(index, _PendingCall())
        if call.get("id") and not pending.id:
            pending.id = str(call["id"])
        function = call.get("function") or {}
        if function.get("name") and not pending.name:
            pending.name = str(function["name"])
        piece = function.get("arguments") or ""
        if piece:
            pending.arguments.append(piece)
        return Delta("tool_call", piece, tool_index=index, tool_name=pending.name or None)

    @property
    def finished(self) -> bool:
        """True once a chunk has given a finish reason."""
        return self.finish_reason is not None

    def reply(self, timings: dict[str, float] | None = None) -> ChatReply:
        """The reply assembled from every chunk so far, with its normalized usage."""
        calls = tuple(
            ToolCall(id=p.id or f"call_{i}", name=p.name, arguments="".join(p.arguments))
            for i, p in sorted(self.calls.items())
        )
        return ChatReply(
            content="".join(self.content),
            reasoning="".join(self.reasoning),
            tool_calls=calls,
            finish_reason=self.finish_reason or "",
            usage=normalize_usage(self.usage_raw),
            model=self.model,
            raw_id=self.raw_id,
            timings=dict(timings or {}),
            created=self.created,
        )


def _created(body: Mapping[str, Any]) -> int:
    """The response's ``created`` timestamp (Unix seconds), or 0 when it is missing or not a number."""
    value = body.get("created")
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else 0


def reply_from_completion(body: Mapping[str, Any], timings: dict[str, float] | None = None) -> ChatReply:
    """A whole (non-streamed) chat completion into a ``ChatReply``."""
    choices = body.get("choices") or []
    if not choices:
        raise StreamProtocolError("the server's reply has no choices")
    message = choices[0].get("message") or {}
    calls = tuple(
        ToolCall(
            id=str(c.get("id") or f"call_{i}"),
            name=str((c.get("function") or {}).get("name", "")),
            arguments=str((c.get("function") or {}).get("arguments") or ""),
        )
        for i, c in enumerate(message.get("tool_calls") or ())
    )
    return ChatReply(
        content=message.get("content") or "",
        reasoning=message.get("reasoning_content") or "",
        tool_calls=calls,
        finish_reason=str(choices[0].get("finish_reason") or ""),
        usage=normalize_usage(body.get("usage")),
        model=str(body.get("model", "")),
        raw_id=str(body.get("id", "")),
        timings=dict(timings or {}),
        created=_created(body),
    )
