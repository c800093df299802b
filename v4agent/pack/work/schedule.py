"""Where one build's per-file work runs: the worker pool, whether it surveys or counts ahead, and when it forks.

Speed only: every piece of work is a pure function of a file's bytes, so a wrong guess here never changes the
pack, only how long it takes.
"""

from __future__ import annotations

from itertools import islice
from typing import TYPE_CHECKING

from v4agent.pack.fit.budget import LAZY_FACTOR
from v4agent.pack.options import PackOptions
from v4agent.pack.select.classify import path_skip_reason
from v4agent.pack.select.discover import Entry
from v4agent.pack.work.buildcache import BuildCache
from v4agent.pack.work.counting import LazyTokenizer
from v4agent.pack.work.factcache import FactKind, fact_key

if TYPE_CHECKING:
    from v4agent.pack.work.pool import FilePool  # imported on first use: it loads the parsers and the scanner

__all__ = ["COUNT_AHEAD_BYTES", "Workers"]

COUNT_AHEAD_BYTES = 1 << 21  # less to count than this: counting here costs less than starting the workers
_SAMPLE = 8  # files whose cached facts say whether the cache is warm


class Workers:
    """The build's worker pool and the plan of what it does ahead of need."""

    def __init__(self, options: PackOptions, cache: BuildCache, tokenizer: LazyTokenizer) -> None:
        self._options, self._cache, self._tokenizer = options, cache, tokenizer
        self._pool: FilePool | None = None
        self.symbols_ahead = False  # the workers survey every file (read, analyse, parse): see survey.py
        self.counts_ahead = False  # the workers scan and count full pieces (they have the tokenizer)

    @property
    def pool(self) -> FilePool:
        """The pool (its workers start when first sent enough work)."""
        if self._pool is None:
            from v4agent.pack.work.pool import FilePool

            self._pool = FilePool()
        return self._pool

    def close(self) -> None:
        """End the workers, if any started."""
        if self._pool is not None:
            self._pool.close()

    def plan_symbols_ahead(self, entries: list[Entry]) -> None:
        """A budget far below the repository's size means ranking, which needs every code file's symbols: then
        the workers read, analyse and parse every file (``survey.survey``) while this process loads the
        tokenizer."""
        from v4agent.pack.rank.symbols import language_for

        budget = self._options.budget
        if budget is None or sum(e.size for e in entries) // 4 <= LAZY_FACTOR * budget or not self.pool.parallel:
            return
        opts, store = self._options, self._cache.store
        sample = list(islice((fact_key(FactKind.SYMBOLS, e.path, e.blob) for e in entries  # the first few only
                              if e.blob and language_for(e.path) and e.size <= opts.max_file_bytes
                              and path_skip_reason(e.path, opts.include, opts.exclude) is None), _SAMPLE))
        store.prefetch(sample)
        if sample and all(store.fact(k) is not None for k in sample):
            return  # a warm cache: no workers to start
        self.symbols_ahead = True
        self.pool.start()  # forked before any thread starts here (a progress bar's)

    def plan_counts_ahead(self, entries: list[Entry]) -> None:
        """A budget that takes every file whole (or none) means counting every file's full piece: then the
        secret scans and counts run on the workers while this process reads and analyses the rest."""
        budget, size = self._options.budget, sum(e.size for e in entries)
        if (budget is not None and size // 4 > LAZY_FACTOR * budget) or size < COUNT_AHEAD_BYTES:
            return
        if not self.pool.parallel:
            return
        max_bytes, cache = self._options.max_file_bytes, self._cache
        sample = [cache.count_key("full", e.path, e.blob) for e in entries if e.blob and e.size <= max_bytes]
        sample = sample[:_SAMPLE]
        if sample and all(cache.count(k) is not None for k in sample):
            return  # a warm cache: no workers to start
        self.counts_ahead = True
        self._tokenizer.get()  # loaded before the fork: the workers inherit it, which costs less than each loading
        self.fork()

    def count_from_now(self, idle: bool) -> None:
        """Far over the budget, once the ranking's parse is done (``idle``: nothing left on the workers): fork
        them again from this process, which has the tokenizer now, so they count the fit's full pieces and
        skeletons along with their scans (else this process counts everything while the workers idle)."""
        if self.pool.started and not self.counts_ahead and idle:
            self._tokenizer.get()
            self.fork()
            self.counts_ahead = True

    def fork(self) -> None:
        """Fork the workers now (again, when they run), before anything here starts a thread (the progress bar).
        They scan for secrets, so the scanner is made ready first and inherited (else each imports it again)."""
        from v4agent.secrets.scan import prepare_scanner

        prepare_scanner()
        self.pool.refork()
