"""Render a chat-completions request to V4 tokens, segment by segment.

The layout follows DeepSeek's chat template closely enough for cache accounting: BOS, the first system message,
the tool schemas, then each message wrapped in its role markers. Each segment is tokenized on its own and the
token lists are concatenated, so appending a message extends the token list exactly (what the real server's
prefix cache sees for an append-only conversation). The trailing assistant-generation marker is *not* part of
the input: an assistant message's segment starts with it, and ``render_output`` of a reply equals the segment
that the same message gets when it is sent back, so input+output is a prefix of the next request.

Per-segment token lists are memoized by content hash, so a long session over a large pack tokenizes only the
segments that are new.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from v4agent.agent.request.cacheunits import common_prefix_len, pack_tokens
from v4agent.tokens.tokenizer import Tokenizer

BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"
USER = "<｜User｜>"
ASSISTANT = "<｜Assistant｜>"
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
CALLS_BEGIN = "<｜tool▁calls▁begin｜>"
CALLS_END = "<｜tool▁calls▁end｜>"
CALL_BEGIN = "<｜tool▁call▁begin｜>"
CALL_END = "<｜tool▁call▁end｜>"
TOOL_SEP = "<｜tool▁sep｜>"
OUTPUT_BEGIN = "<｜tool▁output▁begin｜>"
OUTPUT_END = "<｜tool▁output▁end｜>"
SYS_BEGIN = "<｜begin▁sys｜>"
SYS_END = "<｜end▁sys｜>"

_MEMO_LIMIT = 8192


@dataclass(frozen=True)
class Segment:
    """A labelled token range ``[start, end)`` of a rendered request."""

    label: str
    start: int
    end: int


@dataclass(frozen=True)
class RenderedRequest:
    """A request rendered to V4 tokens, split into labelled segments (system, tools, each message)."""

    tokens: list[int]
    segments: list[Segment]
    packed: bytes = b""  # the same tokens as int32 bytes (``cacheunits.pack_tokens``), for fast compares

    def segment_at(self, offset: int) -> Segment | None:
        """The segment that holds token ``offset``, or None past the end."""
        for seg in self.segments:
            if seg.start <= offset < seg.end:
                return seg
        return None


class _Memo:
    """A bounded, thread-safe map from (tokenizer, text hash) to the text's tokens."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._data: OrderedDict[tuple[str, bytes], tuple[tuple[int, ...], bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self.misses = 0

    def tokens(self, tokenizer: Tokenizer, text: str) -> tuple[tuple[int, ...], bytes]:
        """The text's tokens, and the same packed as int32 bytes."""
        key = (tokenizer.name, hashlib.blake2b(text.encode("utf-8"), digest_size=20).digest())
        with self._lock:
            found = self._data.get(key)
            if found is not None:
                self._data.move_to_end(key)
                return found
        ids = tokenizer.encode(text)
        encoded = (tuple(ids), pack_tokens(ids))
        with self._lock:
            self.misses += 1
            self._data[key] = encoded
            while len(self._data) > self._limit:
                self._data.popitem(last=False)
        return encoded


_MEMO = _Memo(_MEMO_LIMIT)


def memo_misses() -> int:
    """How many segment texts were tokenized so far (cache misses of the memo), for tests and benchmarks."""
    return _MEMO.misses


def content_text(content: Any) -> str:
    """A message's content as text: a string, None, or a list of OpenAI content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(str(part["text"]))
            elif isinstance(part, str):
                parts.append(part)
        return "".join(parts)
    return str(content)


def _tool_calls_text(tool_calls: Any) -> str:
    if not isinstance(tool_calls, list) or not tool_calls:
        return ""
    pieces = [CALLS_BEGIN]
    for call in tool_calls:
        fn = call.get("function", {}) if isinstance(call, Mapping) else {}
        kind = call.get("type", "function") if isinstance(call, Mapping) else "function"
        name = fn.get("name", "") if isinstance(fn, Mapping) else ""
        arguments = fn.get("arguments", "") if isinstance(fn, Mapping) else ""
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        pieces.append(f"{CALL_BEGIN}{kind}{TOOL_SEP}{name}\n```json\n{arguments}\n```{CALL_END}")
    pieces.append(CALLS_END)
    return "".join(pieces)


def assistant_text(message: Mapping[str, Any]) -> str:
    """An assistant message as the model generated it (and as it is stored when sent back)."""
    reasoning = message.get("reasoning_content")
    think = f"{THINK_OPEN}{reasoning}{THINK_CLOSE}" if isinstance(reasoning, str) and reasoning else ""
    return (f"{ASSISTANT}{think}{content_text(message.get('content'))}"
            f"{_tool_calls_text(message.get('tool_calls'))}{EOS}")


def _message_text(message: Mapping[str, Any], first_system: bool) -> str:
    role = message.get("role")
    text = content_text(message.get("content"))
    if role == "system":
        return text if first_system else f"{SYS_BEGIN}{text}{SYS_END}"
    if role == "user":
        return f"{USER}{text}"
    if role == "assistant":
        return assistant_text(message)
    if role == "tool":
        return f"{OUTPUT_BEGIN}{text}{OUTPUT_END}"
    return f"{SYS_BEGIN}{role}: {text}{SYS_END}"


def tools_text(tools: Sequence[Mapping[str, Any]]) -> str:
    """Tool schemas exactly as sent (key order kept: a client that reorders keys breaks the cache)."""
    lines = [json.dumps(tool, ensure_ascii=False, separators=(",", ":")) for tool in tools]
    return "\n\n## Tools\n" + "\n".join(lines) + "\n"


def render_request(messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]],
                   tokenizer: Tokenizer) -> RenderedRequest:
    """Tokens and labelled segments of a request's input (no trailing generation marker)."""
    texts: list[tuple[str, str]] = []
    rest = list(enumerate(messages))
    if rest and rest[0][1].get("role") == "system":
        texts.append(("system", _message_text(rest[0][1], first_system=True)))
        rest = rest[1:]
    if tools:
        texts.append(("tools", tools_text(tools)))
    for index, message in rest:
        texts.append((f"message {index} ({message.get('role')})", _message_text(message, first_system=False)))
    if texts:
        label, text = texts[0]
        texts[0] = (label, BOS + text)
    else:
        texts.append(("bos", BOS))
    tokens: list[int] = []
    packed: list[bytes] = []
    segments: list[Segment] = []
    for label, text in texts:
        start = len(tokens)
        ids, raw = _MEMO.tokens(tokenizer, text)
        tokens.extend(ids)
        packed.append(raw)
        segments.append(Segment(label, start, len(tokens)))
    return RenderedRequest(tokens, segments, b"".join(packed))


def render_output(reply_message: Mapping[str, Any], tokenizer: Tokenizer) -> list[int]:
    """Tokens the model generated for ``reply_message``; equal to that message's segment when sent back."""
    return list(_MEMO.tokens(tokenizer, assistant_text(reply_message))[0])


def first_divergence(prev: RenderedRequest, cur: RenderedRequest) -> tuple[str, int] | None:
    """Where ``cur`` stops extending ``prev``: (segment label, token offset), or None if it extends it.

    The label names the segment of ``cur`` at the offset; when ``cur`` is a strict prefix of ``prev`` the
    label names the segment of ``prev`` that was dropped.
    """
    lcp = common_prefix_len(prev.packed or prev.tokens, cur.packed or cur.tokens)
    if lcp == len(prev.tokens):
        return None
    seg = cur.segment_at(lcp) or prev.segment_at(lcp)
    return (seg.label if seg is not None else "end", lcp)
