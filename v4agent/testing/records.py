"""Records the stand-in keeps, the faults it injects, and what a served call leaves in its cache."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from v4agent.testing.v4cache import Blocks, DocUnits

FAULT_KINDS = frozenset({"429", "500", "503", "402", "401", "cut_stream", "slow_first_byte", "keepalive"})


@dataclass
class Fault:
    """A failure the stand-in injects into the next call: an HTTP error, a cut or slow stream, keep-alives.

    "429" is DeepSeek's concurrency refusal: its verbatim message names ``concurrency`` and ``limit`` and, as
    documented, no Retry-After header is sent; ``retry_after`` adds one, as some other OpenAI-compatible
    servers do.
    """

    kind: str
    retry_after: float | None = None  # "429": a Retry-After header, seconds (DeepSeek sends none)
    delay: float = 0.0                # "slow_first_byte": wait; "keepalive": gap between comments
    count: int = 3                    # "keepalive": how many comments (or blank lines, for a whole reply)
    after: int = 3                    # "cut_stream": chunks sent before the socket is closed
    concurrency: int = 40             # "429": the account's current concurrency, as the message says it
    limit: int = 39                   # "429": its limit at the remaining balance

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
    thinking: bool = False    # the mode the request ran in (on when ``thinking`` is absent)
    served_by: str = ""       # the model that served the name asked for, on the request's date
    finish_reason: str = ""
    input_end: int = 0        # where the input proper ends, before the generation marker (a cache unit)
    sampling_ignored: tuple[str, ...] = ()  # sampling parameters sent but without effect (thinking mode)


class ApiError(Exception):
    """An error answered in DeepSeek's shape ``{"error": {message, type, param, code}}``."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error",
                 code: str | None = "invalid_request_error", headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type_, self.code = status, message, type_, code
        self.headers = dict(headers or {})


@dataclass
class ModelCache:
    """One cache (one served model, thinking mode, effort, user and identity fields): units or blocks."""

    store: DocUnits | Blocks

    def lookup(self, prompt: bytes) -> tuple[int, int]:
        """(billed hit, longest prefix shared with anything stored) for a prompt."""
        return self.store.hit(prompt), self.store.longest_shared(prompt)


@dataclass(frozen=True)
class Billing:
    """What a served call persists in its cache once it is answered (or cut)."""

    cache: ModelCache
    prompt: bytes
    input_end: int
    output: bytes
