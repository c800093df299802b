"""The chat's status line: engine and model, context used of the window, cache-hit %, dollars, budget left."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StatusFigures:
    engine: str
    model: str
    context_tokens: int
    context_window: int
    last_hit_ratio: float | None  # None: no call yet, or the server did not report hits
    session_hit_ratio: float | None
    cost_usd: float
    max_cost_usd: float | None


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
    if figures.max_cost_usd is not None:
        parts.append(f"budget left ${max(figures.max_cost_usd - figures.cost_usd, 0.0):.4f}")
    return "  │  ".join(parts)
