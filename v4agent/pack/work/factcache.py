"""The packer's persistent per-file cache: one sqlite file under ``.v4agent/cache/``.

Keys name the content by its git blob SHA (computed from the bytes when git does not know it), so a warm pack
reads and tokenizes nothing it has seen. Two tables:
- ``counts``: token count of a rendered piece, keyed by (tokenizer, format, mode, path, blob);
- ``facts``:  per (path, blob) text facts of each ``FactKind``: the analysis (skip reason), secret findings,
  symbols JSON, skeleton; and the ranking, keyed by a digest of every file's blob and the focus.
Everything is loaded lazily and written in one transaction at ``flush``; a cache that cannot be opened or
written (read-only checkout, corrupt file) degrades to an in-memory one: packing never fails because of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import sqlite3
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

from v4agent.core.state import state_path

__all__ = ["CACHE_VERSION", "FactCache", "FactKind", "count_key", "fact_key"]

# Cached values are outputs of these modules: any change to their code (a new secret rule, a different skeleton)
# starts a fresh cache, so a stale finding can never hide a secret that the current rules would redact.
_PRODUCERS = (
    "v4agent.pack.render",
    "v4agent.pack.fit.skeleton",
    "v4agent.pack.work.codefacts",
    "v4agent.pack.rank.pyannotations",
    "v4agent.pack.rank.pybrackets",
    "v4agent.pack.rank.pycode",
    "v4agent.pack.rank.pyimports",
    "v4agent.pack.rank.pymatch",
    "v4agent.pack.rank.pystatements",
    "v4agent.pack.rank.pysymbols",
    "v4agent.pack.rank.symbols",
    "v4agent.pack.select.analyze",
    "v4agent.pack.select.classify",
    "v4agent.secrets.paths",
    "v4agent.secrets.redact",
    "v4agent.secrets.scan",
    "v4agent.secrets.values",
    "v4agent.core.pathtext",
)


def _producers_fingerprint() -> str:
    digest = hashlib.sha1()
    for name in _PRODUCERS:
        spec = importlib.util.find_spec(name)  # located, not imported (tree-sitter is heavy)
        if spec is not None and spec.origin:
            digest.update(Path(spec.origin).read_bytes())
    return digest.hexdigest()[:12]


CACHE_VERSION = "3-" + _producers_fingerprint()
_FILE = "pack-cache.sqlite3"
_BATCH = 500  # sqlite's bound-parameter limit is 999 on old builds


class FactKind(StrEnum):
    """What a ``facts`` row holds. The values are the stored keys' first field: changing one orphans every row of
    that kind, so a new kind takes a new letter."""

    ANALYSIS = "a"  # ``Analysis`` JSON: the skip reason and whether --include may override it
    SKELETON = "k"  # the skeleton's text as JSON (null: the file has none)
    RANKING = "r"  # the ranked paths, lowest first, as JSON; keyed by a digest, not a path
    RANKED_FROM = "b"  # the last ranking's inputs (its digest, each file's blob), keyed by the focus
    SCAN = "s"  # the secret scan's findings as JSON
    SYMBOLS = "y"  # ``FileSymbols`` JSON


def count_key(tokenizer: str, fmt: str, mode: str, path: str, blob: str) -> str:
    """The ``counts`` key of one rendered piece (``mode``: full, skeleton or text)."""
    return f"{tokenizer}\0{fmt}\0{mode}\0{path}\0{blob}"


def fact_key(kind: FactKind, path: str, blob: str) -> str:
    """The ``facts`` key of one kind of fact about one file's content."""
    # A StrEnum's text is its letter: the same bytes as a plain "a" (joined, not formatted: a cold pack at 100k
    # files builds a quarter million keys).
    return "\0".join((kind, path, blob))


class FactCache:
    """Token counts and per-file facts, keyed by content, loaded lazily and written once at ``flush``."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._counts: dict[str, int] | None = None
        self._facts: dict[str, str] = {}
        self._absent: set[str] = set()  # keys looked up and not stored: no second query per key
        self._new_counts: dict[str, int] = {}
        self._new_facts: dict[str, str] = {}
        if path is not None:
            self._db = self._connect(path)
        # No fact stored when opened (a cold cache): nothing to look up, so no key is built or queried.
        self._none_stored = self._db is None or not self._any_fact(self._db)

    @property
    def cold(self) -> bool:
        """Whether no fact was stored when it was opened (a first build: everything is counted)."""
        return self._none_stored

    @classmethod
    def open(cls, repo_root: Path) -> FactCache:
        """The repository's cache (in memory when ``.v4agent/cache`` cannot be created)."""
        try:
            return cls(state_path(repo_root, "cache", _FILE))
        except OSError:
            return cls(None)

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection | None:
        try:
            db = sqlite3.connect(path, timeout=10, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")  # a cache: a crash may lose the last write, never the repo
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = db.execute("SELECT value FROM meta WHERE key='version'").fetchone()
            if row is None or row[0] != CACHE_VERSION:
                db.execute("DROP TABLE IF EXISTS counts")
                db.execute("DROP TABLE IF EXISTS facts")
                db.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (CACHE_VERSION,))
            db.execute("CREATE TABLE IF NOT EXISTS counts (key TEXT PRIMARY KEY, tokens INTEGER) WITHOUT ROWID")
            db.execute("CREATE TABLE IF NOT EXISTS facts (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID")
            return db
        except sqlite3.Error:
            return None

    @staticmethod
    def _any_fact(db: sqlite3.Connection) -> bool:
        try:
            return db.execute("SELECT 1 FROM facts LIMIT 1").fetchone() is not None
        except sqlite3.Error:
            return True  # unknown: look up as usual

    # --- counts: small, loaded whole on first use ------------------------------------------------------

    def _all_counts(self) -> dict[str, int]:
        if self._counts is None:
            self._counts = {}
            if self._db is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._counts = dict(self._db.execute("SELECT key, tokens FROM counts").fetchall())
        return self._counts

    def count(self, key: str) -> int | None:
        """The stored token count, or None."""
        return self._all_counts().get(key)

    def put_count(self, key: str, tokens: int) -> None:
        """Store a token count (written at ``flush``)."""
        self._all_counts()[key] = tokens
        self._new_counts[key] = tokens

    # --- facts: larger, fetched in batches by key ------------------------------------------------------

    def prefetch(self, keys: Iterable[str]) -> None:
        """Load these facts in a few queries (one per file would cost a round trip each)."""
        if self._none_stored:
            return
        missing = [k for k in keys if k not in self._facts and k not in self._absent]
        if self._db is None or not missing:
            return
        with contextlib.suppress(sqlite3.Error):
            for i in range(0, len(missing), _BATCH):
                part = missing[i:i + _BATCH]
                marks = ",".join("?" * len(part))
                self._facts.update(self._db.execute(f"SELECT key, value FROM facts WHERE key IN ({marks})", part))
                self._absent.update(k for k in part if k not in self._facts)

    def fact(self, key: str) -> str | None:
        """The stored fact, or None."""
        if key not in self._facts and not self._none_stored:
            self.prefetch([key])
        return self._facts.get(key)

    def put_fact(self, key: str, value: str) -> None:
        """Store a fact (written at ``flush``)."""
        self._facts[key] = value
        self._new_facts[key] = value

    # --- persistence -----------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write what is new in one transaction (skipped silently when the cache file is not writable)."""
        if self._db is None or not (self._new_counts or self._new_facts):
            return
        try:
            self._db.execute("BEGIN")
            # In key order: the B-tree inserts then append rather than split pages all over.
            self._db.executemany("INSERT OR REPLACE INTO counts VALUES (?, ?)", sorted(self._new_counts.items()))
            self._db.executemany("INSERT OR REPLACE INTO facts VALUES (?, ?)", sorted(self._new_facts.items()))
            self._db.execute("COMMIT")
        except sqlite3.Error:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
        self._new_counts.clear()
        self._new_facts.clear()

    def close(self) -> None:
        """Flush, then close the database."""
        self.flush()
        if self._db is not None:
            self._db.close()
            self._db = None
