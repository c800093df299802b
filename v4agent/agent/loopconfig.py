"""The agent loop's contracts: its settings, how a run ended, and what it needs from the packer and the hooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Status = Literal["finished", "limit", "failed", "interrupted"]


class DeltaSource(Protocol):
    """What the loop needs from the packer's Snapshot: changes since the render, and a fresh render."""

    @property
    def text(self) -> str:
        """The rendered pack."""
        ...

    def delta(self) -> Any:  # DeltaBlock(text, tokens, paths)
        """The files changed since the render, as a block to append to the conversation."""
        ...

    def rebase(self) -> Any:  # a fresh Snapshot (with .text)
        """A fresh render of the current state; later deltas are against it."""
        ...


class StopGate(Protocol):
    """The session's hooks as the loop consults them (``v4agent.extend``): Stop, and a hook's ``continue: false``."""

    def stop(self, message: str, *, active: bool) -> str | None:
        """A reason for the model to go on instead of ending; None lets the run end."""
        ...

    def halted(self) -> str | None:
        """Why a hook stopped the session, or None."""
        ...


@dataclass(frozen=True)
class AgentConfig:
    """The loop's limits and policies: turns, spend, context window, compaction thresholds, priming mode."""

    engine_name: str  # the pricing engine ("deepseek", "vllm"...)
    max_turns: int = 60
    max_cost: float | None = None
    window: int = 1_048_576
    max_output: int = 32_768
    compact_margin: int = 32_768  # room kept past the next reply: a turn's tool results, the summary request
    compact_min_gain: int = 16_384  # turns smaller than this are not worth a summary
    loop_limit: int = 3
    prime_mode: Literal["cancel", "short"] = "cancel"
    text_ends_turn: bool = False  # chat: a reply without tool calls answers the user and ends the run


@dataclass
class Outcome:
    """How a run ended: status and reason, the model's summary, spend, test state, files changed."""

    status: Status
    reason: str
    summary: str = ""
    turns: int = 0
    spent_usd: float = 0.0
    tests_ok: bool | None = None  # the last run_tests result after the last change; None if not run since
    changed_paths: list[str] = field(default_factory=list)
    engine_unreachable: bool = False  # failed on a missing or refused key or an engine that cannot be reached
