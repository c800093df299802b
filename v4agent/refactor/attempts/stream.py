"""`--format stream-json` for a best-of-N run: every attempt's events on one stream, each line naming its attempt.

The attempts run in threads, so lines are written under one lock (each line whole). The lines are those of a
single session (docs/stream-json.md) with an added ``attempt`` field; an ``attempt_end`` line closes each
attempt, and the last line (``end``) is the run's report, the fields of ``--json``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from v4agent.agent.events import Event
from v4agent.agent.streamjson import StreamWriter, event_json
from v4agent.refactor.attempts.manifest import AttemptResult

__all__ = ["AttemptStream"]


class AttemptStream:
    """One stream shared by a run's attempts; callable as ``watch(number, event)``."""

    def __init__(self, writer: StreamWriter) -> None:
        self.writer = writer
        self._lock = threading.Lock()

    def __call__(self, number: int, event: Event) -> None:
        """The line for attempt ``number``'s ``event`` (none for events a stream leaves out)."""
        record = event_json(event, deltas=self.writer.deltas)
        if record is not None:
            self.emit(str(record["type"]), {**record, "attempt": number})

    def emit(self, kind: str, fields: Mapping[str, Any]) -> None:
        """Write one line, whole, while no other thread writes."""
        with self._lock:
            self.writer.emit(kind, fields)

    def attempt_end(self, result: AttemptResult) -> None:
        """The line that closes an attempt: its end, tests, tokens, cost and its subagents."""
        self.emit("attempt_end", {
            "attempt": result.number, "session_id": result.session_id, "status": result.status,
            "reason": result.reason, "turns": result.turns, "tests": result.tests, "hit_ratio": result.hit_ratio,
            "cost_usd": result.cost_usd, "changed_files": list(result.changed_files), "subagents": list(result.subagents)})

    def end(self, report: Mapping[str, Any]) -> None:
        """The last line: the run's report."""
        with self._lock:
            self.writer.end(report)
