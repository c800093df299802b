"""An adaptive concurrency limit shared by parallel calls: a burst of 429s shrinks it instead of failing.

DeepSeek limits concurrent requests per account, not requests per minute, and lowers the limit as the balance
runs down; over it a request gets 429 (https://api-docs.deepseek.com/quick_start/rate_limit). The real 429
states the limit in its message ("Your current concurrency is 40, which exceeds your concurrency limit of 39
based on your remaining balance..."), and no rate-limit headers are sent. So the limiter works like TCP's
congestion window: a 429 cuts the limit (to what the message states, else by half), and every ``limit``
successes in a row add one back, up to ``maximum``. Callers hold a slot for each attempt; waiting for a slot
is how a burst backs off.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ConcurrencyLimiter", "stated_limit"]

_STATED = re.compile(r"concurrency limit of (\d+)", re.IGNORECASE)


def stated_limit(message: str) -> int | None:
    """The concurrency limit a 429's message states, or None when it states none."""
    found = _STATED.search(message)
    return int(found.group(1)) if found else None


class ConcurrencyLimiter:
    """A thread-safe adaptive limit on calls in flight (additive increase, multiplicative decrease)."""

    def __init__(self, initial: int = 8, *, minimum: int = 1, maximum: int = 256) -> None:
        if not 1 <= minimum <= initial <= maximum:
            raise ValueError(f"need 1 <= minimum <= initial <= maximum, got {minimum}, {initial}, {maximum}")
        self.minimum = minimum
        self.maximum = maximum
        self._limit = initial
        self._in_flight = 0
        self._successes = 0
        self._changed = threading.Condition()

    @property
    def limit(self) -> int:
        """How many calls may be in flight now."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """How many calls hold a slot now."""
        return self._in_flight

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the duration of the block, waiting while the limit is reached."""
        with self._changed:
            while self._in_flight >= self._limit:
                self._changed.wait()
            self._in_flight += 1
        try:
            yield
        finally:
            with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()

    def on_success(self) -> None:
        """A call went through: after ``limit`` successes in a row the limit grows by one."""
        with self._changed:
            self._successes += 1
            if self._successes >= self._limit and self._limit < self.maximum:
                self._limit += 1
                self._successes = 0
                self._changed.notify_all()

    def on_rate_limit(self, stated: int | None = None) -> None:
        """A call got 429: shrink to one below the stated limit (the margin covers calls of other processes on
        the same account), or to half of what is in flight when the message states none."""
        with self._changed:
            self._successes = 0
            target = stated - 1 if stated is not None else max(self._in_flight, 2) // 2
            self._limit = max(self.minimum, min(self._limit, target))
