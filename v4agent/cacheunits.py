"""DeepSeek V4's context-cache rules, as pure functions over token lists.

V4 stores every cached prefix as an independent *unit* (a consequence of its sliding-window attention): a
request hits only on the longest unit it matches in full. Units are stored at the end of each request's input,
at the end of its input+output, every ``interval`` tokens inside them, and at the common prefix detected with
earlier requests (usable by later requests only). vLLM's automatic prefix caching instead matches in fixed KV
blocks (16 tokens by default); ``BlockStore`` models that.

The stand-in server bills with these classes, and the agent loop uses them to compute the hit a call *should*
get, so a drop in the real hit ratio can be told apart from a prompt-layout mistake.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

# Comparing in slices keeps the common-prefix scan in C; only the last block is walked token by token.
_SCAN_BLOCK = 2048


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token sequences."""
    limit = min(len(a), len(b))
    start = 0
    while start < limit:
        stop = min(start + _SCAN_BLOCK, limit)
        if a[start:stop] != b[start:stop]:
            for i in range(start, stop):
                if a[i] != b[i]:
                    return i
        start = stop
    return limit


@dataclass
class _Sequence:
    """One stored token sequence (an earlier request's input+output) and the unit lengths cut from it."""

    tokens: list[int]
    units: set[int] = field(default_factory=set)


class UnitStore:
    """V4 cache units. ``interval=None`` disables the fixed-interval units."""

    def __init__(self, interval: int | None = 4096) -> None:
        if interval is not None and interval <= 0:
            raise ValueError("interval must be a positive number of tokens or None")
        self.interval = interval
        self._seqs: list[_Sequence] = []

    def lookup(self, tokens: Sequence[int]) -> int:
        """Length of the longest stored unit that ``tokens`` fully matches (0 if none)."""
        best = 0
        for seq in self._seqs:
            lcp = common_prefix_len(seq.tokens, tokens)
            for unit in seq.units:
                if best < unit <= lcp:
                    best = unit
        return best

    def units(self) -> list[int]:
        """All stored unit lengths, sorted (for tests and diagnostics)."""
        return sorted({u for seq in self._seqs for u in seq.units})

    def store(self, input_tokens: Sequence[int], output_tokens: Sequence[int] = ()) -> None:
        """Record one served request: units at the end of input, of input+output, at each interval, and at
        the common prefix with each earlier request."""
        full = [*input_tokens, *output_tokens]
        units: set[int] = set()
        if input_tokens:
            units.add(len(input_tokens))
        if full:
            units.add(len(full))
        if self.interval is not None:
            units.update(range(self.interval, len(full) + 1, self.interval))
        kept: list[_Sequence] = []
        for seq in self._seqs:
            lcp = common_prefix_len(seq.tokens, full)
            if lcp == len(seq.tokens):
                # The new sequence extends this one: its units are prefixes of the new one too, so merge
                # (keeps an append-only session at one stored sequence).
                units.update(seq.units)
                continue
            if lcp > 0:
                units.add(lcp)
            kept.append(seq)
        kept.append(_Sequence(full, units))
        self._seqs = kept


class BlockStore:
    """vLLM-style automatic prefix caching: hits are whole KV blocks shared with any earlier sequence.

    As in vLLM, the last prompt token is always computed, so a request never hits in full.
    """

    def __init__(self, block_size: int = 16) -> None:
        if block_size <= 0:
            raise ValueError("block_size must be positive")
        self.block_size = block_size
        self._seqs: list[list[int]] = []

    def lookup(self, tokens: Sequence[int]) -> int:
        if not tokens:
            return 0
        lcp = theoretical_max_hit(self._seqs, tokens)
        lcp = min(lcp, len(tokens) - 1)
        return lcp - lcp % self.block_size

    def store(self, input_tokens: Sequence[int], output_tokens: Sequence[int] = ()) -> None:
        full = [*input_tokens, *output_tokens]
        # Drop sequences the new one extends: their blocks are all inside it.
        self._seqs = [s for s in self._seqs if common_prefix_len(s, full) < len(s)]
        self._seqs.append(full)


def theoretical_max_hit(history: Sequence[Sequence[int]], tokens: Sequence[int]) -> int:
    """Longest common prefix of ``tokens`` with any earlier request (input or input+output)."""
    best = 0
    for earlier in history:
        lcp = common_prefix_len(earlier, tokens)
        best = max(best, lcp)
    return best
