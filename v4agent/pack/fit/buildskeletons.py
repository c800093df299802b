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
from v4agent.pack.work.factcache import count_key, fact_key

if TYPE_CHECKING:
    from v4agent.pack.fit.skeleton import SkeletonEdit
    from v4agent.pack.work.packrun import Item, PackRun
    from v4agent.pack.work.pool import OutlineJob, Pending
    from v4agent.secrets.scan import SecretFinding

__all__ = ["Outlines"]

# the file's findings, its skeleton (None: none), the skeleton piece's tokens when a worker counted them
_Outline = tuple["tuple[SecretFinding, ...]", "str | None", "int | None"]


class Outlines:
    """The skeletons of one build's files, asked for in batches by the budget fit."""

    def __init__(self, run: PackRun) -> None:
        self._run = run
        self.edits: dict[str, list[SkeletonEdit] | None] = {}  # from the ranking's parse, this build only
        self._jobs: AheadJobs[OutlineJob, _Outline] = AheadJobs(self._send_now)

    def _send_now(self, jobs: list[OutlineJob]) -> Pending[_Outline]:
        from v4agent.pack.work.pool import counted_outlines_of

        run = self._run
        tokenizer = run.options.tokenizer if run.counts_ahead else None  # the workers have it loaded
        return run.pool.send(partial(counted_outlines_of, tokenizer=tokenizer, fmt=run.fmt), jobs)

    def __len__(self) -> int:
        return len(self._jobs)

    def _send(self, items: Sequence[Item]) -> None:
        """Start the secret scan and skeleton of each uncached code file (on the workers when there are any)."""
        run = self._run
        run.cache.prefetch(fact_key("k", it.path, it.blob) for it in items if it.lang)
        self._jobs.send([(it.path, (it.path, run.raw(it), self.edits.get(it.path))) for it in items
                         if it.lang and it.path not in self._jobs
                         and run.cache.fact(fact_key("k", it.path, it.blob)) is None])

    def start(self, items: Sequence[Item]) -> None:
        """Start these files' secret scans and skeletons on the workers, when they run (a guess of what the fit
        asks for next; a wrong one only costs the work)."""
        if self._run.pool.started:
            self._send(items)

    def costs(self, items: list[Item], then: Sequence[Item] = ()) -> dict[str, tuple[str, int] | None]:
        """Skeleton text and piece tokens per item (None: no skeleton); uncached ones built on both cores and
        counted in one batch. ``then`` (the ones the fit asks for next) start on the workers while this counts."""
        run = self._run
        self._send(items)
        if run.pool.started:  # a cold pack: sending ahead keeps the workers busy while this process counts
            self._send(then)
        texts: dict[str, str | None] = {}
        for it in items:
            outline = self._jobs.take(it.path)
            if outline is None:
                texts[it.path] = json.loads(run.cache.fact(fact_key("k", it.path, it.blob)) or "null")
                continue
            found, text, tokens = outline
            run.scanned(it, found)
            run.cache.put_fact(fact_key("k", it.path, it.blob), json.dumps(text))
            if tokens is not None:
                run.cache.put_count(count_key(run.options.tokenizer, run.fmt, "skeleton", it.path, it.blob), tokens)
            texts[it.path] = text

        def piece(it: Item) -> str:
            return render_file(it.path, texts[it.path] or "", "skeleton", run.fmt, it.lang or "")

        counted = run.counts("skeleton", [it for it in items if texts[it.path] is not None], piece)
        return {it.path: None if (text := texts[it.path]) is None else (text, counted[it.path]) for it in items}
