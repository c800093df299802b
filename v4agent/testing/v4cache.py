"""The stand-in's own context cache, written from DeepSeek's documented rules (and vLLM's block cache).

DeepSeek (https://api-docs.deepseek.com/guides/kv_cache): "Each cached prefix is an independent, complete unit.
A subsequent request can only hit the cache if it fully matches a cache prefix unit." Units are persisted

1. at request boundaries: "the end position of the user input and the end position of the model output";
2. at common prefixes detected across requests (usable by later requests);
3. "at fixed token intervals" in long inputs and outputs (the interval is not documented: a parameter here).

vLLM's automatic prefix caching hits whole KV blocks shared with any earlier sequence, never the last prompt
token (it is always computed).

This module shares no code with the client's ``v4agent.agent.request.cacheunits``: a test that compares the
client's expected hit with what the stand-in bills must be able to catch a wrong rule on either side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_W = 4  # bytes per token: sequences are int32 arrays packed into bytes, compared with memcmp


def tokens_in(packed: bytes) -> int:
    """Number of tokens in a packed sequence."""
    return len(packed) // _W


def shared_prefix(a: bytes, b: bytes) -> int:
    """Tokens two packed sequences share from the start (bisection over slices: each compare is a memcmp)."""
    n = min(len(a), len(b)) // _W
    if a[: n * _W] == b[: n * _W]:
        return n
    low, high = 0, n  # the first ``low`` tokens agree; the first ``high`` do not
    while high - low > 1:
        mid = (low + high) // 2
        if a[low * _W: mid * _W] == b[low * _W: mid * _W]:
            low = mid
        else:
            high = mid
    return low


@dataclass
class _Stored:
    tokens: bytes
    units: set[int] = field(default_factory=set)


class DocUnits:
    """DeepSeek's cache prefix units for one cache (one model, thinking setting and user)."""

    def __init__(self, interval: int | None) -> None:
        if interval is not None and interval <= 0:
            raise ValueError("interval must be a positive number of tokens, or None for no interval units")
        self.interval = interval
        self._stored: list[_Stored] = []

    def hit(self, prompt: bytes) -> int:
        """The longest stored unit that ``prompt`` fully matches."""
        best = 0
        for stored in self._stored:
            shared = shared_prefix(stored.tokens, prompt)
            best = max([best, *(u for u in stored.units if u <= shared)])
        return best

    def longest_shared(self, prompt: bytes) -> int:
        """The longest prefix ``prompt`` shares with anything stored: the most any cache could give it."""
        return max((shared_prefix(s.tokens, prompt) for s in self._stored), default=0)

    def persist(self, prompt: bytes, input_end: int, output: bytes | None) -> None:
        """Persist a served request's units. ``output`` None: no output was generated (a cancelled stream),
        so only the input's units are persisted."""
        sequence = prompt + (output or b"")
        length = tokens_in(sequence)
        units = {input_end} if input_end else set()
        if output is not None and length:
            units.add(length)
        if self.interval:
            units.update(range(self.interval, length + 1, self.interval))
        kept: list[_Stored] = []
        for stored in self._stored:
            shared = shared_prefix(stored.tokens, sequence)
            if shared == tokens_in(stored.tokens):
                units |= stored.units  # the new sequence extends it: its units are prefixes of the new one
                continue
            if shared:
                units.add(shared)  # a detected common prefix, a unit for later requests
            kept.append(stored)
        kept.append(_Stored(sequence, units))
        self._stored = kept

    def unit_lengths(self) -> list[int]:
        """Every stored unit's length, sorted (for tests)."""
        return sorted({u for s in self._stored for u in s.units})


class Blocks:
    """vLLM's automatic prefix cache: hits in whole blocks, never the last prompt token."""

    def __init__(self, block_size: int) -> None:
        if block_size <= 0:
            raise ValueError("block_size must be positive")
        self.block_size = block_size
        self._seen: list[bytes] = []

    def hit(self, prompt: bytes) -> int:
        """Whole blocks of the longest prefix shared with an earlier sequence, less the last prompt token."""
        count = tokens_in(prompt)
        if not count:
            return 0
        shared = min(self.longest_shared(prompt), count - 1)
        return shared - shared % self.block_size

    def longest_shared(self, prompt: bytes) -> int:
        """The longest prefix ``prompt`` shares with an earlier sequence."""
        return max((shared_prefix(s, prompt) for s in self._seen), default=0)

    def persist(self, prompt: bytes, input_end: int, output: bytes | None) -> None:
        """Keep a served sequence (prompt, then whatever output was generated) for later requests."""
        sequence = prompt + (output or b"")
        self._seen = [s for s in self._seen if shared_prefix(s, sequence) < tokens_in(s)]
        self._seen.append(sequence)
