"""Token counts of the build's pieces: cached by content, counted here in bounded batches or on the workers (full
pieces along with their secret scans)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING

from v4agent.pack.select.analyze import full_piece_text
from v4agent.pack.work.ahead import AheadJobs
from v4agent.pack.work.buildcache import BuildCache
from v4agent.pack.work.counting import CHUNK_CHARS, LazyTokenizer, count_texts
from v4agent.pack.work.factcache import FactKind
from v4agent.pack.work.item import FileReader, Item
from v4agent.pack.work.schedule import Workers
from v4agent.pack.work.secretscans import Scans
from v4agent.secrets.scan import SecretFinding

if TYPE_CHECKING:
    from v4agent.pack.work.pool import Pending, PieceJob

__all__ = ["PieceCounts"]

_Counted = tuple[tuple[SecretFinding, ...], int]  # a worker's scan of the file and its full piece's tokens


class PieceCounts:
    """Counts per piece mode (full, skeleton) and of whole texts (header, tree, footer), cached."""

    def __init__(self, cache: BuildCache, reader: FileReader, scans: Scans, workers: Workers,
                 tokenizer: LazyTokenizer) -> None:
        self._cache, self._reader, self._scans, self._workers = cache, reader, scans, workers
        self.tokenizer = tokenizer
        self.fmt = cache.fmt
        self._ahead: AheadJobs[PieceJob, _Counted] = AheadJobs(self._submit)

    def __len__(self) -> int:
        """Full counts sent ahead whose results were not taken yet."""
        return len(self._ahead)

    def full_piece(self, item: Item) -> str:
        """The file's full piece as the pack emits it (its secrets redacted)."""
        return full_piece_text(item.path, self._reader.raw(item), self._scans.findings(item), self.fmt,
                               item.lang or "")

    def counts(self, mode: str, items: Sequence[Item], piece: Callable[[Item], str]) -> dict[str, int]:
        """Tokens of each item's ``mode`` piece (``piece`` renders it), from the cache, the workers or counted
        here."""
        out: dict[str, int] = {}
        missing: list[tuple[str, Item]] = []
        cache = self._cache
        for item in items:
            key = cache.count_key(mode, item.path, item.blob)
            cached = cache.count(key)
            if cached is None:
                missing.append((key, item))
            else:
                out[item.path] = cached
        cache.prefetch(FactKind.SCAN, (it for _, it in missing if it.analysis.findings is None))
        if mode == "full" and self._workers.counts_ahead:  # ``full_piece``, which the workers render the same way
            missing = self._counted_on_workers(missing, out)
        for a, b in _chunks_of(missing):
            part = missing[a:b]
            for (key, item), n in zip(part, self.tokenizer.get().count_many([piece(it) for _, it in part]),
                                      strict=True):
                cache.put_count(key, n)
                out[item.path] = n
        return out

    def count_texts(self, texts: list[str]) -> list[int]:
        """Token counts of whole texts (header, tree, footer), cached by content."""
        keys = [self._cache.count_key("text", "", hashlib.sha1(t.encode("utf-8", "surrogatepass"),
                                                               usedforsecurity=False).hexdigest())
                for t in texts]
        todo = [i for i, key in enumerate(keys) if self._cache.count(key) is None]
        if todo:
            counted = count_texts(self.tokenizer.get(), [texts[i] for i in todo])
            for i, n in zip(todo, counted, strict=True):
                self._cache.put_count(keys[i], n)
        return [self._cache.count(key) or 0 for key in keys]

    def send_ahead(self, item: Item) -> None:
        """Queue the read file's scan and full count for the workers, when they count and the count is not
        cached (``flush`` sends the last batch)."""
        if item.raw is None:
            return
        if self._workers.counts_ahead and self._cache.count(self._cache.count_key("full", item.path,
                                                                                   item.blob)) is None:
            self._ahead.add(item.path, (item.path, item.raw, item.analysis.findings), len(item.raw))

    def flush(self) -> None:
        """Send the queued full counts."""
        self._ahead.flush()

    def start(self, items: Sequence[Item]) -> None:
        """Start these files' scans and full counts on the workers (which run and count), unless cached or sent
        already: a guess of what the fit emits in full, and a wrong one only costs the work."""
        keys = {it.path: self._cache.count_key("full", it.path, it.blob) for it in items}
        self._cache.prefetch(FactKind.SCAN, items)
        for it in items:
            if it.path not in self._ahead and self._cache.count(keys[it.path]) is None:
                self._ahead.add(it.path, self._piece_job(it), it.entry.size)
        self._ahead.flush()

    def _counted_on_workers(self, missing: list[tuple[str, Item]], out: dict[str, int]) -> list[tuple[str, Item]]:
        """Full-piece counts from the jobs sent ahead, and the rest on the workers when there are enough; what
        is left to count here is returned. A worker's scan is the one the emitted text gets."""
        pool = self._workers.pool
        sent = [(key, it) for key, it in missing if it.path not in self._ahead]
        if sent and pool.parallel and (len(sent) >= pool.min_parallel or pool.started):
            for a, b in _chunks_of(sent):
                self._ahead.send([(it.path, self._piece_job(it)) for _, it in sent[a:b]],
                                 via=lambda jobs: pool.send(self._count_job(), jobs))
        left: list[tuple[str, Item]] = []
        for key, item in missing:
            result = self._ahead.take(item.path)
            if result is None:
                left.append((key, item))
                continue
            found, n = result
            self._scans.scanned(item, found)
            self._cache.put_count(key, n)
            out[item.path] = n
        return left

    def _piece_job(self, item: Item) -> PieceJob:
        """A worker's job to scan (unless the scan is known) and count the file's full piece."""
        found = self._scans.cached(item)
        return item.path, self._reader.raw(item), found

    def _count_job(self) -> Callable[[Sequence[PieceJob]], list[_Counted]]:
        from v4agent.pack.work.pool import counted_pieces

        return partial(counted_pieces, tokenizer=self.tokenizer.name, fmt=self.fmt)

    def _submit(self, jobs: list[PieceJob]) -> Pending[_Counted]:
        return self._workers.pool.submit(self._count_job(), jobs, size=sum(len(text) for _, text, _ in jobs))


def _chunks_of(pairs: list[tuple[str, Item]]) -> Iterator[tuple[int, int]]:
    """Index ranges of ``pairs`` with about ``CHUNK_CHARS`` bytes of files each: bounded memory per count call."""
    start, size = 0, 0
    for i, (_, item) in enumerate(pairs):
        size += item.entry.size
        if size >= CHUNK_CHARS:
            yield start, i + 1
            start, size = i + 1, 0
    if start < len(pairs):
        yield start, len(pairs)
