"""Exact DeepSeek V4 token counts and ids, faster than a full ``tokenizers`` encode.

A V4 encode spends most of its time in the pre-tokenizer (three Unicode regex splits run by Oniguruma), not in
BPE. On printable ASCII plus tabs and line breaks (what most code is) those three splits reduce to the one
regex below, and a piece's BPE depends only on the piece, so counts are memoised per distinct piece: pieces
recur all the time in code. A text is cut at line starts (a piece never crosses "\\n" followed by spaces or
tabs then a printable ASCII character); regions holding any other character go to the real tokenizer, and so does a text holding an
ASCII added token such as ``<think>``. The reduction holds for the pre-tokenizer it was derived from: at load the
tokenizer's pre-tokenizer, normalizer, model and added tokens are compared with it, and any difference turns the
fast path off (counts then come from ``tokenizers`` alone; exact either way).
"""

from __future__ import annotations

import bisect
import json
import re
import threading
from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any

__all__ = ["V4_PRE_TOKENIZER", "PieceCounter"]

# The V4 tokenizer.json's pre-tokenizer, as ``tokenizers`` serialises it: the reduction below is proven for it.
V4_PRE_TOKENIZER: dict[str, Any] = {
    "type": "Sequence",
    "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}"}, "behavior": "Isolated", "invert": False},
        {"type": "Split", "pattern": {"Regex": "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+"},
         "behavior": "Isolated", "invert": False},
        {"type": "Split",
         "pattern": {"Regex": "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?"
                              "[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"},
         "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
    ],
}

# The three splits on ASCII text. Split 1 (\p{N}{1,3}) isolates digit runs in threes, cutting the text into
# segments that split 3 sees one at a time; split 2 (CJK) never matches ASCII. In split 3, \p{L} is [A-Za-z],
# \p{M} is empty, \p{P}|\p{S} is every ASCII punctuation mark, [^\r\n\p{L}\p{P}\p{S}] is a space or a tab (a
# digit never shares a segment with a letter) and \s is [ \t\r\n]. No alternative consumes a digit, so matches
# never cross a segment's edge; the one place the edge shows is \s+(?!\S) at a segment's end, where the next
# character is a digit: there (?!\S) holds, hence (?![^\s0-9]).
_ASCII_PIECES = re.compile(
    r"[0-9]{1,3}"
    r"|[!-/:-@\[-`{-~][A-Za-z]+"
    r"|[ \t]?[A-Za-z]+"
    r"| ?[!-/:-@\[-`{-~]+[\r\n]*"
    r"|[ \t\r\n]*[\r\n]+"
    r"|[ \t\r\n]+(?![^ \t\r\n0-9])"
    r"|[ \t\r\n]+"
)
_OTHER_CHAR = re.compile(r"[^\t\n\r -~]")  # what the reduction does not cover
# A piece boundary: its end is where a region may start. After a "\n" that only spaces or tabs separate from a
# printable ASCII character, no piece of the full text continues: the alternatives that can hold a line break
# ( ?[\p{P}\p{S}]+[\r\n]* and \s*[\r\n]+, the latter tried before \s+ at any start in a whitespace run) end at
# the run's last line break, which this one is; the others hold none, and no pattern looks behind. So indented
# lines (a directory tree's) are cut points too.
_LINE_START = re.compile(r"\n(?=[ \t]*[!-~])")
_BYTE_LEVEL = str.maketrans({" ": "\u0120", "\n": "\u010a", "\t": "\u0109", "\r": "\u010d"})  # GPT-2 byte map
_MEMO_LIMIT = 1 << 20  # distinct pieces remembered (~100 MB at most); the memo restarts past it
_SPAN = 1 << 18  # characters split into pieces at a time: a long text (a 100k-file tree) is not one huge list


class PieceCounter:
    """Counts tokens of texts exactly; ``count_many`` takes the fast path wherever it applies."""

    def __init__(self, impl: Any) -> None:
        self._impl = impl
        self._memo: dict[str, int] = {}
        self._ids_memo: dict[str, tuple[int, ...]] = {}
        self._memo_lock = threading.Lock()  # one tokenizer serves every thread (the stand-in server's too)
        self._fast = _reduction_holds(impl)
        self._added = _ascii_added_tokens(impl) if self._fast else None
        self._tokenize: Callable[[str], list[Any]] = impl.model.tokenize

    @property
    def fast(self) -> bool:
        """Whether the reduction applies to this tokenizer (else every count is a full encode)."""
        return self._fast

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """Exact token counts of ``texts``, in order; plain regions are counted per piece from the memo."""
        counts = [0] * len(texts)
        slow: list[str] = []  # regions (or whole texts) for the real tokenizer
        owner: list[int] = []
        for i, text in enumerate(texts):
            if not self._fast or (self._added is not None and self._added.search(text)):
                slow.append(text)
                owner.append(i)
                continue
            if text.isascii() and _OTHER_CHAR.search(text) is None:
                counts[i] = self._count_ascii(text)
                continue
            for start, end, plain in _regions(text):
                if plain:
                    counts[i] += self._count_ascii(text[start:end])
                else:
                    slow.append(text[start:end])
                    owner.append(i)
        if slow:
            for i, n in zip(owner, self._encode_counts(slow), strict=True):
                counts[i] += n
        return counts

    def encode(self, text: str) -> list[int]:
        """The text's token ids, equal to a full encode's, by the same cut into regions and pieces.

        A full ``tokenizers`` encode of a long text is slow and builds a large ``Encoding`` (offsets, token
        strings, masks); here plain regions are pieces looked up in a memo of their ids.
        """
        if not self._fast or (self._added is not None and self._added.search(text)):
            return self._encode_ids([text])[0]
        if text.isascii() and _OTHER_CHAR.search(text) is None:
            return self._ids_ascii(text)
        ids: list[int] = []
        regions = _regions(text)
        slow = iter(self._encode_ids([text[a:b] for a, b, plain in regions if not plain]))
        for start, end, plain in regions:
            ids.extend(self._ids_ascii(text[start:end]) if plain else next(slow))
        return ids

    def _encode_ids(self, texts: list[str]) -> list[list[int]]:
        if not texts:
            return []
        batch = getattr(self._impl, "encode_batch_fast", None) or self._impl.encode_batch
        return [e.ids for e in batch(texts, add_special_tokens=False)]

    def _encode_counts(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self._encode_ids(texts)]

    def _ids_ascii(self, text: str) -> list[int]:
        if len(text) > _SPAN:
            return list(chain.from_iterable(self._ids_ascii_span(text[a:b]) for a, b in _spans(text)))
        return self._ids_ascii_span(text)

    def _count_ascii(self, text: str) -> int:
        if len(text) > _SPAN:
            return sum(self._count_ascii_span(text[a:b]) for a, b in _spans(text))
        return self._count_ascii_span(text)

    def _ids_ascii_span(self, text: str) -> list[int]:
        memo = self._ids_memo
        pieces = _ASCII_PIECES.findall(text)
        with self._memo_lock:
            try:
                found = list(map(memo.__getitem__, pieces))
            except KeyError:
                self._learn(memo, pieces, lambda tokens: tuple(t.id for t in tokens))
                found = list(map(memo.__getitem__, pieces))
        return list(chain.from_iterable(found))

    def _count_ascii_span(self, text: str) -> int:
        memo = self._memo
        pieces = _ASCII_PIECES.findall(text)
        with self._memo_lock:
            try:
                return sum(map(memo.__getitem__, pieces))  # the common case, at C speed: every piece seen before
            except KeyError:
                self._learn(memo, pieces, len)
                return sum(map(memo.__getitem__, pieces))

    def _learn(self, memo: dict[str, Any], pieces: list[str], value: Callable[[list[Any]], Any]) -> None:
        """Put the pieces missing from ``memo`` in it (under the lock), restarting a memo grown too big."""
        if len(memo) > _MEMO_LIMIT:
            memo.clear()
        for piece in set(pieces).difference(memo):
            memo[piece] = value(self._tokenize(piece.translate(_BYTE_LEVEL)))


def _spans(text: str) -> list[tuple[int, int]]:
    """``text`` cut at line starts (never inside a piece) into spans of about ``_SPAN`` characters."""
    out: list[tuple[int, int]] = []
    start = 0
    while True:
        cut = _LINE_START.search(text, start + _SPAN) if start + _SPAN < len(text) else None
        if cut is None:
            out.append((start, len(text)))
            return out
        out.append((start, cut.end()))
        start = cut.end()


def _regions(text: str) -> list[tuple[int, int, bool]]:
    """``text`` cut into (start, end, plain) regions at line starts: plain ones hold only what the reduction
    covers; each other region spans the lines around characters it does not cover."""
    starts = [0] + [m.end() for m in _LINE_START.finditer(text)]
    out: list[tuple[int, int, bool]] = []
    at = 0  # everything before ``at`` is placed
    for m in _OTHER_CHAR.finditer(text):
        if m.start() < at:
            continue  # inside the region just placed
        k = bisect.bisect_right(starts, m.start())
        lo, hi = starts[k - 1], starts[k] if k < len(starts) else len(text)
        if lo > at:
            out.append((at, lo, True))
        if out and not out[-1][2] and out[-1][1] == lo:
            out[-1] = (out[-1][0], hi, False)
        else:
            out.append((lo, hi, False))
        at = hi
    if at < len(text):
        out.append((at, len(text), True))
    return out


def _reduction_holds(impl: Any) -> bool:
    """Whether this tokenizer pre-tokenizes, normalises and merges exactly as the one the reduction is for."""
    try:
        pre = json.loads(impl.pre_tokenizer.__getstate__())
        norm = impl.normalizer
        model = impl.model
        if type(model).__name__ != "BPE" or pre != V4_PRE_TOKENIZER:
            return False
        if norm is not None and json.loads(norm.__getstate__()) != {"type": "Sequence", "normalizers": []}:
            return False
        if model.dropout is not None or model.continuing_subword_prefix or model.end_of_word_suffix:
            return False
        if model.byte_fallback or getattr(model, "ignore_merges", False):
            return False
        added = impl.get_added_tokens_decoder().values()
        # An added token that could cross a line start, or takes spaces with it, breaks the cut into regions.
        return all("\n" not in t.content and not (t.lstrip or t.rstrip or t.single_word) for t in added)
    except (AttributeError, TypeError, ValueError):
        return False


def _ascii_added_tokens(impl: Any) -> re.Pattern[str] | None:
    """A pattern finding any added token that plain ASCII text can hold (the tokenizer cuts those out)."""
    contents = sorted({t.content for t in impl.get_added_tokens_decoder().values() if t.content.isascii()},
                      key=lambda s: (-len(s), s))
    return re.compile("|".join(re.escape(c) for c in contents)) if contents else None
