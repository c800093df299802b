"""`--format stream-json`: the session as one JSON object per line, built from the agent's event records.

The schema is documented in docs/stream-json.md; every line carries ``version`` (``STREAM_VERSION``) and
``type``. A change that removes or renames a field raises the version; new fields and new types do not.
Lines are written whole and flushed, so a script reading the pipe sees each event as it happens.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, TextIO

from v4agent.agent.events import CallDone, Event, Notice, Streamed, StreamRestarted, ToolDone, ToolStarted
from v4agent.engine.types import Progress

__all__ = ["STREAM_VERSION", "StreamWriter", "event_json"]

STREAM_VERSION = 1
MAX_RESULT_CHARS = 4000  # a tool result's content in its line (the whole result is in the session file)


def _call(event: CallDone) -> dict[str, Any]:
    usage = event.usage
    diag = event.diag
    return {
        "type": "call", "kind": event.kind, "turn": event.turn,
        "usage": None if usage is None else {
            "prompt_tokens": usage.prompt_tokens, "output_tokens": usage.output_tokens,
            "cache_hit": usage.cache_hit, "cache_miss": usage.cache_miss,
            "reasoning_tokens": usage.reasoning_tokens},
        "cost_usd": event.cost.total_usd, "price_entry": event.cost.price_entry,
        "spent_usd": event.spent_usd, "context_tokens": event.context_tokens,
        "expected_hit": diag.expected_billed, "billed_hit": diag.billed_hit,
        "cache_breaks": [asdict(b) for b in diag.breaks], "duration_s": round(event.duration_s, 3),
    }


def _clip(text: str) -> tuple[str, bool]:
    return (text, False) if len(text) <= MAX_RESULT_CHARS else (text[:MAX_RESULT_CHARS], True)


def event_json(event: Event, *, deltas: bool = True) -> dict[str, Any] | None:
    """The line for one agent event, or None for events a stream leaves out (progress; deltas when off)."""
    if isinstance(event, CallDone):
        return _call(event)
    if isinstance(event, ToolStarted):
        return {"type": "tool_start", "turn": event.turn, "name": event.name, "arguments": event.arguments}
    if isinstance(event, ToolDone):
        content, cut = _clip(event.result.content)
        return {"type": "tool_result", "turn": event.turn, "name": event.name, "ok": event.result.ok,
                "changed_paths": list(event.result.changed_paths), "content": content, "content_cut": cut}
    if isinstance(event, Notice):
        return {"type": "notice", "text": event.text}
    if isinstance(event, StreamRestarted):  # the text lines of this turn so far are superseded
        return {"type": "stream_restart", "turn": event.turn, "reason": event.reason,
                "shown_chars": event.shown_chars, "cost_usd": event.cost.total_usd, "estimated": True,
                "spent_usd": event.spent_usd}
    if isinstance(event, Streamed):
        delta = event.delta
        if not deltas or isinstance(delta, Progress) or delta.kind not in ("content", "reasoning") or not delta.text:
            return None
        return {"type": "text", "kind": delta.kind, "text": delta.text}
    return None


class StreamWriter:
    """Writes the stream's lines to ``out``; usable as the agent's observer (``writer(event)``)."""

    def __init__(self, out: TextIO, *, deltas: bool = True) -> None:
        self.out = out
        self.deltas = deltas
        self.lines = 0

    def emit(self, kind: str, fields: Mapping[str, Any]) -> None:
        """Write one line of type ``kind``."""
        line = {"version": STREAM_VERSION, "type": kind, **{k: v for k, v in fields.items() if k != "type"}}
        self.out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":"), default=str) + "\n")
        self.out.flush()
        self.lines += 1

    def start(self, *, session_id: str, front: str, settings: Mapping[str, Any], pack: Mapping[str, Any],
              instructions: list[dict[str, Any]], mode: str, resumed: bool,
              extra: Mapping[str, Any] | None = None) -> None:
        """The first line: the session, its settings, the pack and the instruction files loaded (and ``extra``:
        fields a front end adds, such as a best-of-N run's attempt count)."""
        self.emit("start", {"session_id": session_id, "front": front, "resumed": resumed, "mode": mode,
                            "settings": dict(settings), "pack": dict(pack), "instructions": instructions,
                            **(extra or {})})

    def end(self, report: Mapping[str, Any]) -> None:
        """The last line: status, summary, tests, diff and cost (the fields of the ``--json`` report)."""
        self.emit("end", report)

    def __call__(self, event: Event) -> None:
        """Write the line for ``event`` (the agent's observer)."""
        record = event_json(event, deltas=self.deltas)
        if record is not None:
            self.emit(str(record["type"]), record)
