"""Records the stand-in keeps and the faults it injects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from v4agent.agent.request.cacheunits import BlockStore, PrefixHistory, Tokens, UnitStore

FAULT_KINDS = frozenset({"429", "500", "402", "401", "cut_stream", "slow_first_byte", "keepalive"})


@dataclass
class Fault:
    """A failure the stand-in injects into the next call: an HTTP error, a cut or slow stream, keep-alives."""

    kind: str
    retry_after: float | None = None  # "429": the Retry-After header, seconds
    delay: float = 0.0                # "slow_first_byte": wait; "keepalive": gap between comments
    count: int = 3                    # "keepalive": how many comments
    after: int = 3                    # "cut_stream": chunks sent before the socket is closed

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; choose one of {sorted(FAULT_KINDS)}")


@dataclass
class CallRecord:
    """One chat request as the stand-in saw and billed it."""

    request: dict[str, Any]
    status: int = 0
    prompt_tokens: int = 0
    cache_hit: int = 0
    cache_miss: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    theoretical_max_hit: int = 0
    stream: bool = False
    fault: str | None = None
    cancelled: bool = False   # the client went away mid-stream (the input unit is still stored)
    error: str = ""
    reply: dict[str, Any] | None = None  # the assistant message sent, as a client should send it back
    path: str = ""


class ApiError(Exception):
    """An error answered in DeepSeek's shape ``{"error": {message, type, code}}``."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error",
                 code: str | None = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.type_, self.code = status, message, type_, code


@dataclass
class ModelCache:
    """The cache of one (model, thinking, effort) key: V4 units or vLLM blocks, plus the request history."""

    units: UnitStore | None
    blocks: BlockStore | None
    history: PrefixHistory = field(default_factory=PrefixHistory)

    def lookup(self, tokens: Tokens) -> tuple[int, int]:
        """(hit, longest prefix shared with an earlier request) for ``tokens`` in this cache."""
        hit = self.units.lookup(tokens) if self.units is not None else 0
        if self.blocks is not None:
            hit = self.blocks.lookup(tokens)
        return hit, self.history.longest_prefix(tokens)

    def store(self, input_tokens: Tokens, output_tokens: Tokens) -> None:
        """Store a served request (input, then output) in the cache and its history."""
        if self.units is not None:
            self.units.store(input_tokens, output_tokens)
        if self.blocks is not None:
            self.blocks.store(input_tokens, output_tokens)
        self.history.add(input_tokens, output_tokens)
