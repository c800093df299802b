"""One build's view of the fact cache: facts looked up by kind and content, counts keyed for its tokenizer and
format."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from v4agent.pack.work.factcache import FactCache, FactKind, count_key, fact_key

__all__ = ["BuildCache", "Content"]


class Content(Protocol):
    """A file's content as the cache names it: its path and git blob SHA (None or empty: not known yet)."""

    @property
    def path(self) -> str:
        """The file's path, relative to the pack root."""
        ...

    @property
    def blob(self) -> str | None:
        """The git blob SHA of the content; None or empty when not known yet."""
        ...


class BuildCache:
    """The cache for one build; ``store`` is the repository's ``FactCache`` underneath."""

    def __init__(self, store: FactCache, tokenizer: str, fmt: str) -> None:
        self.store = store
        self.tokenizer, self.fmt = tokenizer, fmt

    def prefetch(self, kind: FactKind, files: Iterable[Content]) -> None:
        """Load this kind of fact for these files (those with a known blob) in a few queries."""
        self.store.prefetch(fact_key(kind, f.path, f.blob) for f in files if f.blob)

    def fact(self, kind: FactKind, path: str, blob: str) -> str | None:
        """The stored fact, or None."""
        return self.store.fact(fact_key(kind, path, blob))

    def put_fact(self, kind: FactKind, path: str, blob: str, value: str) -> None:
        """Store a fact about this content."""
        self.store.put_fact(fact_key(kind, path, blob), value)

    def count_key(self, mode: str, path: str, blob: str) -> str:
        """The key of one piece's token count (``mode``: full, skeleton or text) for this build's tokenizer and
        format: computed once by a caller that looks the count up and then stores it."""
        return count_key(self.tokenizer, self.fmt, mode, path, blob)

    def count(self, key: str) -> int | None:
        """The stored token count, or None."""
        return self.store.count(key)

    def put_count(self, key: str, tokens: int) -> None:
        """Store a token count."""
        self.store.put_count(key, tokens)
