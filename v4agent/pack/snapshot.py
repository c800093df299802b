"""``Snapshot``: one rendered pack of a repository, plus the delta of files changed since it was rendered."""

from __future__ import annotations

import operator
import os
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, TypeVar

from v4agent.pack.builder import Built, build_pack
from v4agent.pack.options import PackOptions
from v4agent.pack.rank.symbols import language_for
from v4agent.pack.records import DeltaBlock, PackedFile, SkippedFile
from v4agent.pack.render import DeltaChange, render_delta
from v4agent.pack.select.analyze import ReadFailure, analyze, emitted_text, read_bytes
from v4agent.pack.select.classify import matches_globs, path_skip_reason
from v4agent.pack.select.discover import git_blob_sha, list_untracked
from v4agent.pack.watch import DirWatch
from v4agent.secrets.scan import prepare_scanner
from v4agent.tokens.tokenizer import Tokenizer, preload_tokenizer

__all__ = ["DeltaBlock", "PackedFile", "SkippedFile", "Snapshot"]

T = TypeVar("T")


class _Seen(NamedTuple):  # one per file: a tuple builds in C (a frozen dataclass took ~1 s at 100k files)
    size: int
    mtime_ns: int
    blob: str | None  # None: never read (skipped by name or size) or a link
    packed: bool


@dataclass
class Snapshot:
    """A rendered pack and what it takes to tell, later, which files changed since (``delta``)."""

    root: Path
    options: PackOptions
    text: str
    token_count: int
    files: list[PackedFile]
    skipped: list[SkippedFile]
    is_git: bool = False
    _seen: dict[str, _Seen] = field(default_factory=dict, repr=False)
    _dirs: dict[str, tuple[int, frozenset[str]]] = field(default_factory=dict, repr=False)
    _stat_order: list[tuple[str, _Seen]] = field(default_factory=list, repr=False)
    _stat_paths: list[str] = field(default_factory=list, repr=False)  # absolute, in _stat_order's order
    _stat_sigs: list[tuple[int, int]] = field(default_factory=list, repr=False)  # (mtime_ns, size) at build
    _dir_paths: list[tuple[str, str, int]] = field(default_factory=list, repr=False)  # rel, absolute, mtime
    _dir_abs: list[str] = field(default_factory=list, repr=False)
    _dir_sigs: list[int] = field(default_factory=list, repr=False)
    _tracked: bool = field(default=False, repr=False)
    _watch: DirWatch | None = field(default=None, repr=False)  # inotify on the directories (Linux)
    _dirty: set[str] = field(default_factory=set, repr=False)  # changed between the render's reads and the watch

    @classmethod
    def build(cls, repo_root: Path, options: PackOptions, *, progress: bool = False,
              track_changes: bool = True, sink: Callable[[str], object] | None = None) -> Snapshot:
        """Render the repository at ``repo_root``; raises PackError (clear message) for bad input.
        ``track_changes=False`` skips recording what ``delta`` compares against (a one-shot pack). A ``sink``
        (one-shot packs only) gets the text piece by piece and ``text`` stays empty (see ``build_pack``)."""
        options.validate()
        if sink is not None and track_changes:
            raise ValueError("a streamed pack is a one-shot pack: pass track_changes=False")
        built: Built = build_pack(Path(repo_root), options, progress=progress, sink=sink)
        snap = cls(built.root, options, built.text, built.token_count, built.files, built.skipped, built.is_git)
        if not track_changes:
            return snap
        snap._tracked = True
        packed = {f.path for f in built.files}
        snap._seen = {e.path: _Seen(e.size, e.mtime_ns, built.blobs.get(e.path), e.path in packed)
                      for e in built.entries}
        snap._dirs = _dir_listing(built.root, snap._seen)
        root = str(built.root)
        # Absolute paths joined once, here: delta's cost is one lstat per known file and directory.
        snap._stat_order = list(snap._seen.items())
        snap._stat_paths = [f"{root}/{p}" for p in snap._seen]
        snap._stat_sigs = [(seen.mtime_ns, seen.size) for seen in snap._seen.values()]
        snap._dir_paths = [(rel, os.path.join(root, rel) if rel else root, mtime)
                           for rel, (mtime, _names) in snap._dirs.items()]
        snap._dir_abs = [d for _, d, _ in snap._dir_paths]
        snap._dir_sigs = [m for _, _, m in snap._dir_paths]
        snap._watch = DirWatch.start([(rel, full) for rel, full, _ in snap._dir_paths])
        if snap._watch is not None:
            weakref.finalize(snap, snap._watch.close)
            # What changed while the render read the files, before the watch began: checked by every delta.
            snap._dirty = {path for (path, _), _ in _changed(snap._stat_order, snap._stat_paths, snap._stat_sigs,
                                                             _FILE_SIG)}
            snap._dirty.update(snap._fresh_names())
        # A warm build loads neither the tokenizer nor the secret scanner, and the first delta waits on both:
        # they load on a thread while the caller goes on (the agent's first request is in flight then). Started
        # last: the Rust loader holds the GIL, which would slow the stat pass and the watch set-up above.
        preload_tokenizer(options.tokenizer, prepare_scanner)
        return snap

    def rebase(self) -> Snapshot:
        """A fresh render of the current state (later deltas are against it)."""
        return Snapshot.build(self.root, self.options)

    # --- delta ---------------------------------------------------------------------------------------------

    def delta(self) -> DeltaBlock:
        """Files added, modified or deleted since this snapshot was rendered, with their current content."""
        from v4agent.tokens.tokenizer import get_tokenizer

        if not self._tracked:
            raise ValueError("this snapshot was built with track_changes=False: it has no delta")
        touched = self._touched()
        if touched is None:  # every file's lstat against the render's
            known = [path for (path, _), _ in _changed(self._stat_order, self._stat_paths, self._stat_sigs,
                                                       _FILE_SIG)]
        else:
            known = sorted(path for path in touched if path in self._seen)
        changes = [change for change in map(self._known_change, known) if change is not None]
        tok = get_tokenizer(self.options.tokenizer)
        with ThreadPoolExecutor(1) as counter:
            # Count the edits found so far while the directories are checked for new files (both cores: the
            # Rust encoder and lstat release the GIL); recount only when a new file turns up.
            text = render_delta(sorted(changes, key=_by_path), self.options.fmt)
            counted = counter.submit(_count, tok, text)
            added = [c for c in map(self._inspect, self._new_paths(touched)) if c is not None]
            if added:
                changes += added
                text = render_delta(sorted(changes, key=_by_path), self.options.fmt)
                counted = counter.submit(_count, tok, text)
            tokens = counted.result()
        if not changes:
            return DeltaBlock("", 0, ())
        return DeltaBlock(text, tokens, tuple(sorted(c.path for c in changes)))

    def close(self) -> None:
        """Stop watching the repository's directories (also done when the snapshot is collected)."""
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    def _touched(self) -> set[str] | None:
        """The paths that may differ from the render (inotify's, plus what changed before it watched); None: no
        watch, or it lost track, so every file and directory is checked."""
        if self._watch is None:
            return None
        touched = self._watch.touched()
        if touched is None:
            self._watch = None
            return None
        return touched | self._dirty

    def _known_change(self, path: str) -> DeltaChange | None:
        """The change of a file the render saw (None: the same content, or still not packed)."""
        if not os.path.lexists(os.path.join(self.root, path)):
            return DeltaChange(path, "deleted") if self._seen[path].packed else None
        return self._inspect(path)

    def _inspect(self, path: str) -> DeltaChange | None:
        """The change for one path whose stat differs (None when its content is in fact the same)."""
        seen = self._seen.get(path)
        status = "added" if seen is None else "modified"
        full = self.root / path
        if full.is_symlink():  # links are listed in the tree only; a file that became one is no longer shown
            if seen is None or not seen.packed or seen.blob is None:
                return None
            return DeltaChange(path, "skipped", note="now a symlink")
        reason = path_skip_reason(path, self.options.include, self.options.exclude)
        text: str | None = None
        if reason is None:
            try:
                data = read_bytes(full, self.options.max_file_bytes)
            except ReadFailure as exc:
                reason = str(exc)
            else:
                if seen is not None and seen.blob == git_blob_sha(data):
                    return None
                analysis, raw = analyze(path, data, scan_skipped=matches_globs(path, self.options.include))
                reason = analysis.skip
                if reason is not None and analysis.soft and matches_globs(path, self.options.include):
                    reason = None
                if reason is None and raw is not None:
                    if analysis.findings and self.options.secrets == "skip":
                        reason = "contains " + analysis.secret_summary()
                    else:
                        text = emitted_text(raw, analysis)
        if text is None:
            if seen is None or not seen.packed:
                return None  # was not in the pack and still is not
            return DeltaChange(path, "skipped", note=reason or "skipped")
        return DeltaChange(path, status, text, lang=language_for(path) or "")

    def _new_paths(self, touched: set[str] | None) -> list[str]:
        """Files that appeared since the render (ignore rules applied): of the touched paths the render did not
        see, or (no watch) the new names in directories whose mtime changed; git only when there are some."""
        if touched is None:
            fresh = self._fresh_names()
        else:
            fresh = sorted(p for p in touched if p not in self._seen and os.path.lexists(os.path.join(self.root, p)))
        if not fresh:
            return []
        return [p for p in list_untracked(self.root, self.is_git, fresh) if p not in self._seen]

    def _fresh_names(self) -> list[str]:
        """New names in the directories whose mtime changed since the render (one listing per such directory)."""
        fresh: list[str] = []
        for (rel, directory, _mtime), now in _changed(self._dir_paths, self._dir_abs, self._dir_sigs, _DIR_SIG):
            if now is None:
                continue
            try:
                now = os.listdir(directory)
            except OSError:
                continue
            names = self._dirs[rel][1]
            fresh += [f"{rel}/{n}" if rel else n for n in now if n not in names]
        return fresh


def _by_path(change: DeltaChange) -> str:
    return change.path


def _count(tok: Tokenizer, text: str) -> int:
    return tok.count_many([text])[0] if text else 0


_FILE_SIG = operator.attrgetter("st_mtime_ns", "st_size")
_DIR_SIG = operator.attrgetter("st_mtime_ns")


def _changed(rows: Sequence[T], paths: list[str], sigs: Sequence[object],
             sig: Callable[[os.stat_result], object]) -> list[tuple[T, object | None]]:
    """The rows whose path's lstat signature differs from ``sigs`` (the new one; None: gone or unreadable).

    With no errors and no change this is two C-level maps and a list comparison: the cost is the syscalls."""
    try:
        now: list[object | None] = list(map(sig, map(os.lstat, paths)))
    except OSError:
        now = []
        for path in paths:
            try:
                now.append(sig(os.lstat(path)))
            except OSError:
                now.append(None)
    if now == sigs:
        return []
    return [(row, new) for row, new, old in zip(rows, now, sigs, strict=True) if new != old]


def _dir_listing(root: Path, seen: dict[str, _Seen]) -> dict[str, tuple[int, frozenset[str]]]:
    dirs = {""}
    for path in seen:  # each file's directory and those above it, up to one already known
        directory = path.rpartition("/")[0]
        while directory not in dirs:
            dirs.add(directory)
            directory = directory.rpartition("/")[0]
    out: dict[str, tuple[int, frozenset[str]]] = {}
    base = str(root)
    for rel in sorted(dirs):
        directory = os.path.join(base, rel) if rel else base
        try:
            out[rel] = (os.stat(directory).st_mtime_ns, frozenset(os.listdir(directory)))
        except OSError:
            continue
    return out
