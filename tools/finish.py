"""finish(summary): the model's explicit end of the task."""

from __future__ import annotations

MAX_SUMMARY_CHARS = 20_000


def finish_message(summary: str) -> tuple[str, str]:
    """(tool result text, the summary kept for the report)."""
    text = summary.strip()
    if len(text) > MAX_SUMMARY_CHARS:
        text = text[:MAX_SUMMARY_CHARS] + " […]"
    return "Task marked as finished.", text
