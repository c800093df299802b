"""Render a chat-completions request to DeepSeek V4 tokens, labelled by the request part each token came from.

The text is the published V4 encoder's (``encoder.py``, which cites it): tools with their instructions on the
system message, tool results folded into user turns, DSML tool calls, the thinking markers. Tokens are what the
server's tokenizer makes of that text: it splits the special tokens out before BPE, so the prompt is tokenized
in runs (each special token alone, the text between them as one run) and the runs' tokens concatenate to the
prompt's. So the count equals the provider's ``prompt_tokens`` for the same request, tools included.

A request is its input (``tokens``) and the generation marker that ends it (``suffix``: ``<｜Assistant｜><think>``
after a user turn). The provider stores a cache unit at the end of the input, before the marker
(https://api-docs.deepseek.com/guides/kv_cache: "the end position of the user input"), and another after the
output, which follows the marker; so ``suffix`` + ``render_output`` of a reply is what the same reply adds when
it is sent back, and input + suffix + output is a prefix of the next request.

Runs are memoized by content hash, so a long session over a large pack tokenizes only the runs that are new.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from v4agent.agent.request.cacheunits import common_prefix_len, pack_tokens
from v4agent.agent.request.encoder import Piece, assistant_pieces, content_text, prompt_pieces
from v4agent.tokens.tokenizer import Tokenizer

__all__ = [
    "RenderedRequest", "Segment", "content_text", "first_divergence", "memo_misses", "render_output",
    "render_request",
]

_MEMO_LIMIT = 8192
_SAME_MIN = 1 << 16  # characters: runs this long are also found by the identity of their texts (no hashing)
_SAME_LIMIT = 32


@dataclass(frozen=True)
class Segment:
    """A labelled token range ``[start, end)`` of a rendered request."""

    label: str
    start: int
    end: int


@dataclass(frozen=True)
class RenderedRequest:
    """A request rendered to V4 tokens, split into labelled segments (system, tools, each message)."""

    tokens: list[int]  # the input, up to the generation marker
    segments: list[Segment]
    packed: bytes = b""  # the same tokens as int32 bytes (``cacheunits.pack_tokens``), for fast compares
    suffix: tuple[int, ...] = ()  # the generation marker that ends the prompt (none when it ends on a reply)

    @property
    def prompt_tokens(self) -> int:
        """The whole prompt's length: what the provider bills as ``prompt_tokens``."""
        return len(self.tokens) + len(self.suffix)

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
        self._same: OrderedDict[tuple[str, tuple[int | str, ...]],
                                tuple[tuple[str, ...], tuple[tuple[int, ...], bytes]]] = OrderedDict()

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

    def run_tokens(self, tokenizer: Tokenizer, texts: Sequence[str]) -> tuple[tuple[int, ...], bytes]:
        """The tokens of the texts joined. A long run whose texts are the very objects of an earlier call (the
        pack's message, unchanged for the session) skips joining, encoding and hashing megabytes on each call:
        strings are immutable, so the same objects are the same text (the entry holds them, so no id is
        reused while it lives)."""
        big = tuple(t for t in texts if len(t) >= _SAME_MIN)  # named by identity; the small ones by value
        if not big:
            return self.tokens(tokenizer, "".join(texts))
        key = (tokenizer.name, tuple(id(t) if len(t) >= _SAME_MIN else t for t in texts))
        with self._lock:
            held = self._same.get(key)
        if held is not None and all(a is b for a, b in zip(held[0], big, strict=True)):
            return held[1]
        found = self.tokens(tokenizer, "".join(texts))
        with self._lock:
            self._same[key] = (big, found)
            while len(self._same) > _SAME_LIMIT:
                self._same.popitem(last=False)
        return found


_MEMO = _Memo(_MEMO_LIMIT)


def memo_misses() -> int:
    """How many segment texts were tokenized so far (cache misses of the memo), for tests and benchmarks."""
    return _MEMO.misses


def _runs(pieces: Sequence[Piece]) -> list[list[Piece]]:
    """Pieces grouped as the tokenizer sees them: each special token alone, the text between them as one run."""
    runs: list[list[Piece]] = []
    for piece in pieces:
        if piece.special or not runs or runs[-1][-1].special:
            runs.append([piece])
        else:
            runs[-1].append(piece)
    return [run for run in runs if any(p.text for p in run)]


def _label_bounds(run: Sequence[Piece], tokenizer: Tokenizer, start: int, end: int) -> list[Segment]:
    """Where each label's part of a run ends: a run that holds several request parts (the system prompt and the
    tools; merged user turns) is split by the parts' own token counts, clamped to the run (labels only)."""
    if len({p.label for p in run}) == 1:
        return [Segment(run[0].label, start, end)]
    # The longest piece (the pack, in a turn that merges the task into it) is never tokenized again on its
    # own: its share is what the others leave.
    longest = max(range(len(run)), key=lambda i: len(run[i].text))
    sizes = [0 if i == longest else len(_MEMO.tokens(tokenizer, p.text)[0]) for i, p in enumerate(run)]
    sizes[longest] = max(0, end - start - sum(sizes))
    out: list[Segment] = []
    at = start
    for index, (piece, size) in enumerate(zip(run, sizes, strict=True)):
        stop = end if index == len(run) - 1 else min(end, at + size)
        out.append(Segment(piece.label, at, stop))
        at = stop
    return out


def _tokenize(pieces: Sequence[Piece], tokenizer: Tokenizer) -> tuple[list[int], bytes, list[Segment]]:
    tokens: list[int] = []
    packed: list[bytes] = []
    segments: list[Segment] = []
    for run in _runs(pieces):
        ids, raw = _MEMO.run_tokens(tokenizer, [p.text for p in run])
        start = len(tokens)
        tokens.extend(ids)
        packed.append(raw)
        for seg in _label_bounds(run, tokenizer, start, len(tokens)):
            if segments and segments[-1].label == seg.label and segments[-1].end == seg.start:
                segments[-1] = Segment(seg.label, segments[-1].start, seg.end)
            elif seg.end > seg.start:
                segments.append(seg)
    return tokens, b"".join(packed), segments


def render_request(messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]],
                   tokenizer: Tokenizer, *, thinking: bool = True, effort: str | None = None) -> RenderedRequest:
    """The request's input tokens with labelled segments, and its generation marker.

    ``thinking``: whether the request runs in thinking mode (DeepSeek's default when the request does not say,
    https://api-docs.deepseek.com/guides/thinking_mode); ``effort``: the effort the model runs at.
    """
    body, suffix = prompt_pieces(messages, tools, thinking=thinking, effort=effort)
    tokens, packed, segments = _tokenize(body, tokenizer)
    marker, _, _ = _tokenize(suffix, tokenizer)
    return RenderedRequest(tokens, segments, packed, tuple(marker))


def render_output(reply_message: Mapping[str, Any], tokenizer: Tokenizer, *, thinking: bool = True,
                  finished: bool = True) -> list[int]:
    """Tokens the model generated for ``reply_message`` after the generation marker: equal to what the same
    message adds, after the marker, when it is sent back (``finished`` False: cut short, no EOS)."""
    pieces = assistant_pieces(reply_message, "output", thinking=thinking, keep_reasoning=True, finished=finished)
    return _tokenize(pieces, tokenizer)[0]


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
