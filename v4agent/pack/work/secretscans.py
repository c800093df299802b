"""The build's secret scans: each file scanned once, only where its content is emitted or counted, cached by
content; on the workers ahead of need when they run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from v4agent.pack.select.analyze import findings_from_json, findings_to_json
from v4agent.pack.work.ahead import AheadJobs
from v4agent.pack.work.buildcache import BuildCache
from v4agent.pack.work.factcache import FactKind
from v4agent.pack.work.item import FileReader, Item
from v4agent.pack.work.schedule import Workers
from v4agent.secrets.scan import SecretFinding, scan_secrets

if TYPE_CHECKING:
    from v4agent.pack.work.pool import Pending

__all__ = ["Scans"]

_ScanJob = tuple[str, str]  # path, raw text


class Scans:
    """Secret findings per file: from the analysis, the cache, a worker's scan sent ahead, or a scan here."""

    def __init__(self, cache: BuildCache, reader: FileReader, workers: Workers) -> None:
        self._cache, self._reader, self._workers = cache, reader, workers
        self._ahead: AheadJobs[_ScanJob, tuple[SecretFinding, ...]] = AheadJobs(self._send_now)

    def __len__(self) -> int:
        """Scans sent ahead whose results were not taken yet."""
        return len(self._ahead)

    def findings(self, item: Item) -> tuple[SecretFinding, ...]:
        """The file's secrets, scanned on first need (only files whose content is emitted or counted)."""
        found = item.analysis.findings
        if found is None:
            cached = self._cache.fact(FactKind.SCAN, item.path, item.blob)
            if cached is None:
                ahead = self._ahead.take(item.path)
                found = ahead if ahead is not None else tuple(scan_secrets(self._reader.raw(item), item.path))
                self._cache.put_fact(FactKind.SCAN, item.path, item.blob, findings_to_json(found))
            else:
                found = findings_from_json(cached)
            item.analysis = replace(item.analysis, findings=found)
        return found

    def cached(self, item: Item) -> tuple[SecretFinding, ...] | None:
        """The file's findings when known without a scan (its analysis, else the cache), else None."""
        if item.analysis.findings is None:
            cached = self._cache.fact(FactKind.SCAN, item.path, item.blob)
            if cached is not None:
                item.analysis = replace(item.analysis, findings=findings_from_json(cached))
        return item.analysis.findings

    def scanned(self, item: Item, found: tuple[SecretFinding, ...]) -> None:
        """A worker's secret scan of the file: the one its emitted text gets (cached)."""
        if item.analysis.findings is None:
            self._cache.put_fact(FactKind.SCAN, item.path, item.blob, findings_to_json(found))
            item.analysis = replace(item.analysis, findings=found)

    def start(self, items: Sequence[Item]) -> None:
        """Start the scans of these files that are neither known nor sent yet on the workers (which run)."""
        todo = [it for it in items if it.analysis.findings is None and it.path not in self._ahead]
        self._cache.prefetch(FactKind.SCAN, todo)
        self._ahead.send([(it.path, (it.path, self._reader.raw(it))) for it in todo
                          if self._cache.fact(FactKind.SCAN, it.path, it.blob) is None])

    def _send_now(self, jobs: list[_ScanJob]) -> Pending[tuple[SecretFinding, ...]]:
        from v4agent.pack.work.pool import scans_of

        return self._workers.pool.send(scans_of, jobs)
