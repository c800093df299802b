"""The chat's status line: engine and model, context used of the window, cache-hit %, dollars, budget left,
sandbox; and, while a call runs, what it waits for and for how long."""

from __future__ import annotations

import time
from dataclasses import dataclass

from v4agent.engine.phases import format_activity


@dataclass(frozen=True)
class StatusFigures:
    """The figures one status line shows."""

    engine: str
    model: str
    context_tokens: int
    context_window: int
    last_hit_ratio: float | None  # None: no call yet, or the server did not report hits
    session_hit_ratio: float | None
    cost_usd: float
    max_cost_usd: float | None
    sandbox: str = ""  # one word: sandboxed, sandboxed+net, unsandboxed


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def _tokens(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:.2f}M"
    if count >= 1_000:
        return f"{count / 1_000:.0f}K"
    return str(count)


def format_status(figures: StatusFigures) -> str:
    """One plain-text line; the chat shows it in prompt-toolkit's bottom toolbar."""
    used = figures.context_tokens / figures.context_window if figures.context_window else 0.0
    parts = [
        f"{figures.engine}:{figures.model}",
        f"ctx {_tokens(figures.context_tokens)}/{_tokens(figures.context_window)} ({used * 100:.0f}%)",
        f"cache last {_ratio(figures.last_hit_ratio)} · session {_ratio(figures.session_hit_ratio)}",
        f"${figures.cost_usd:.4f}",
    ]
    if figures.sandbox:
        parts.insert(1, figures.sandbox)
    if figures.max_cost_usd is not None and figures.max_cost_usd != float("inf"):  # `--max-cost none`: no cap
        parts.append(f"budget left ${max(figures.max_cost_usd - figures.cost_usd, 0.0):.4f}")
    return "  │  ".join(parts)


@dataclass
class SessionFigures:
    """Running totals for the status line, fed one model call at a time."""

    engine: str
    model: str
    context_window: int
    max_cost_usd: float | None = None
    context_tokens: int = 0
    cost_usd: float = 0.0
    prompt_tokens: int = 0
    hit_tokens: int = 0
    hits_known: bool = False
    last_hit_ratio: float | None = None
    phase: str = ""  # what the running call is doing; "" between calls
    phase_detail: str = ""
    call_started: float = 0.0  # monotonic time the running call started

    def note_phase(self, phase: str, detail: str = "", now: float | None = None) -> None:
        """A running call moved to ``phase`` ("sending" starts a call's clock)."""
        if phase == "sending" or not self.phase:
            self.call_started = time.monotonic() if now is None else now
        self.phase, self.phase_detail = phase, detail

    def activity(self, now: float | None = None) -> str:
        """The running call's line (see ``format_activity``), or "" between calls."""
        if not self.phase:
            return ""
        clock = time.monotonic() if now is None else now
        return format_activity(self.phase, self.phase_detail, clock - self.call_started)
    sandbox: str = ""

    def record(self, prompt_tokens: int, cache_hit: int | None, context_tokens: int, spent_usd: float) -> None:
        """Take one model call's figures; a call with unreported hits leaves the session ratio as it was."""
        self.phase = self.phase_detail = ""
        self.context_tokens = context_tokens
        self.cost_usd = spent_usd
        if cache_hit is None:
            self.last_hit_ratio = None
            return
        self.hits_known = True
        self.prompt_tokens += prompt_tokens
        self.hit_tokens += cache_hit
        self.last_hit_ratio = cache_hit / prompt_tokens if prompt_tokens else None

    @property
    def session_hit_ratio(self) -> float | None:
        """Hit tokens over prompt tokens of the calls that reported hits; None before any did."""
        if not self.hits_known or not self.prompt_tokens:
            return None
        return self.hit_tokens / self.prompt_tokens

    def status(self) -> StatusFigures:
        """A snapshot of the figures for ``format_status``."""
        return StatusFigures(self.engine, self.model, self.context_tokens, self.context_window,
                             self.last_hit_ratio, self.session_hit_ratio, self.cost_usd, self.max_cost_usd,
                             self.sandbox)
