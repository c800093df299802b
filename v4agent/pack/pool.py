"""Per-file tree-sitter work (symbols, skeletons) on uncached files, spread over the machine's cores.

Parsing is the cold pack's largest cost (~2.5 ms per Python file), and it is pure: a function of (path, text).
Large batches go to a pool of forked worker processes (they inherit the loaded grammars, so they start in
milliseconds); small ones run inline, where a fork would cost more than it saves. Results come back in input
order, so the output never depends on how the workers were scheduled.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Generic, TypeVar

from v4agent.pack.skeleton import skeletonize
from v4agent.pack.symbols import FileSymbols, extract_symbols

__all__ = ["FilePool", "Pending", "skeletons_of", "symbols_of"]

T = TypeVar("T")

_MIN_PARALLEL = 16  # fewer files than this: inline (a fork and the pickling are not paid back)
_CHUNK = 32  # files per task at most: small enough that both workers finish together


def symbols_of(jobs: Sequence[tuple[str, str]]) -> list[FileSymbols]:
    return [extract_symbols(path, text) for path, text in jobs]


def skeletons_of(jobs: Sequence[tuple[str, str]]) -> list[str | None]:
    return [skeletonize(path, text) for path, text in jobs]


def _workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Pending(Generic[T]):
    """Results of one batch sent ahead to the pool (``result`` waits for them, in input order)."""

    def __init__(self, future: Future[list[T]]) -> None:
        self._future = future

    def result(self) -> list[T]:
        return self._future.result()


class FilePool:
    """A lazily started process pool for one build; ``close`` ends its workers."""

    def __init__(self, workers: int | None = None, min_parallel: int | None = None) -> None:
        self.workers = _workers() if workers is None else workers
        self.min_parallel = _MIN_PARALLEL if min_parallel is None else min_parallel
        self._executor: Executor | None = None

    def map(self, fn: Callable[[Sequence[tuple[str, str]]], list[T]], jobs: Sequence[tuple[str, str]]) -> list[T]:
        """``fn`` over ``jobs`` ((path, text) pairs), results in input order."""
        if len(jobs) < self.min_parallel or not self.parallel:
            return fn(jobs)
        executor = self._start()
        size = max(1, min(_CHUNK, -(-len(jobs) // (2 * self.workers))))
        chunks = [jobs[i:i + size] for i in range(0, len(jobs), size)]
        out: list[T] = []
        for part in executor.map(fn, chunks):
            out += part
        return out

    @property
    def parallel(self) -> bool:
        """Whether batches can run on worker processes here (two or more cores, fork available)."""
        return self.workers >= 2 and "fork" in multiprocessing.get_all_start_methods()

    def submit(self, fn: Callable[[Sequence[tuple[str, str]]], list[T]], jobs: Sequence[tuple[str, str]]) -> Pending[T]:
        """``fn(jobs)`` started on a worker now (needs ``parallel``); the caller goes on with other work."""
        return Pending(self._start().submit(fn, jobs))

    def start(self) -> None:
        """Fork the workers now (before this process starts any thread, e.g. a progress bar's)."""
        if self.parallel:
            self.submit(symbols_of, []).result()

    def _start(self) -> Executor:
        if self._executor is None:
            # Forked children never tokenize; saying so keeps the Rust tokenizer (if it ran here already) from
            # warning about the fork. "true" is its default, so this process's behaviour does not change.
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
            self._executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"))
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
