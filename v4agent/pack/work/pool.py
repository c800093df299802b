"""Per-file work on uncached files (tree-sitter symbols and skeletons, secret scans, token counts), spread over
the machine's cores.

Each job is pure: a function of (path, text), so where it runs never changes the output. Large batches go to a
pool of forked worker processes (they inherit the loaded grammars and tokenizer, so they start at
once); small ones run inline, where a fork would cost more than it saves. Results come back in input
order, so the output never depends on how the workers were scheduled.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Generic, TypeVar

from v4agent.core.errors import V4AgentError
from v4agent.pack.fit.skeleton import (
    SkeletonEdit,
    apply_skeleton,
    apply_skeleton_redacted,
    edits_for,
    skeletonize,
)
from v4agent.pack.rank.symbols import language_for, source_bytes
from v4agent.pack.render import render_file
from v4agent.pack.select.analyze import Analysis, emitted_text, full_piece_text
from v4agent.pack.work.codefacts import CodeFacts, ranking_facts
from v4agent.secrets.redact import redaction_edits
from v4agent.secrets.scan import SecretFinding, scan_secrets

__all__ = ["FilePool", "Pending", "PieceJob", "SkeletonJob", "WorkerLost", "counted_pieces", "counted_skeletons_of",
           "facts_of", "scans_of", "skeletons_of"]

T = TypeVar("T")

_MIN_PARALLEL = 16  # fewer files than this: inline (a fork and the pickling are not paid back)
_CHUNK = 32  # files per task at most: small enough that both workers finish together
_GUIDED_TAIL = 48  # a guided chunk is at least 1/(this x workers) of the whole batch
_IN_FLIGHT = 4  # per worker: ``submit`` waits while this many of its tasks (and their texts) are not done
# ... or, for tasks whose texts' size is given, while this many bytes of them are: the main process then reads
# a whole mid-sized tree ahead of the workers' counting and is free to write the pack while they finish.
_IN_FLIGHT_BYTES = 1 << 26


def facts_of(jobs: Sequence[tuple[str, str]]) -> list[CodeFacts]:
    """Worker job: the ranking facts (symbols, skeleton edits) of each (path, text)."""
    return [ranking_facts(path, text) for path, text in jobs]


def scans_of(jobs: Sequence[tuple[str, str]]) -> list[tuple[SecretFinding, ...]]:
    """Worker job: the secret findings of each (path, text)."""
    return [tuple(scan_secrets(text, path)) for path, text in jobs]


SkeletonJob = tuple[str, str, "list[SkeletonEdit] | None"]  # path, raw text, its skeleton edits when known


def skeletons_of(jobs: Sequence[SkeletonJob]) -> list[tuple[tuple[SecretFinding, ...], str | None]]:
    """Per (path, raw text, skeleton edits or None): its secret findings and the skeleton of the text with them
    redacted. The edits (known, else from a parse of the raw text) are applied with the secrets replaced along
    with them; only where a secret lies across an edit's edge is the redacted text parsed (a placeholder can
    break its syntax, and the skeleton with it)."""
    out: list[tuple[tuple[SecretFinding, ...], str | None]] = []
    for path, text, known in jobs:
        found = tuple(scan_secrets(text, path))
        edits = known if known is not None else edits_for(path, text)
        skeleton = None
        if edits is not None:
            source = source_bytes(text)
            skeleton = (apply_skeleton_redacted(source, edits, redaction_edits(text, found)) if found
                        else apply_skeleton(source, edits))
            if skeleton is None:
                skeleton = skeletonize(path, emitted_text(text, Analysis(None, found)))
        out.append((found, skeleton))
    return out


def counted_skeletons_of(jobs: Sequence[SkeletonJob], tokenizer: str | None,
                        fmt: str) -> list[tuple[tuple[SecretFinding, ...], str | None, int | None]]:
    """``skeletons_of``, and with a ``tokenizer`` each skeleton's piece counted as the packer renders it (a worker
    forked after the tokenizer loaded; else the counts are None and the packer counts)."""
    built = skeletons_of(jobs)
    if tokenizer is None:
        return [(found, text, None) for found, text in built]
    from v4agent.tokens.tokenizer import get_tokenizer

    if multiprocessing.parent_process() is not None:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    pieces = [render_file(path, text, "skeleton", fmt, language_for(path) or "")
              for (path, _, _), (_, text) in zip(jobs, built, strict=True) if text is not None]
    counts = iter(get_tokenizer(tokenizer).count_many(pieces))
    return [(found, text, None if text is None else next(counts)) for found, text in built]


PieceJob = tuple[str, str, "tuple[SecretFinding, ...] | None"]  # path, raw text, its findings when known


def counted_pieces(jobs: Sequence[PieceJob], tokenizer: str, fmt: str) -> list[tuple[tuple[SecretFinding, ...], int]]:
    """Per (path, raw text, findings or None): the findings (scanned when not given) and the token count of the
    file's full piece, as the packer renders it. On a worker the Rust tokenizer runs on this one core (the two
    workers are the parallelism; its own thread pool must not start in a forked child)."""
    from v4agent.tokens.tokenizer import get_tokenizer

    if multiprocessing.parent_process() is not None:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    found = [scanned if scanned is not None else tuple(scan_secrets(text, path)) for path, text, scanned in jobs]
    pieces = [full_piece_text(path, text, f, fmt, language_for(path) or "")
              for (path, text, _), f in zip(jobs, found, strict=True)]
    return list(zip(found, get_tokenizer(tokenizer).count_many(pieces), strict=True))


def _workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class WorkerLost(V4AgentError, RuntimeError):
    """A worker process ended in the middle of the pack (killed by a signal: the system out of memory, say)."""


def _lost() -> WorkerLost:
    return WorkerLost("a worker process of the pack ended while it worked (killed by a signal; the system may "
                      "have run out of memory)",
                      hint="run it again; if it happens again, pack less at once (--exclude some directories) or "
                           "free some memory")


def _outcome(future: Future[list[T]]) -> list[T]:
    """The future's results; a worker that died gives a clear error, not the executor's traceback."""
    try:
        return future.result()
    except BrokenProcessPool:
        raise _lost() from None


def _submitted(executor: Executor, fn: Callable[..., list[T]], jobs: Sequence[Any]) -> Future[list[T]]:
    try:
        return executor.submit(fn, jobs)
    except BrokenProcessPool:  # a worker died since the last task was sent
        raise _lost() from None


class Pending(Generic[T]):
    """Results of one batch sent to the pool (``result`` waits for them, in input order)."""

    def __init__(self, futures: list[Future[list[T]]] | None = None, done: list[T] | None = None) -> None:
        self._futures = futures or []
        self._done = done

    def chunks(self) -> Iterator[list[T]]:
        """The results chunk by chunk, in input order, each as soon as it is done (for progress)."""
        if self._done is not None:
            yield self._done
            return
        for future in self._futures:
            yield _outcome(future)

    def result(self) -> list[T]:
        """All the results in input order, waiting for any still running."""
        if self._done is None:
            out: list[T] = []
            for future in self._futures:
                out += _outcome(future)
            self._done, self._futures = out, []
        return self._done


class FilePool:
    """A lazily started process pool for one build; ``close`` ends its workers."""

    def __init__(self, workers: int | None = None, min_parallel: int | None = None) -> None:
        self.workers = _workers() if workers is None else workers
        self.min_parallel = _MIN_PARALLEL if min_parallel is None else min_parallel
        self._executor: Executor | None = None
        self._in_flight: deque[tuple[Future[Any], int]] = deque()  # each task not known done, and its size

    def map(self, fn: Callable[[Sequence[Any]], list[T]], jobs: Sequence[Any]) -> list[T]:
        """``fn`` over ``jobs`` (tuples that start with a path and a text), results in input order."""
        return self.send(fn, jobs).result()

    def send(self, fn: Callable[[Sequence[Any]], list[T]], jobs: Sequence[Any]) -> Pending[T]:
        """``fn`` over ``jobs`` started now, spread over the workers (a small batch runs inline at once unless
        they run already: then no fork is paid, and their memos of counted pieces are the warmer ones)."""
        if not self.parallel or not jobs or (len(jobs) < self.min_parallel and not self.started):
            return Pending(done=fn(jobs))
        executor = self._start()
        size = max(1, min(_CHUNK, -(-len(jobs) // (2 * self.workers))))
        return Pending([_submitted(executor, fn, jobs[i:i + size]) for i in range(0, len(jobs), size)])

    def send_guided(self, fn: Callable[[Sequence[Any]], list[T]], jobs: Sequence[Any],
                    weights: Sequence[int]) -> Pending[T]:
        """``send`` for one large batch of uneven jobs: each chunk takes a share of the work left (by
        ``weights``), so the workers start on long chunks, which keep them busy however long this process holds
        the GIL, and end on short ones, which finish together."""
        if len(jobs) < self.min_parallel or not self.parallel:
            return Pending(done=fn(jobs))
        executor = self._start()
        left = sum(weights)
        least = left // (_GUIDED_TAIL * self.workers)
        futures: list[Future[list[T]]] = []
        start = 0
        while start < len(jobs):
            target, end, taken = max(least, left // (2 * self.workers)), start, 0
            while end < len(jobs) and (taken < target or end == start):
                taken += weights[end]
                end += 1
            futures.append(_submitted(executor, fn, jobs[start:end]))
            left -= taken
            start = end
        return Pending(futures)

    @property
    def parallel(self) -> bool:
        """Whether batches can run on worker processes here (two or more cores, fork available)."""
        return self.workers >= 2 and "fork" in multiprocessing.get_all_start_methods()

    @property
    def started(self) -> bool:
        """Whether the workers run already (work sent ahead then costs no fork)."""
        return self._executor is not None

    def submit(self, fn: Callable[[Sequence[Any]], list[T]], jobs: Sequence[Any], size: int = 0) -> Pending[T]:
        """``fn(jobs)`` started on a worker now (needs ``parallel``); the caller goes on with other work. A
        caller that produces faster than the workers consume waits here (``size``: the bytes of text the jobs
        hold, else they are counted as tasks): the executor would otherwise hold every job it was given (a whole
        tree's texts, for a whole-tree pack) until a worker takes it."""
        executor = self._start()
        in_flight = self._in_flight
        while in_flight and in_flight[0][0].done():
            in_flight.popleft()
        while in_flight and self._full(size):
            wait([f for f, _ in in_flight], return_when=FIRST_COMPLETED)
            self._in_flight = in_flight = deque((f, n) for f, n in in_flight if not f.done())
        future = _submitted(executor, fn, jobs)
        in_flight.append((future, size))
        return Pending([future])

    def _full(self, size: int) -> bool:
        """Whether a task of ``size`` bytes (0: unknown) must wait for one in flight to finish."""
        if size:
            return sum(n for _, n in self._in_flight) + size > _IN_FLIGHT_BYTES
        return len(self._in_flight) >= _IN_FLIGHT * self.workers

    def start(self) -> None:
        """Fork the workers now (before this process starts any thread, e.g. a progress bar's)."""
        if self.parallel:
            self.submit(facts_of, []).result()

    def refork(self) -> None:
        """Fork the workers from this process as it is now, ending any running ones first (what this process
        loaded since, the tokenizer say, is then theirs too). Only between batches: nothing sent may be pending."""
        self.close()
        self.start()

    def _start(self) -> Executor:
        if self._executor is None:
            # Saying it explicitly keeps the Rust tokenizer (if it ran here already) from warning about the fork;
            # children that count turn its thread pool off themselves (counted_pieces). "true" is its default, so
            # this process's behaviour does not change.
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
            self._executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"))
        return self._executor

    def close(self) -> None:
        """End the workers, cancelling pending tasks; a later submit forks new ones."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self._in_flight.clear()
