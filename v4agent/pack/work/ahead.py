"""Worker jobs sent ahead of need: queued per file, sent in batches, each file's result taken when it is needed.

Speed only: every job is a pure function of the file's text, so whether its result came from a batch sent early
or from work done on the spot never changes the pack.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from v4agent.pack.work.pool import Pending

__all__ = ["AheadJobs"]

J = TypeVar("J")
R = TypeVar("R")

_BATCH_FILES, _BATCH_BYTES = 32, 1 << 18  # a queued batch goes out at this many files or bytes of text


class AheadJobs(Generic[J, R]):
    """One kind of per-file job; ``send`` starts a list of jobs (on the workers) and returns their results."""

    def __init__(self, send: Callable[[list[J]], Pending[R]]) -> None:
        self._send = send
        self._queued: list[tuple[str, J]] = []
        self._queued_bytes = 0
        self._pending: dict[str, tuple[Pending[R], int]] = {}

    def add(self, path: str, job: J, size: int) -> None:
        """Queue one file's job (``size``: its text's length); a full batch goes out now."""
        self._queued.append((path, job))
        self._queued_bytes += size
        if len(self._queued) >= _BATCH_FILES or self._queued_bytes >= _BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Send what is queued."""
        batch, self._queued, self._queued_bytes = self._queued, [], 0
        self.send(batch)

    def send(self, jobs: Sequence[tuple[str, J]], via: Callable[[list[J]], Pending[R]] | None = None) -> None:
        """Start these (path, job) pairs now, through ``via`` instead of the usual way when given."""
        if jobs:
            pending = (via or self._send)([job for _, job in jobs])
            self._pending.update((path, (pending, i)) for i, (path, _) in enumerate(jobs))

    def __len__(self) -> int:
        """Jobs queued or sent whose results were not taken yet."""
        return len(self._queued) + len(self._pending)

    def __contains__(self, path: object) -> bool:
        return path in self._pending

    def take(self, path: str) -> R | None:
        """The file's result (waiting for it), once; None when no job for it was sent."""
        job = self._pending.pop(path, None)
        return None if job is None else job[0].result()[job[1]]
