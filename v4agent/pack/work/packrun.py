"""One pack build's working state: the collaborators of one build wired together, and the phases the builder
calls on them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from v4agent.pack.options import PackOptions
from v4agent.pack.records import SkippedFile
from v4agent.pack.select.discover import Entry
from v4agent.pack.work.buildcache import BuildCache
from v4agent.pack.work.counting import LazyTokenizer
from v4agent.pack.work.factcache import FactCache
from v4agent.pack.work.intake import Intake
from v4agent.pack.work.item import FileReader, Item
from v4agent.pack.work.piececounts import PieceCounts
from v4agent.pack.work.ranking import Ranking
from v4agent.pack.work.schedule import Workers
from v4agent.pack.work.secretscans import Scans
from v4agent.pack.work.skeletons import Skeletons
from v4agent.secrets.scan import SecretFinding

__all__ = ["PIECE_OVERHEAD", "SKELETON_AHEAD", "PackRun"]

PIECE_OVERHEAD = 40  # bytes a file's delimiters add around its text, besides the path
SKELETON_AHEAD = 32  # skeletons built and counted together, in the order the fit will ask for them
_IN_ORDER_RUN = 32  # full counts taken together when they are taken in the written order


class PackRun:
    """State of one build; methods are the phases, each done by the collaborator whose job it is."""

    def __init__(self, root: Path, options: PackOptions, cache: FactCache) -> None:
        self.options = options
        self.skipped: list[SkippedFile] = []
        self.cache = BuildCache(cache, options.tokenizer, options.fmt)
        self.tokenizer = LazyTokenizer(options.tokenizer)
        self.reader = FileReader(root, options.max_file_bytes)
        self.workers = Workers(options, self.cache, self.tokenizer)
        self.scans = Scans(self.cache, self.reader, self.workers)
        self.counter = PieceCounts(self.cache, self.reader, self.scans, self.workers, self.tokenizer)
        self.ranking = Ranking(self.cache, self.reader, self.workers, options.focus)
        self.skeletons = Skeletons(self.cache, self.reader, self.scans, self.counter, self.workers,
                                   self.ranking.edits)
        self.intake = Intake(options, self.cache, self.reader, self.scans, self.counter, self.workers,
                             self.tokenizer, self.skipped)

    def close(self) -> None:
        """End the workers, if any started."""
        self.workers.close()

    def plan_symbols_ahead(self, entries: list[Entry]) -> None:
        """Decide whether the workers survey every file (a budget far below the repository's size)."""
        self.workers.plan_symbols_ahead(entries)

    def plan_counts_ahead(self, entries: list[Entry]) -> None:
        """Decide whether the workers scan and count full pieces while the files are analysed."""
        self.workers.plan_counts_ahead(entries)

    def analyse(self, entries: list[Entry], advance: Callable[[int], None]) -> list[Item]:
        """The files the pack keeps, analysed, in ``entries``' order (the others are in ``skipped``)."""
        items, self.ranking.surveyed = self.intake.analyse(entries, advance)
        return items

    def start_ranking(self, items: list[Item]) -> None:
        """Start ranking these files on a worker, where the survey ran there (``ascending`` waits for it)."""
        self.ranking.start(items, self._workers_idle())

    def ascending(self, items: list[Item]) -> list[str]:
        """Paths from lowest to highest rank."""
        return self.ranking.ascending(items)

    def count_on_workers(self) -> None:
        """Far over the budget, after the ranking: the workers count from now on, once nothing is left on them."""
        self.workers.count_from_now(self._workers_idle())

    def _workers_idle(self) -> bool:
        """Whether nothing sent to the workers waits to be taken (they may be forked again)."""
        return not (len(self.scans) + len(self.counter) + len(self.skeletons))

    def start_scans(self, items: Sequence[Item]) -> None:
        """Start these files' secret scans (and full counts, when the workers count) on the workers, when they
        run (a guess of what the fit emits in full; a wrong one only costs the work)."""
        if self.workers.pool.started and self.workers.counts_ahead:
            self.counter.start(items)
        elif self.workers.pool.started:
            self.scans.start(items)

    def count_texts(self, texts: list[str]) -> list[int]:
        """Token counts of whole texts (header, tree, footer), cached by content."""
        return self.counter.count_texts(texts)

    def counts(self, mode: str, items: Sequence[Item], piece: Callable[[Item], str]) -> dict[str, int]:
        """Tokens of each item's ``mode`` piece, as ``piece`` renders it."""
        return self.counter.counts(mode, items, piece)

    def counts_in_order(self, items: Sequence[Item]) -> Iterator[dict[str, int]]:
        """The items' full-piece counts, a few files at a time in order, each run as soon as it is counted (so a
        whole-tree pack writes the first files while the workers still count the last)."""
        for start in range(0, len(items), _IN_ORDER_RUN):
            yield self.counter.counts("full", items[start:start + _IN_ORDER_RUN], self.full_piece)

    def full_piece(self, item: Item) -> str:
        """The file's full piece as the pack emits it."""
        return self.counter.full_piece(item)

    def findings(self, item: Item) -> tuple[SecretFinding, ...]:
        """The file's secrets (scanned on first need)."""
        return self.scans.findings(item)
