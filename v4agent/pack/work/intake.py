"""Which discovered files one build packs: filtered by path and size, read and analysed (cached by content, on
the workers when they survey), then dropped where their analysis or the secret policy says so."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from v4agent.pack.options import PackOptions
from v4agent.pack.records import SkippedFile
from v4agent.pack.select.analyze import Analysis, ReadFailure, analyze
from v4agent.pack.select.classify import matches_globs, path_skip_reason
from v4agent.pack.select.discover import Entry, git_blob_sha
from v4agent.pack.work.buildcache import BuildCache
from v4agent.pack.work.counting import LazyTokenizer
from v4agent.pack.work.factcache import FactKind
from v4agent.pack.work.item import FileReader, Item
from v4agent.pack.work.piececounts import PieceCounts
from v4agent.pack.work.schedule import Workers
from v4agent.pack.work.secretscans import Scans

if TYPE_CHECKING:  # the parsers load only when something is parsed
    from v4agent.pack.work.codefacts import CodeFacts

__all__ = ["Intake"]


class Intake:
    """Analyses the build's files and keeps those it packs; every file left out goes to ``skipped`` with why."""

    def __init__(self, options: PackOptions, cache: BuildCache, reader: FileReader, scans: Scans,
                 counter: PieceCounts, workers: Workers, tokenizer: LazyTokenizer,
                 skipped: list[SkippedFile]) -> None:
        self._options, self._cache, self._reader = options, cache, reader
        self._scans, self._counter, self._workers, self._tokenizer = scans, counter, workers, tokenizer
        self.skipped = skipped

    def analyse(self, entries: list[Entry],
                advance: Callable[[int], None]) -> tuple[list[Item], dict[str, CodeFacts]]:
        """The kept files' items in ``entries``' order, and the symbols and skeleton edits of the code files the
        workers surveyed (empty when they did not). ``advance`` moves the progress bar by files done."""
        from v4agent.pack.rank.symbols import language_for

        opts, cache = self._options, self._cache
        todo: list[Entry] = []
        for e in entries:
            reason = path_skip_reason(e.path, opts.include, opts.exclude)
            if reason is None and e.size > opts.max_file_bytes:
                reason = f"larger than the size limit ({e.size:,} > {opts.max_file_bytes:,} bytes)"
            if reason is not None:
                self.skipped.append(SkippedFile(e.path, reason))
            else:
                todo.append(e)
        cache.prefetch(FactKind.ANALYSIS, todo)
        if opts.secrets == "skip":  # a file with a secret leaves the pack: every file is scanned up front
            cache.prefetch(FactKind.SCAN, todo)
        if self._workers.symbols_ahead:
            from v4agent.pack.work.survey import survey  # loaded only to survey: it imports the parsers

            cache.prefetch(FactKind.SYMBOLS, todo)
            found = survey(todo, advance, cache=cache, pool=self._workers.pool, reader=self._reader,
                           include=opts.include, tokenizer=self._tokenizer)
            self.skipped += found.unreadable
            return [item for item in found.items if self.keep(item)], found.facts
        items: list[Item] = []
        for e in todo:
            item = self._analyse_one(e, language_for(e.path))
            advance(1)
            if item is not None and self.keep(item):
                items.append(item)
                self._counter.send_ahead(item)
                if self._workers.counts_ahead:  # its text went to a worker: read again where it is emitted,
                    item.raw = None  # so the texts held here stay a few batches, not the whole tree
        self._counter.flush()
        return items, {}

    def _analyse_one(self, e: Entry, lang: str | None) -> Item | None:
        """The file's item, its analysis from the cache when its blob is known, else read and analysed here."""
        cache = self._cache
        if e.blob:
            cached = cache.fact(FactKind.ANALYSIS, e.path, e.blob)
            if cached is not None:
                return Item(e, e.blob, Analysis.from_json(cached), lang)
        try:
            data = self._reader.read(e)
        except ReadFailure as exc:
            self.skipped.append(SkippedFile(e.path, str(exc)))
            return None
        blob = git_blob_sha(data)
        cached = cache.fact(FactKind.ANALYSIS, e.path, blob)
        if cached is not None:
            analysis = Analysis.from_json(cached)
            raw = data.decode("utf-8") if analysis.skip is None or analysis.soft else None
        else:
            analysis, raw = analyze(e.path, data, scan=False)  # scanned when its content is needed
            cache.put_fact(FactKind.ANALYSIS, e.path, blob, analysis.to_json())
        return Item(e, blob, analysis, lang, raw)

    def keep(self, item: Item) -> bool:
        """Whether the analysed file is packed (else its skip reason is recorded)."""
        a = item.analysis
        if a.skip is not None and not (a.soft and matches_globs(item.path, self._options.include)):
            self.skipped.append(SkippedFile(item.path, a.skip))
            return False
        if a.skip is not None:  # a soft skip overridden by --include
            item.analysis = Analysis(None, None)
        if self._options.secrets == "skip" and self._scans.findings(item):
            self.skipped.append(SkippedFile(item.path, "contains " + item.analysis.secret_summary()))
            return False
        return True
