"""What the agent loop reports as it runs: one frozen record per event, for the progress view and the chat."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from v4agent.accounting import CallCost
from v4agent.agent.request.cachediag import CallDiag
from v4agent.engine.types import Delta, Usage

__all__ = [
    "CallDone", "CallKind", "Event", "Notice", "Observer", "StreamRestarted", "Streamed", "ToolDone", "ToolOutcome",
    "ToolRunner", "ToolStarted",
]

CallKind = Literal["prime", "turn", "compact"]


class ToolOutcome(Protocol):
    """What the loop reads from a tool result (``v4agent.tools.registry.ToolResult``)."""

    @property
    def content(self) -> str:
        """The text the model gets back as the tool message."""
        ...

    @property
    def ok(self) -> bool:
        """Whether the tool succeeded; repeated failures of one call stop the loop."""
        ...

    @property
    def changed_paths(self) -> tuple[str, ...]:
        """The files the call changed (relative paths)."""
        ...

    @property
    def finished(self) -> bool:
        """True when the call was ``finish``: the loop ends after this turn."""
        ...

    @property
    def summary(self) -> str:
        """The model's closing summary, when ``finished``."""
        ...

    @property
    def diff(self) -> str:
        """The diff of the change the call made, shown to the user and kept in the session."""
        ...


ToolRunner = Callable[[str, str], ToolOutcome]


@dataclass(frozen=True)
class CallDone:
    """Event: an engine call finished; its usage, cost, cache diagnosis, and the spend so far."""

    kind: CallKind
    turn: int
    usage: Usage | None
    cost: CallCost
    diag: CallDiag
    spent_usd: float
    context_tokens: int
    duration_s: float


@dataclass(frozen=True)
class ToolStarted:
    """Event: a tool call is about to run."""

    turn: int
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolDone:
    """Event: a tool call ran; ``result`` is what it returned."""

    turn: int
    name: str
    arguments: str
    result: ToolOutcome


@dataclass(frozen=True)
class Notice:
    """Event: a line of information for the user (a delta block appended, a compaction started)."""

    text: str


@dataclass(frozen=True)
class Streamed:
    """Event: a piece of the reply as the engine streams it."""

    delta: Delta


@dataclass(frozen=True)
class StreamRestarted:
    """Event: the reply's stream was cut after ``shown_chars`` of it were shown; what was shown is superseded and
    the call is asked again (within the retry policy). The cut attempt is in the ledger as an estimate, ``cost``."""

    turn: int
    reason: str
    shown_chars: int
    cost: CallCost
    spent_usd: float


Event = CallDone | ToolStarted | ToolDone | Notice | Streamed | StreamRestarted
Observer = Callable[[Event], None]
