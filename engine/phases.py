"""How a call's phases (``types.Phase``) read on screen: a label and the time spent, for every front end."""

from __future__ import annotations

__all__ = ["PHASE_LABELS", "elapsed_text", "format_activity"]

PHASE_LABELS = {
    "sending": "waiting for the server",
    "waiting": "waiting for the first token",
    "queued": "queued by the server",
    "thinking": "thinking",
    "streaming": "streaming",
    "retrying": "retrying",
}


def elapsed_text(seconds: float) -> str:
    """Elapsed time as ``12s`` or ``3m05s``."""
    whole = max(0, int(seconds))
    return f"{whole}s" if whole < 60 else f"{whole // 60}m{whole % 60:02d}s"


def format_activity(phase: str, detail: str, elapsed_s: float) -> str:
    """One line for a running call: what it waits for, for how long, and why when it retries."""
    line = f"{PHASE_LABELS.get(phase, phase)} · {elapsed_text(elapsed_s)}"
    return f"{line} ({detail})" if detail else line
