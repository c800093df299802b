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

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

# Token lists are compared as packed int32 bytes: a bytes compare is a memcmp, while comparing two lists of
# large Python ints goes through the interpreter token by token, slow on a 1M-token request. Below _LINEAR
# tokens the mismatch is found by a plain loop; above it, by halving.
_LINEAR = 64
_W = 4  # bytes per packed token


# Every function here takes tokens as a sequence of ids or, already packed, as int32 ``bytes`` (what
# ``RenderedRequest.packed`` holds): packing a 1M-token list is not free, so callers pack once.
Tokens = Sequence[int] | bytes


def pack_tokens(tokens: Tokens) -> bytes:
    """Token ids as int32 bytes, the form the stores keep and compare (bytes pass through)."""
    if isinstance(tokens, bytes):
        return tokens
    return array("i", tokens).tobytes()


def _count(tokens: Tokens) -> int:
    return len(tokens) // _W if isinstance(tokens, bytes) else len(tokens)


def _lcp_packed(a: bytes, b: bytes) -> int:
    limit = min(len(a), len(b)) // _W
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    view = memoryview(short)  # startswith on a view: a memcmp, with no megabyte slice copied first
    if long.startswith(view[: limit * _W]):  # the common case (an append-only session)
        return limit
    lo, hi = 0, limit  # invariant: the first lo tokens match, the first hi do not
    while hi - lo > _LINEAR:
        mid = (lo + hi) // 2
        if long.startswith(view[lo * _W: mid * _W], lo * _W):
            lo = mid
        else:
            hi = mid
    for i in range(lo, hi):
        if a[i * _W: (i + 1) * _W] != b[i * _W: (i + 1) * _W]:
            return i
    return hi


def common_prefix_len(a: Tokens, b: Tokens) -> int:
    """Length of the longest common prefix of two token sequences."""
    return _lcp_packed(pack_tokens(a), pack_tokens(b))


@dataclass
class _Sequence:
    """One stored token sequence (an earlier request's input+output) and the unit lengths cut from it."""

    packed: bytes
    units: set[int] = field(default_factory=set)

    @property
    def length(self) -> int:
        return len(self.packed) // _W


class UnitStore:
    """V4 cache units. ``interval=None`` disables the fixed-interval units."""

    def __init__(self, interval: int | None = 4096) -> None:
        if interval is not None and interval <= 0:
            raise ValueError("interval must be a positive number of tokens or None")
        self.interval = interval
        self._seqs: list[_Sequence] = []

    def lookup(self, tokens: Tokens) -> int:
        """Length of the longest stored unit that ``tokens`` fully matches (0 if none)."""
        packed = pack_tokens(tokens)
        best = 0
        for seq in self._seqs:
            lcp = _lcp_packed(seq.packed, packed)
            for unit in seq.units:
                if best < unit <= lcp:
                    best = unit
        return best

    def units(self) -> list[int]:
        """All stored unit lengths, sorted (for tests and diagnostics)."""
        return sorted({u for seq in self._seqs for u in seq.units})

    def store(self, input_tokens: Tokens, output_tokens: Tokens = ()) -> None:
        """Record one served request: units at the end of input, of input+output, at each interval, and at
        the common prefix with each earlier request."""
        full = pack_tokens(input_tokens) + pack_tokens(output_tokens)
        length = len(full) // _W
        units: set[int] = set()
        if _count(input_tokens):
            units.add(_count(input_tokens))
        if length:
            units.add(length)
        if self.interval is not None:
            units.update(range(self.interval, length + 1, self.interval))
        kept: list[_Sequence] = []
        for seq in self._seqs:
            lcp = _lcp_packed(seq.packed, full)
            if lcp == seq.length:
                # The new sequence extends this one: its units are prefixes of the new one too, so merge
                # (keeps an append-only session at one stored sequence).
                units.update(seq.units)
                continue
            if lcp > 0:
                units.add(lcp)
            kept.append(seq)
        kept.append(_Sequence(full, units))
        self._seqs = kept


class PrefixHistory:
    """Earlier requests (input+output, or input alone when cancelled), for the longest common prefix."""

    def __init__(self) -> None:
        self._seqs: list[bytes] = []

    def add(self, input_tokens: Tokens, output_tokens: Tokens = ()) -> None:
        """Remember one request (input, then output) for later prefix lookups."""
        full = pack_tokens(input_tokens) + pack_tokens(output_tokens)
        # Drop sequences the new one extends: every prefix of theirs is a prefix of it.
        self._seqs = [s for s in self._seqs if _lcp_packed(s, full) < len(s) // _W]
        self._seqs.append(full)

    def longest_prefix(self, tokens: Tokens) -> int:
        """Length of the longest prefix ``tokens`` shares with a remembered request."""
        packed = pack_tokens(tokens)
        return max((_lcp_packed(s, packed) for s in self._seqs), default=0)


class BlockStore:
    """vLLM-style automatic prefix caching: hits are whole KV blocks shared with any earlier sequence.

    As in vLLM, the last prompt token is always computed, so a request never hits in full.
    """

    def __init__(self, block_size: int = 16) -> None:
        if block_size <= 0:
            raise ValueError("block_size must be positive")
        self.block_size = block_size
        self._history = PrefixHistory()

    def lookup(self, tokens: Tokens) -> int:
        """The hit: the prefix shared with earlier sequences, less the last token, in whole blocks."""
        if not _count(tokens):
            return 0
        lcp = min(self._history.longest_prefix(tokens), _count(tokens) - 1)
        return lcp - lcp % self.block_size

    def store(self, input_tokens: Tokens, output_tokens: Tokens = ()) -> None:
        """Record one served request (input, then output) as blocks later requests can hit."""
        self._history.add(input_tokens, output_tokens)


def theoretical_max_hit(history: Sequence[Tokens], tokens: Tokens) -> int:
    """Longest common prefix of ``tokens`` with any earlier request (input or input+output)."""
    packed = pack_tokens(tokens)
    return max((_lcp_packed(pack_tokens(h), packed) for h in history), default=0)
