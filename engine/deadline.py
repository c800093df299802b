"""Per-call deadlines (connect, first byte, first token, total) and the clock one call keeps against them.

A socket read timeout alone cannot bound a call: DeepSeek keeps a queued request open with SSE ``: keep-alive``
comments (streams) or blank lines (whole replies) for up to 10 minutes before inference starts
(https://api-docs.deepseek.com/quick_start/rate_limit), and every such byte resets a read timeout. So the
socket timeout only catches a silent connection (``first_byte_s``), and the client checks the first-token
and total deadlines itself each time a line arrives (``CallClock.check``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from v4agent.engine.types import EngineError

__all__ = ["CallClock", "DeadlineExceeded", "Deadlines"]


@dataclass(frozen=True)
class Deadlines:
    """Seconds one attempt of a call may take per stage; None turns a deadline off.

    The defaults fit a 1M-token prompt on the DeepSeek API: the queue may hold a request for 10 minutes before
    inference starts and the prefill of the whole window comes on top, hence ``first_token_s``; the server
    writes keep-alives meanwhile, so a socket silent for ``first_byte_s`` is dead (a local vLLM server sends
    nothing during its prefill: raise ``first_byte_s`` for a slow one).
    """

    connect_s: float | None = 10.0
    first_byte_s: float | None = 300.0  # the response's first byte, and the longest silence after it
    first_token_s: float | None = 900.0  # the first reasoning, answer or tool-call token; keep-alives do not count
    total_s: float | None = 3600.0  # the whole attempt, generation included

    def read_timeout(self) -> float | None:
        """The socket read timeout: the longest silence, never longer than the whole call may take."""
        limits = [s for s in (self.first_byte_s, self.total_s) if s is not None]
        return min(limits) if limits else None


class DeadlineExceeded(EngineError):
    """A call ran past one of its deadlines; a first-token wait is retried, a whole call that ran too long is not."""

    kind = "deadline"


class CallClock:
    """One attempt's deadlines against a monotonic clock: ``check`` on every line, ``token`` at the first token."""

    __slots__ = ("_limit", "_now", "_token_by", "_total_by", "deadlines", "first_token_s", "started")

    def __init__(self, deadlines: Deadlines, now: Callable[[], float] = time.monotonic) -> None:
        self.deadlines = deadlines
        self._now = now
        self.started = now()
        self.first_token_s: float | None = None
        inf = float("inf")
        self._token_by = inf if deadlines.first_token_s is None else self.started + deadlines.first_token_s
        self._total_by = inf if deadlines.total_s is None else self.started + deadlines.total_s
        self._limit = min(self._token_by, self._total_by)

    def elapsed(self) -> float:
        """Seconds since the attempt started."""
        return self._now() - self.started

    def token(self) -> None:
        """The first token arrived: from now on only the total deadline applies."""
        if self.first_token_s is None:
            self.first_token_s = self._now() - self.started
            self._limit = self._total_by

    def check(self) -> None:
        """Raise ``DeadlineExceeded`` when a deadline has passed (cheap: one clock read on the usual path)."""
        if self._now() > self._limit:
            self._expire()

    def _expire(self) -> None:
        d = self.deadlines
        if self.first_token_s is None and self._now() > self._token_by:
            raise DeadlineExceeded(
                f"no token within {d.first_token_s:g} s (the server kept the connection open without answering)",
                hint="the service may be overloaded; raise timeout.first_token to wait longer",
                retryable=True)
        raise DeadlineExceeded(
            f"the call took longer than {d.total_s:g} s", hint="raise timeout.total (seconds) to allow it",
            retryable=False)
