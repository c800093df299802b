"""One pack build's working state: the files, their cached facts, the worker pool, counts and the ranking."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from v4agent.pack.fit.budget import LAZY_FACTOR
from v4agent.pack.fit.buildskeletons import Outlines
from v4agent.pack.options import PackError, PackOptions
from v4agent.pack.records import SkippedFile
from v4agent.pack.select.analyze import (
    Analysis,
    ReadFailure,
    analyze,
    findings_from_json,
    findings_to_json,
    full_piece_text,
    read_bytes,
)
from v4agent.pack.select.classify import matches_globs, path_skip_reason
from v4agent.pack.select.discover import Entry, git_blob_sha
from v4agent.pack.work.ahead import AheadJobs
from v4agent.pack.work.counting import CHUNK_CHARS, count_texts, load_tokenizer
from v4agent.pack.work.factcache import TokenCache, count_key, fact_key
from v4agent.secrets.scan import SecretFinding, scan_secrets
from v4agent.tokens.tokenizer import Tokenizer

if TYPE_CHECKING:
    from v4agent.pack.rank.codefacts import CodeFacts
    from v4agent.pack.rank.symbols import FileSymbols
    from v4agent.pack.work.pool import FilePool, Pending, PieceJob
    from v4agent.secrets.scan import SecretFinding as _Finding


PIECE_OVERHEAD = 40  # bytes a file's delimiters add around its text, besides the path
SKELETON_AHEAD = 32  # skeletons built and counted together, in the order the fit will ask for them
COUNT_AHEAD_BYTES = 1 << 21  # less to count than this: counting here costs less than starting the workers
_SAMPLE = 8  # code files whose cached symbols say whether the cache is warm


@dataclass
class Item:
    entry: Entry
    blob: str
    analysis: Analysis
    lang: str | None
    raw: str | None = None  # decoded text, when read (loaded lazily otherwise)

    @property
    def path(self) -> str:
        return self.entry.path


class PackRun:
    """State of one build; methods are the phases."""

    def __init__(self, root: Path, options: PackOptions, cache: TokenCache) -> None:
        self.root, self.options, self.cache = root, options, cache
        self.prefix = os.path.join(root, "")  # joined as strings: pathlib costs ~40 us per file
        self._tok: Tokenizer | None = None
        self.fmt = options.fmt
        self.skipped: list[SkippedFile] = []
        self._pool: FilePool | None = None
        self.symbols_ahead = False  # the workers survey every file (read, analyse, parse): see survey.py
        self.counts_ahead = False  # scan and count full pieces on the workers while the analysis goes on
        self._surveyed: dict[str, CodeFacts] = {}  # symbols and skeleton edits from the survey, until ranked
        self._scans: AheadJobs[tuple[str, str], tuple[_Finding, ...]] = AheadJobs(self._send_scans_now)
        self._counts: AheadJobs[PieceJob, tuple[tuple[_Finding, ...], int]] = AheadJobs(self._submit_counts)
        self.outlines = Outlines(self)

    @property
    def pool(self) -> FilePool:
        if self._pool is None:
            from v4agent.pack.work.pool import FilePool

            self._pool = FilePool()
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    @property
    def tok(self) -> Tokenizer:
        """Loaded on first use: a warm pack finds every count in the cache and never needs it (~0.7 s)."""
        if self._tok is None:
            self._tok = load_tokenizer(self.options.tokenizer)
        return self._tok

    def _read(self, entry: Entry) -> bytes:
        return read_bytes(self.prefix + entry.path, self.options.max_file_bytes)

    def plan_symbols_ahead(self, entries: list[Entry]) -> None:
        """A budget far below the repository's size means ranking, which needs every code file's symbols: then
        the workers read, analyse and parse every file (``survey.survey``) while this process loads the tokenizer.
        Speed only: it all is a pure function of the bytes, so a wrong guess never changes the output."""
        from v4agent.pack.rank.symbols import language_for

        budget = self.options.budget
        if budget is None or sum(e.size for e in entries) // 4 <= LAZY_FACTOR * budget or not self.pool.parallel:
            return
        opts = self.options
        sample = [fact_key("y", e.path, e.blob) for e in entries if e.blob and language_for(e.path)
                  and e.size <= opts.max_file_bytes and path_skip_reason(e.path, opts.include, opts.exclude) is None]
        sample = sample[:_SAMPLE]
        self.cache.prefetch(sample)
        if sample and all(self.cache.fact(k) is not None for k in sample):
            return  # a warm cache: no workers to start
        self.symbols_ahead = True
        self.pool.start()  # forked before any thread starts here (a progress bar's)

    def plan_counts_ahead(self, entries: list[Entry]) -> None:
        """A budget that takes every file whole (or none) means counting every file's full piece: then the
        secret scans and counts run on the workers while this process reads and analyses the rest. Speed only:
        a count is a pure function of the text, so a wrong guess never changes the output."""
        budget, size = self.options.budget, sum(e.size for e in entries)
        if (budget is not None and size // 4 > LAZY_FACTOR * budget) or size < COUNT_AHEAD_BYTES:
            return
        if not self.pool.parallel:
            return
        opts = self.options
        sample = [count_key(opts.tokenizer, self.fmt, "full", e.path, e.blob) for e in entries
                  if e.blob and e.size <= opts.max_file_bytes][:_SAMPLE]
        if sample and all(self.cache.count(k) is not None for k in sample):
            return  # a warm cache: no workers to start
        self.counts_ahead = True
        self._tok = self.tok  # loaded before the fork: the workers inherit it (measured: less CPU than each loading)
        self._start_workers()

    def _start_workers(self) -> None:
        """Fork the workers now (again, when they run), before anything here starts a thread (the progress bar).
        They scan for secrets, so the scanner is made ready first and inherited (else each imports it again)."""
        from v4agent.secrets.scan import prepare_scanner

        prepare_scanner()
        self.pool.refork()

    def count_on_workers(self) -> None:
        """Far over the budget, once the ranking's parse is done (nothing left on the workers): fork them again
        from this process, which has the tokenizer now, so they count the fit's full pieces and skeletons along
        with their scans (else this process counts everything while the workers idle; measured on Django at the
        1M budget: the fit 2.5 -> 2.1 s)."""
        busy = len(self._scans) + len(self._counts) + len(self.outlines)
        if self.pool.started and not self.counts_ahead and not busy:
            self._tok = self.tok
            self._start_workers()
            self.counts_ahead = True

    def _count_job(self) -> Callable[[Sequence[PieceJob]], list[tuple[tuple[_Finding, ...], int]]]:
        from v4agent.pack.work.pool import counted_pieces

        return partial(counted_pieces, tokenizer=self.options.tokenizer, fmt=self.fmt)

    def _submit_counts(self, jobs: list[PieceJob]) -> Pending[tuple[tuple[_Finding, ...], int]]:
        return self.pool.submit(self._count_job(), jobs)

    def _send_ahead(self, item: Item) -> None:
        """Queue the worker jobs planned for one kept file (its scan and count)."""
        if item.raw is None:
            return
        if self.counts_ahead and self.cache.count(count_key(self.options.tokenizer, self.fmt, "full", item.path,
                                                            item.blob)) is None:
            self._counts.add(item.path, (item.path, item.raw, item.analysis.findings), len(item.raw))

    def analyse(self, entries: list[Entry], advance: Callable[[int], None]) -> list[Item]:
        from v4agent.pack.rank.symbols import language_for

        opts = self.options
        todo: list[Entry] = []
        for e in entries:
            reason = path_skip_reason(e.path, opts.include, opts.exclude)
            if reason is None and e.size > opts.max_file_bytes:
                reason = f"larger than the size limit ({e.size:,} > {opts.max_file_bytes:,} bytes)"
            if reason is not None:
                self.skipped.append(SkippedFile(e.path, reason))
            else:
                todo.append(e)
        self.cache.prefetch(fact_key("a", e.path, e.blob) for e in todo if e.blob)
        if opts.secrets == "skip":  # a file with a secret leaves the pack: every file is scanned up front
            self.cache.prefetch(fact_key("s", e.path, e.blob) for e in todo if e.blob)
        if self.symbols_ahead:
            self.cache.prefetch(fact_key("y", e.path, e.blob) for e in todo if e.blob)
            from v4agent.pack.work.survey import survey

            surveyed, self._surveyed = survey(self, todo, advance)
            return surveyed
        items: list[Item] = []
        for e in todo:
            item = self._analyse_one(e, language_for(e.path))
            advance(1)
            if item is not None and self.keep(item):
                items.append(item)
                self._send_ahead(item)
        self._counts.flush()
        return items

    def _analyse_one(self, e: Entry, lang: str | None) -> Item | None:
        if e.blob:
            cached = self.cache.fact(fact_key("a", e.path, e.blob))
            if cached is not None:
                return Item(e, e.blob, Analysis.from_json(cached), lang)
        try:
            data = self._read(e)
        except ReadFailure as exc:
            self.skipped.append(SkippedFile(e.path, str(exc)))
            return None
        blob = git_blob_sha(data)
        key = fact_key("a", e.path, blob)
        cached = self.cache.fact(key)
        if cached is not None:
            analysis = Analysis.from_json(cached)
            raw = data.decode("utf-8") if analysis.skip is None or analysis.soft else None
        else:
            analysis, raw = analyze(e.path, data, scan=False)  # scanned when its content is needed
            self.cache.put_fact(key, analysis.to_json())
        return Item(e, blob, analysis, lang, raw)

    def keep(self, item: Item) -> bool:
        """Whether the analysed file is packed (else its skip reason is recorded)."""
        a = item.analysis
        if a.skip is not None and not (a.soft and matches_globs(item.path, self.options.include)):
            self.skipped.append(SkippedFile(item.path, a.skip))
            return False
        if a.skip is not None:  # a soft skip overridden by --include
            item.analysis = Analysis(None, None)
        if self.options.secrets == "skip" and self.findings(item):
            self.skipped.append(SkippedFile(item.path, "contains " + item.analysis.secret_summary()))
            return False
        return True

    def findings(self, item: Item) -> tuple[SecretFinding, ...]:
        """The file's secrets, scanned on first need (only files whose content is emitted or counted)."""
        found = item.analysis.findings
        if found is None:
            key = fact_key("s", item.path, item.blob)
            cached = self.cache.fact(key)
            if cached is None:
                ahead = self._scans.take(item.path)
                found = ahead if ahead is not None else tuple(scan_secrets(self.raw(item), item.path))
                self.cache.put_fact(key, findings_to_json(found))
            else:
                found = findings_from_json(cached)
            item.analysis = replace(item.analysis, findings=found)
        return found

    def raw(self, item: Item) -> str:
        if item.raw is None:
            data = self._read(item.entry)
            if git_blob_sha(data) != item.blob:
                raise PackError(f"{item.path} changed while it was being packed; run the pack again")
            item.raw = data.decode("utf-8")
        return item.raw

    # --- counting ------------------------------------------------------------------------------------

    def counts(self, mode: str, items: Sequence[Item], piece: Callable[[Item], str]) -> dict[str, int]:
        out: dict[str, int] = {}
        missing: list[tuple[str, Item]] = []
        for item in items:
            key = count_key(self.options.tokenizer, self.fmt, mode, item.path, item.blob)
            cached = self.cache.count(key)
            if cached is None:
                missing.append((key, item))
            else:
                out[item.path] = cached
        self.cache.prefetch(fact_key("s", it.path, it.blob) for _, it in missing if it.analysis.findings is None)
        if mode == "full" and self.counts_ahead:  # ``full_piece``, which the workers render the same way
            missing = self._counted_on_workers(missing, out)
        for a, b in _chunks_of(missing):
            part = missing[a:b]
            for (key, item), n in zip(part, self.tok.count_many([piece(it) for _, it in part]), strict=True):
                self.cache.put_count(key, n)
                out[item.path] = n
        return out

    def _counted_on_workers(self, missing: list[tuple[str, Item]], out: dict[str, int]) -> list[tuple[str, Item]]:
        """Full-piece counts from the jobs sent ahead, and the rest on the workers when there are enough; what
        is left to count here is returned. A worker's scan is the one the emitted text gets."""
        sent = [(key, it) for key, it in missing if it.path not in self._counts]
        if sent and self.pool.parallel and (len(sent) >= self.pool.min_parallel or self.pool.started):
            for a, b in _chunks_of(sent):
                self._counts.send([(it.path, self._piece_job(it)) for _, it in sent[a:b]],
                                  via=lambda jobs: self.pool.send(self._count_job(), jobs))
        left: list[tuple[str, Item]] = []
        for key, item in missing:
            result = self._counts.take(item.path)
            if result is None:
                left.append((key, item))
                continue
            found, n = result
            self.scanned(item, found)
            self.cache.put_count(key, n)
            out[item.path] = n
        return left

    def _piece_job(self, item: Item) -> PieceJob:
        """A worker's job to scan (unless the scan is cached) and count the file's full piece."""
        if item.analysis.findings is None:
            cached = self.cache.fact(fact_key("s", item.path, item.blob))
            if cached is not None:
                item.analysis = replace(item.analysis, findings=findings_from_json(cached))
        return item.path, self.raw(item), item.analysis.findings

    def scanned(self, item: Item, found: tuple[SecretFinding, ...]) -> None:
        """A worker's secret scan of the file: the one its emitted text gets (cached)."""
        if item.analysis.findings is None:
            self.cache.put_fact(fact_key("s", item.path, item.blob), findings_to_json(found))
            item.analysis = replace(item.analysis, findings=found)

    def count_texts(self, texts: list[str]) -> list[int]:
        """Token counts of whole texts (header, tree, footer), cached by content."""
        keys = [count_key(self.options.tokenizer, self.fmt, "text", "",
                          hashlib.sha1(t.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest())
                for t in texts]
        todo = [i for i, key in enumerate(keys) if self.cache.count(key) is None]
        if todo:
            counted = count_texts(self.tok, [texts[i] for i in todo])
            for i, n in zip(todo, counted, strict=True):
                self.cache.put_count(keys[i], n)
        return [self.cache.count(key) or 0 for key in keys]

    def full_piece(self, item: Item) -> str:
        return full_piece_text(item.path, self.raw(item), self.findings(item), self.fmt, item.lang or "")

    # --- ranking -------------------------------------------------------------------------------------

    def ascending(self, items: list[Item]) -> list[str]:
        """Paths from lowest to highest rank (symbol-reference PageRank with the focus boost), cached."""
        digest = hashlib.sha1(usedforsecurity=False)
        for it in sorted(items, key=lambda it: it.path):
            digest.update(f"{it.path}\0{it.blob}\0".encode("utf-8", "surrogatepass"))
        digest.update(json.dumps(self.options.focus).encode())
        key = fact_key("r", "", digest.hexdigest())  # the ranking depends only on the contents and the focus
        cached = self.cache.fact(key)
        if cached is not None:
            order: list[str] = json.loads(cached)
            return order
        order = self._rank(items)
        self.cache.put_fact(key, json.dumps(order, separators=(",", ":")))
        return order

    def _rank(self, items: list[Item]) -> list[str]:
        from v4agent.pack.rank.pagerank import rank_files
        from v4agent.pack.rank.symbols import FileSymbols
        from v4agent.pack.work.pool import facts_of

        coded = [it for it in items if it.lang]
        self.cache.prefetch(fact_key("y", it.path, it.blob) for it in coded)
        symbols = {it.path: FileSymbols() for it in items}
        todo: list[Item] = []
        for it in coded:
            surveyed = self._surveyed.pop(it.path, None)
            if surveyed is not None:  # cached by the survey already
                symbols[it.path], self.outlines.edits[it.path] = surveyed
                continue
            cached = self.cache.fact(fact_key("y", it.path, it.blob))
            if cached is None:
                todo.append(it)
            else:
                symbols[it.path] = FileSymbols.from_json(cached)
        for it, facts in zip(todo, self.pool.map(facts_of, [(it.path, self.raw(it)) for it in todo]), strict=True):
            symbols[it.path] = self._took_facts(it, facts)
        scores = rank_files(symbols, self.options.focus)
        return list(reversed(list(scores)))

    def _took_facts(self, item: Item, facts: CodeFacts) -> FileSymbols:
        """A parse's results for one file: its symbols cached, its skeleton edits kept for this build."""
        found, self.outlines.edits[item.path] = facts
        self.cache.put_fact(fact_key("y", item.path, item.blob), found.dumps())
        return found

    def _send_scans_now(self, jobs: list[tuple[str, str]]) -> Pending[tuple[_Finding, ...]]:
        from v4agent.pack.work.pool import scans_of

        return self.pool.send(scans_of, jobs)

    def start_scans(self, items: Sequence[Item]) -> None:
        """Start these files' secret scans (and full counts, when the workers count) on the workers, when they
        run (a guess of what the fit emits in full; a wrong one only costs the work)."""
        if self.pool.started and self.counts_ahead:
            keys = {it.path: count_key(self.options.tokenizer, self.fmt, "full", it.path, it.blob) for it in items}
            self.cache.prefetch(keys.values())
            self.cache.prefetch(fact_key("s", it.path, it.blob) for it in items)
            for it in items:
                if it.path not in self._counts and self.cache.count(keys[it.path]) is None:
                    self._counts.add(it.path, self._piece_job(it), it.entry.size)
            self._counts.flush()
        elif self.pool.started:
            todo = [it for it in items if it.analysis.findings is None and it.path not in self._scans]
            self.cache.prefetch(fact_key("s", it.path, it.blob) for it in todo)
            self._scans.send([(it.path, (it.path, self.raw(it))) for it in todo
                              if self.cache.fact(fact_key("s", it.path, it.blob)) is None])


def _chunks_of(pairs: list[tuple[str, Item]]) -> Iterator[tuple[int, int]]:
    start, size = 0, 0
    for i, (_, item) in enumerate(pairs):
        size += item.entry.size
        if size >= CHUNK_CHARS:
            yield start, i + 1
            start, size = i + 1, 0
    if start < len(pairs):
        yield start, len(pairs)
