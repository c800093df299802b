"""``Snapshot``: one rendered pack of a repository, plus the delta of files changed since it was rendered."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from v4agent.pack.analyze import ReadFailure, analyze, emitted_text, read_bytes
from v4agent.pack.builder import Built, build_pack
from v4agent.pack.classify import matches_globs, path_skip_reason
from v4agent.pack.discover import git_blob_sha, list_untracked
from v4agent.pack.options import PackOptions
from v4agent.pack.records import DeltaBlock, PackedFile, SkippedFile
from v4agent.pack.render import DeltaChange, render_delta
from v4agent.pack.symbols import language_for

__all__ = ["DeltaBlock", "PackedFile", "SkippedFile", "Snapshot"]


@dataclass(frozen=True)
class _Seen:
    size: int
    mtime_ns: int
    blob: str | None  # None: never read (skipped by name or size) or a link
    packed: bool


@dataclass
class Snapshot:
    root: Path
    options: PackOptions
    text: str
    token_count: int
    files: list[PackedFile]
    skipped: list[SkippedFile]
    is_git: bool = False
    _seen: dict[str, _Seen] = field(default_factory=dict, repr=False)
    _dirs: dict[str, tuple[int, frozenset[str]]] = field(default_factory=dict, repr=False)
    _stat_order: list[tuple[str, str, _Seen]] = field(default_factory=list, repr=False)  # path, absolute, seen

    @classmethod
    def build(cls, repo_root: Path, options: PackOptions, *, progress: bool = False) -> Snapshot:
        """Render the repository at ``repo_root``; raises PackError (clear message) for bad input."""
        options.validate()
        built: Built = build_pack(Path(repo_root), options, progress=progress)
        snap = cls(built.root, options, built.text, built.token_count, built.files, built.skipped, built.is_git)
        packed = {f.path for f in built.files}
        snap._seen = {e.path: _Seen(e.size, e.mtime_ns, built.blobs.get(e.path), e.path in packed)
                      for e in built.entries}
        snap._dirs = _dir_listing(built.root, snap._seen)
        root = str(built.root)
        snap._stat_order = [(p, os.path.join(root, p), seen) for p, seen in snap._seen.items()]
        return snap

    def rebase(self) -> Snapshot:
        """A fresh render of the current state (later deltas are against it)."""
        return Snapshot.build(self.root, self.options)

    # --- delta ---------------------------------------------------------------------------------------------

    def delta(self) -> DeltaBlock:
        """Files added, modified or deleted since this snapshot was rendered, with their current content."""
        changes: list[DeltaChange] = []
        candidates: list[str] = []
        lstat = os.lstat
        for path, full, seen in self._stat_order:  # absolute paths joined once, at build: this loop is the cost
            try:
                info = lstat(full)
            except OSError:
                if seen.packed:
                    changes.append(DeltaChange(path, "deleted"))
                continue
            if info.st_size != seen.size or info.st_mtime_ns != seen.mtime_ns:
                candidates.append(path)
        candidates += self._new_paths()
        for path in candidates:
            change = self._inspect(path)
            if change is not None:
                changes.append(change)
        if not changes:
            return DeltaBlock("", 0, ())
        changes.sort(key=lambda c: c.path)
        text = render_delta(changes, self.options.fmt)
        from v4agent.tokenizer import get_tokenizer

        return DeltaBlock(text, get_tokenizer(self.options.tokenizer).count(text), tuple(c.path for c in changes))

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

    def _new_paths(self) -> list[str]:
        """Paths that appeared since the render: new names in directories whose mtime changed (ignore rules
        applied); a directory listing per changed directory, git only when a new name shows up."""
        fresh: list[str] = []
        root = str(self.root)
        for rel, (mtime, names) in self._dirs.items():
            directory = os.path.join(root, rel) if rel else root
            try:
                if os.stat(directory).st_mtime_ns == mtime:
                    continue
                now = os.listdir(directory)
            except OSError:
                continue
            fresh += [f"{rel}/{n}" if rel else n for n in now if n not in names]
        if not fresh:
            return []
        return [p for p in list_untracked(self.root, self.is_git, fresh) if p not in self._seen]


def _dir_listing(root: Path, seen: dict[str, _Seen]) -> dict[str, tuple[int, frozenset[str]]]:
    dirs = {""}
    for path in seen:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    out: dict[str, tuple[int, frozenset[str]]] = {}
    base = str(root)
    for rel in sorted(dirs):
        directory = os.path.join(base, rel) if rel else base
        try:
            out[rel] = (os.stat(directory).st_mtime_ns, frozenset(os.listdir(directory)))
        except OSError:
            continue
    return out
