"""The build's file ranking: every code file's symbols (surveyed, cached, or parsed on the workers) into a
PageRank with the focus boost; the order cached by content.

After a survey on the workers, the PageRank runs on a worker forked with the symbols in its memory (nothing is
pickled to it), while this process renders and counts the tree and writes the survey's facts to the cache. Speed
only: the same code on the same input gives the same bits wherever it runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from v4agent.pack.work.buildcache import BuildCache
from v4agent.pack.work.factcache import FactKind
from v4agent.pack.work.item import FileReader, Item
from v4agent.pack.work.schedule import Workers

if TYPE_CHECKING:  # imported where used: tree-sitter and numpy load only when a pack ranks
    from v4agent.pack.fit.skeleton import SkeletonEdit
    from v4agent.pack.rank.symbols import FileSymbols
    from v4agent.pack.work.codefacts import CodeFacts
    from v4agent.pack.work.pool import Pending

__all__ = ["Ranking"]

# What a worker forked for the ranking inherits: the symbols and the focus, under the build's ranking digest.
_INHERITED: dict[str, tuple[Mapping[str, FileSymbols], tuple[str, ...]]] = {}

_REUSE_AT_MOST = 256  # changed code files checked against the last ranking; past that, ranking afresh is as cheap


class Ranking:
    """Ranks one build's files. A parse done for the ranking also gives the file's skeleton edits: they are kept
    in ``edits`` for the skeletons the fit asks for (this build only: they are not cached)."""

    def __init__(self, cache: BuildCache, reader: FileReader, workers: Workers, focus: tuple[str, ...]) -> None:
        self._cache, self._reader, self._workers, self._focus = cache, reader, workers, focus
        self.surveyed: dict[str, CodeFacts] = {}  # symbols and skeleton edits from the survey, until ranked
        self.edits: dict[str, list[SkeletonEdit] | None] = {}
        # Found by ``start`` for the digest it names: the order (the last ranking holds), or a worker ranking
        self._ahead: tuple[str, list[str] | Pending[list[str]]] | None = None
        self._digested: tuple[list[Item], str] | None = None  # the digest of the last list of items asked about

    def start(self, items: list[Item], idle: bool) -> None:
        """Right after a survey on the workers (``idle``: nothing else is on them), when a fresh ranking is
        needed: fork the workers again, so that they inherit the symbols (and the tokenizer loaded meanwhile, for
        the fit's counts), and start the PageRank on one of them; ``ascending`` then waits for it. Otherwise
        nothing starts, and ``ascending`` ranks as usual."""
        workers = self._workers
        if not (idle and workers.symbols_ahead and workers.pool.started) or workers.counts_ahead or self._ahead:
            return
        digest = self._digest_of(items)
        if self._cache.fact(FactKind.RANKING, "", digest) is not None:
            return
        reused = self._same_symbols(items, json.dumps(self._focus))
        if reused is not None:  # the last ranking holds
            self._ahead = digest, reused
            return
        symbols = self._symbols_at_hand(items)
        if symbols is None:
            return
        _INHERITED[digest] = (symbols, self._focus)
        try:
            workers.count_from_now(idle=True)
        finally:
            del _INHERITED[digest]
        self._ahead = digest, workers.pool.submit(_ranked_inherited, [digest])

    @property
    def started(self) -> bool:
        """Whether a worker ranks these files now (``start``)."""
        return self._ahead is not None and not isinstance(self._ahead[1], list)

    def ascending(self, items: list[Item]) -> list[str]:
        """Paths from lowest to highest rank (symbol-reference PageRank with the focus boost), cached."""
        blob = self._digest_of(items)  # the ranking depends only on the contents and the focus
        cached = self._cache.fact(FactKind.RANKING, "", blob)
        if cached is not None:
            order: list[str] = json.loads(cached)
            return order
        focus = json.dumps(self._focus)
        ahead, self._ahead = self._ahead, None
        found = ahead[1] if ahead is not None and ahead[0] == blob else None
        self._cache.store.flush()  # what is new so far (the survey's facts), written while a worker ranks
        basis_json = json.dumps({"digest": blob, "blobs": {it.path: it.blob for it in items}}, separators=(",", ":"))
        if found is None:
            reused = self._same_symbols(items, focus)
            order = reused if reused is not None else self._rank(items)
        else:
            order = found if isinstance(found, list) else found.result()[0]
        self._cache.put_fact(FactKind.RANKING, "", blob, json.dumps(order, separators=(",", ":")))
        self._cache.put_fact(FactKind.RANKED_FROM, "", focus, basis_json)
        return order

    def _digest_of(self, items: list[Item]) -> str:
        """``_digest`` of these items, computed once for the list ``start`` and ``ascending`` are both given."""
        if self._digested is None or self._digested[0] is not items:
            self._digested = items, _digest(items, self._focus)
        return self._digested[1]

    def _same_symbols(self, items: list[Item], focus: str) -> list[str] | None:
        """The last ranking with this focus, when it is exactly this one's: the same files, and every file whose
        content changed since has the same symbols as then (the rank is a function of the paths, their symbols
        and the focus alone: an edit inside a function body leaves it as it was). None: rank afresh."""
        from v4agent.pack.rank.symbols import FileSymbols

        try:
            basis = json.loads(self._cache.fact(FactKind.RANKED_FROM, "", focus) or "null")
            then: dict[str, str] = basis["blobs"]
            order_text = self._cache.fact(FactKind.RANKING, "", str(basis["digest"]))
        except (ValueError, TypeError, KeyError):
            return None
        if order_text is None or len(then) != len(items):
            return None
        changed: list[tuple[Item, str]] = []
        for it in items:
            was = then.get(it.path)
            if was is None:
                return None  # another set of files: another graph
            if was != it.blob and it.lang:  # a file without a language has no symbols, whatever its text
                changed.append((it, was))
                if len(changed) > _REUSE_AT_MOST:
                    return None
        for it, was in changed:
            before = self._cache.fact(FactKind.SYMBOLS, it.path, was)
            if before is None or FileSymbols.from_json(before) != self._symbols_now(it):
                return None
        for path, (_found, edits) in self.surveyed.items():  # as _rank would: kept for the skeletons
            self.edits[path] = edits
        self.surveyed.clear()
        order: list[str] = json.loads(order_text)
        return order

    def _symbols_now(self, item: Item) -> FileSymbols:
        """One file's symbols: from the survey, the cache, or parsed here."""
        from v4agent.pack.rank.symbols import FileSymbols
        from v4agent.pack.work.pool import facts_of

        surveyed = self.surveyed.get(item.path)
        if surveyed is not None:
            return surveyed[0]
        cached = self._cache.fact(FactKind.SYMBOLS, item.path, item.blob)
        if cached is not None:
            return FileSymbols.from_json(cached)
        return self._took_facts(item, self._workers.pool.map(facts_of, [(item.path, self._reader.raw(item))])[0])

    def _symbols_at_hand(self, items: list[Item]) -> dict[str, FileSymbols] | None:
        """Every file's symbols when the survey and the cache hold them all (the surveyed files' skeleton edits
        kept, as ``_rank`` keeps them); None when some file would need a parse."""
        from v4agent.pack.rank.symbols import FileSymbols

        coded = [it for it in items if it.lang]
        self._cache.prefetch(FactKind.SYMBOLS, [it for it in coded if it.path not in self.surveyed])
        symbols = dict.fromkeys([it.path for it in items], FileSymbols())  # one empty record, shared
        for it in coded:
            surveyed = self.surveyed.get(it.path)
            cached = None if surveyed is not None else self._cache.fact(FactKind.SYMBOLS, it.path, it.blob)
            if surveyed is None and cached is None:
                return None
            symbols[it.path] = surveyed[0] if surveyed is not None else FileSymbols.from_json(cached or "")
        for it in coded:
            surveyed = self.surveyed.pop(it.path, None)
            if surveyed is not None:
                self.edits[it.path] = surveyed[1]
        return symbols

    def _rank(self, items: list[Item]) -> list[str]:
        from v4agent.pack.rank.pagerank import rank_files
        from v4agent.pack.rank.symbols import FileSymbols
        from v4agent.pack.work.pool import facts_of

        coded = [it for it in items if it.lang]
        self._cache.prefetch(FactKind.SYMBOLS, coded)
        symbols = dict.fromkeys([it.path for it in items], FileSymbols())  # one empty record, shared
        todo: list[Item] = []
        for it in coded:
            surveyed = self.surveyed.pop(it.path, None)
            if surveyed is not None:  # cached by the survey already
                symbols[it.path], self.edits[it.path] = surveyed
                continue
            cached = self._cache.fact(FactKind.SYMBOLS, it.path, it.blob)
            if cached is None:
                todo.append(it)
            else:
                symbols[it.path] = FileSymbols.from_json(cached)
        parsed = self._workers.pool.map(facts_of, [(it.path, self._reader.raw(it)) for it in todo])
        for it, facts in zip(todo, parsed, strict=True):
            symbols[it.path] = self._took_facts(it, facts)
        scores = rank_files(symbols, self._focus)
        return list(reversed(list(scores)))

    def _took_facts(self, item: Item, facts: CodeFacts) -> FileSymbols:
        """A parse's results for one file: its symbols cached, its skeleton edits kept for this build."""
        found, self.edits[item.path] = facts
        self._cache.put_fact(FactKind.SYMBOLS, item.path, item.blob, found.dumps())
        return found


def _digest(items: list[Item], focus: tuple[str, ...]) -> str:
    """What the ranking is a function of: every file's path and content, and the focus."""
    digest = hashlib.sha1(usedforsecurity=False)  # fed in one piece: the same digest as file by file
    by_path = sorted(items, key=_path_of)
    digest.update("".join([f"{it.path}\0{it.blob}\0" for it in by_path]).encode("utf-8", "surrogatepass"))
    digest.update(json.dumps(focus).encode())
    return digest.hexdigest()


def _ranked_inherited(digests: Sequence[str]) -> list[list[str]]:
    """Worker job: the ascending order of the ranking whose symbols this worker inherited at its fork."""
    from v4agent.pack.rank.pagerank import rank_files

    out = []
    for digest in digests:
        symbols, focus = _INHERITED[digest]
        out.append(list(reversed(list(rank_files(symbols, focus)))))
    return out


def _path_of(item: Item) -> str:
    return item.path
