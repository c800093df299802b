"""Skeletons for one build: built on the workers (from the edits the ranking's parse kept, else by a parse
there), cached by content, and counted as the packer renders them.

Speed only where they run: a skeleton is a pure function of the file's text (redacted when it holds a secret),
so sending work ahead never changes the pack.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from v4agent.pack.render import render_file
from v4agent.pack.work.ahead import AheadJobs
from v4agent.pack.work.buildcache import BuildCache
from v4agent.pack.work.factcache import FactKind
from v4agent.pack.work.item import FileReader, Item
from v4agent.pack.work.piececounts import PieceCounts
from v4agent.pack.work.schedule import Workers
from v4agent.pack.work.secretscans import Scans

if TYPE_CHECKING:
    from v4agent.pack.fit.skeleton import SkeletonEdit
    from v4agent.pack.work.pool import Pending, SkeletonJob
    from v4agent.secrets.scan import SecretFinding

__all__ = ["Skeletons"]

# the file's findings, its skeleton (None: none), the skeleton piece's tokens when a worker counted them
_Built = tuple["tuple[SecretFinding, ...]", "str | None", "int | None"]


class Skeletons:
    """The skeletons of one build's files, asked for in batches by the budget fit. ``edits`` are the skeleton
    edits the ranking's parse found (shared with the ranking, which fills it)."""

    def __init__(self, cache: BuildCache, reader: FileReader, scans: Scans, counter: PieceCounts,
                 workers: Workers, edits: dict[str, list[SkeletonEdit] | None]) -> None:
        self._cache, self._reader, self._scans, self._counter = cache, reader, scans, counter
        self._workers = workers
        self.edits = edits
        self._jobs: AheadJobs[SkeletonJob, _Built] = AheadJobs(self._send_now)

    def _send_now(self, jobs: list[SkeletonJob]) -> Pending[_Built]:
        from v4agent.pack.work.pool import counted_skeletons_of

        workers, counter = self._workers, self._counter
        tokenizer = counter.tokenizer.name if workers.counts_ahead else None  # the workers have it loaded
        return workers.pool.send(partial(counted_skeletons_of, tokenizer=tokenizer, fmt=counter.fmt), jobs)

    def __len__(self) -> int:
        """Skeletons sent whose results were not taken yet."""
        return len(self._jobs)

    def _send(self, items: Sequence[Item]) -> None:
        """Start the secret scan and skeleton of each uncached code file (on the workers when there are any)."""
        cache = self._cache
        cache.prefetch(FactKind.SKELETON, (it for it in items if it.lang))
        self._jobs.send([(it.path, (it.path, self._reader.raw(it), self.edits.get(it.path))) for it in items
                         if it.lang and it.path not in self._jobs
                         and cache.fact(FactKind.SKELETON, it.path, it.blob) is None])

    def start(self, items: Sequence[Item]) -> None:
        """Start these files' secret scans and skeletons on the workers, when they run (a guess of what the fit
        asks for next; a wrong one only costs the work)."""
        if self._workers.pool.started:
            self._send(items)

    def costs(self, items: list[Item], then: Sequence[Item] = ()) -> dict[str, tuple[str, int] | None]:
        """Skeleton text and piece tokens per item (None: no skeleton); uncached ones built on both cores and
        counted in one batch. ``then`` (the ones the fit asks for next) start on the workers while this counts."""
        cache, fmt = self._cache, self._counter.fmt
        self._send(items)
        if self._workers.pool.started:  # a cold pack: sending ahead keeps the workers busy while this process counts
            self._send(then)
        texts: dict[str, str | None] = {}
        for it in items:
            built = self._jobs.take(it.path)
            if built is None:
                texts[it.path] = json.loads(cache.fact(FactKind.SKELETON, it.path, it.blob) or "null")
                continue
            found, text, tokens = built
            self._scans.scanned(it, found)
            cache.put_fact(FactKind.SKELETON, it.path, it.blob, json.dumps(text))
            if tokens is not None:
                cache.put_count(cache.count_key("skeleton", it.path, it.blob), tokens)
            texts[it.path] = text

        def piece(it: Item) -> str:
            return render_file(it.path, texts[it.path] or "", "skeleton", fmt, it.lang or "")

        counted = self._counter.counts("skeleton", [it for it in items if texts[it.path] is not None], piece)
        return {it.path: None if (text := texts[it.path]) is None else (text, counted[it.path]) for it in items}
