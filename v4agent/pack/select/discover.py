"""Which files make up the repository: git's view (tracked + untracked-not-ignored) or a walk with .gitignore rules.

Only metadata here (paths, blob SHAs, lstat results, link targets, last-change order); no file is read. Symlinks
are never followed: a link whose target resolves inside the repository becomes a link entry, any other is
skipped with a reason.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from v4agent.core.git import GitError, popen_git, run_git
from v4agent.core.state import STATE_DIR_NAME
from v4agent.pack.options import PackError

__all__ = ["Discovery", "Entry", "check_root", "discover", "git_blob_sha", "list_untracked"]

_NEVER_WALK = frozenset({".git", STATE_DIR_NAME})


@dataclass(frozen=True)
class Entry:
    """One file or symlink found in the repository, with what git already knows of it."""

    path: str  # relative to the pack root, "/"-separated
    kind: str  # "file" | "link"
    size: int = 0
    mtime_ns: int = 0
    blob: str | None = None  # git blob SHA of the working-tree content, when git already knows it
    uncommitted: bool = False  # differs from HEAD (staged, modified or untracked)
    link_target: str | None = None  # for links: the target as a path relative to the pack root


@dataclass
class Discovery:
    """What discovery found: entries to consider, paths skipped (with reasons), ages in commits (git)."""

    root: Path
    is_git: bool
    entries: list[Entry] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    age: dict[str, int] = field(default_factory=dict)  # commits since the path last changed (git only)


def git_blob_sha(data: bytes) -> str:
    """The SHA git gives these bytes as a blob: the cache key of a file's content."""
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _git(root: Path, *args: str) -> bytes:
    try:
        return run_git(root, *args)
    except GitError as exc:  # packing reports every failure as PackError
        raise PackError(f"git {args[0]} failed in {root}: {exc.stderr.strip() or exc}") from None


def _is_git_worktree(root: Path) -> bool:
    try:
        out = run_git(root, "rev-parse", "--is-inside-work-tree", ok=None)
    except GitError:  # no git binary: walk the directory instead
        return False
    return out.strip() == b"true"


def check_root(root: Path) -> Path:
    """The resolved directory to pack; PackError for a path that does not exist or is not a directory."""
    root = Path(root)
    if not root.exists():
        raise PackError(f"no such directory: {root}")
    if not root.is_dir():
        raise PackError(f"not a directory: {root} (pack a repository or a folder, not a single file)")
    try:
        with os.scandir(root) as listing:
            next(listing, None)
    except OSError as exc:
        raise PackError(f"cannot read the directory {root}: {exc.strerror or exc}") from None
    return root.resolve()


def discover(root: Path, *, with_history: bool = True,
             history_needed: Callable[[Discovery], bool] | None = None) -> Discovery:
    """List the files under ``root`` (a directory); raises PackError for a path that is not a directory.
    ``history_needed``, asked once the files are listed: False leaves ``age`` empty (the caller has what the
    history would order already)."""
    root = check_root(root)
    if _is_git_worktree(root):
        history = _start_history(root) if with_history else None  # git walks the log meanwhile
        try:
            found = _discover_git(root)
            if history is not None and (history_needed is None or history_needed(found)):
                found.age = _read_history(history, {e.path for e in found.entries})
        finally:
            if history is not None:
                history.kill()
                history.wait()
                if history.stdout is not None:
                    history.stdout.close()
        return found
    return _discover_walk(root)


# --- git -----------------------------------------------------------------------------------------------


def _discover_git(root: Path) -> Discovery:
    found = Discovery(root, True)
    staged: dict[str, tuple[str, str]] = {}  # path -> (mode, sha)
    for record in _git(root, "ls-files", "-z", "-s").split(b"\0"):
        if not record:
            continue
        meta, _, name = record.partition(b"\t")
        mode, sha, _stage = meta.decode().split(" ")
        staged[name.decode("utf-8", "surrogateescape")] = (mode, sha)
    changed: dict[str, bool] = {}  # path -> True when the working tree differs from the index
    prefix = _git(root, "rev-parse", "--show-prefix").decode("utf-8", "surrogateescape").strip()
    # The indexed files are stat'ed while git status walks the working tree (on the other core): one C-level
    # map of lstat, the entries made once git has said which files differ (one object per file, not two).
    with popen_git(root, "status", "-z", "--porcelain", "--untracked-files=all", "--no-renames", "--", ".") as proc:
        indexed = [path for path, (mode, _) in staged.items() if mode != "160000"]
        infos = dict(zip(indexed, _lstat_all(str(root), indexed), strict=True))
        status, error = proc.communicate()
    if proc.returncode != 0:
        raise PackError(f"git status failed in {root}: {error.decode('utf-8', 'replace').strip()}")
    for record in status.split(b"\0"):
        if len(record) < 4:
            continue
        xy, raw_path = record[:2].decode(), record[3:].decode("utf-8", "surrogateescape")
        path = raw_path[len(prefix):] if prefix and raw_path.startswith(prefix) else raw_path
        changed[path] = xy == "??" or xy[1] != " "
    for path in sorted(set(staged) | set(changed)):
        mode, sha = staged.get(path, ("", ""))
        if mode == "160000":
            found.skipped.append((path, "git submodule (not packed)"))
            continue
        dirty = changed.get(path)
        blob = sha if (sha and not dirty) else None  # for a file: what git knows of its content
        info = infos.get(path)
        if info is not None:
            entry: Entry | str | None = _entry_of(root, path, info, blob, dirty is not None)
        elif isinstance(entry := _stat_entry(root, path), Entry):  # untracked, or its lstat failed above
            entry = _with(entry, blob=blob if entry.kind == "file" else None, uncommitted=dirty is not None)
        if not isinstance(entry, Entry):
            if entry is not None:
                found.skipped.append((path, entry))
            continue
        found.entries.append(entry)
    return found


def _lstat_all(root: str, paths: list[str]) -> list[os.stat_result | None]:
    """Each path's lstat (None where it fails: ``_stat_entry`` then says why); one C-level map when none fails."""
    full = [f"{root}/{path}" for path in paths]
    try:
        return list(map(os.lstat, full))
    except OSError:
        out: list[os.stat_result | None] = []
        for one in full:
            try:
                out.append(os.lstat(one))
            except OSError:
                out.append(None)
        return out


def _with(entry: Entry, *, blob: str | None, uncommitted: bool) -> Entry:
    return Entry(entry.path, entry.kind, entry.size, entry.mtime_ns, blob, uncommitted, entry.link_target)


def _start_history(root: Path) -> subprocess.Popen[bytes]:
    """One `git log --name-only` pass, started now and read by ``_read_history``."""
    return popen_git(root, "log", "--format=%x01", "--name-only", "-z", "--no-renames", "--relative", "HEAD",
                     "--", ".", stderr=subprocess.DEVNULL)


def _read_history(proc: subprocess.Popen[bytes], paths: set[str]) -> dict[str, int]:
    """Commits since each path last changed; stops reading once every path is seen (the caller ends git)."""
    age: dict[str, int] = {}
    want = len(paths)
    assert proc.stdout is not None
    commit = -1
    pending = b""
    while want and (chunk := proc.stdout.read(1 << 16)):
        pending += chunk
        *records, pending = pending.split(b"\0")
        for record in records:
            commit = _take(record, commit, paths, age)
        if len(age) >= want:
            return age
    if pending:
        _take(pending, commit, paths, age)
    return age


def _take(record: bytes, commit: int, paths: set[str], age: dict[str, int]) -> int:
    # A commit's record looks like "\x01\n" + first name; later names follow NUL-separated.
    while record[:1] in (b"\x01", b"\n"):
        if record[:1] == b"\x01":
            commit += 1
        record = record[1:]
    if record:
        path = record.decode("utf-8", "surrogateescape")
        if path in paths and path not in age:
            age[path] = commit
    return commit


# --- plain directory ------------------------------------------------------------------------------------


def _discover_walk(root: Path) -> Discovery:
    found = Discovery(root, False)
    for path in _walk(root, "", []):
        entry = _entry(root, path, found.skipped)
        if entry is not None:
            found.entries.append(_with(entry, blob=None, uncommitted=False))
    found.entries.sort(key=lambda e: e.path)
    return found


def _walk(root: Path, rel_dir: str, specs: list[tuple[str, pathspec.GitIgnoreSpec]]) -> Iterator[str]:
    directory = root / rel_dir if rel_dir else root
    ignore_file = directory / ".gitignore"
    if ignore_file.is_file() and not ignore_file.is_symlink():
        try:
            lines = ignore_file.read_text(encoding="utf-8", errors="replace").splitlines()
            specs = [*specs, (rel_dir, pathspec.GitIgnoreSpec.from_lines(lines))]
        except OSError:
            pass
    try:
        children = sorted(os.scandir(directory), key=lambda d: d.name)
    except OSError:
        return
    for child in children:
        rel = f"{rel_dir}/{child.name}" if rel_dir else child.name
        if child.name in _NEVER_WALK and not rel_dir:
            continue
        try:
            is_dir = child.is_dir(follow_symlinks=False)
        except OSError:
            continue
        if _ignored(rel, is_dir, specs):
            continue
        if is_dir:
            yield from _walk(root, rel, specs)
        else:
            yield rel


def _ignored(rel: str, is_dir: bool, specs: list[tuple[str, pathspec.GitIgnoreSpec]]) -> bool:
    for base, spec in reversed(specs):  # the deepest .gitignore decides first
        sub = rel[len(base) + 1:] if base else rel
        result = spec.check_file(sub + "/" if is_dir else sub)
        if result.include is not None:
            return bool(result.include)
    return False


# --- one path -------------------------------------------------------------------------------------------


def _entry(root: Path, path: str, skipped: list[tuple[str, str]]) -> Entry | None:
    entry = _stat_entry(root, path)
    if isinstance(entry, str):
        skipped.append((path, entry))
        return None
    return entry


def _stat_entry(root: Path, path: str) -> Entry | str | None:
    """The path's entry, or the reason it is skipped, or None when it no longer exists."""
    try:
        info = os.lstat(os.path.join(root, path))  # not pathlib: this runs once per file on every pack
    except FileNotFoundError:
        return None  # deleted in the working tree: not part of the current state
    except OSError as exc:
        return f"cannot stat: {exc.strerror or exc}"
    return _entry_of(root, path, info)


def _entry_of(root: Path, path: str, info: os.stat_result, blob: str | None = None,
              uncommitted: bool = False) -> Entry | str:
    """The entry of a path with this lstat result (``blob``: a file's known content), or why it is skipped."""
    if stat.S_ISREG(info.st_mode):
        return Entry(path, "file", info.st_size, info.st_mtime_ns, blob, uncommitted)
    if stat.S_ISLNK(info.st_mode):
        target = _link_target(root, root / path)
        if target is None:
            return "symlink pointing outside the repository (not followed)"
        return Entry(path, "link", info.st_size, info.st_mtime_ns, None, uncommitted, target)
    return "not a regular file"


def _link_target(root: Path, link: Path) -> str | None:
    """The link's target relative to the root, or None when it resolves outside (or loops)."""
    try:
        resolved = link.resolve(strict=False)
    except (OSError, RuntimeError):
        return None
    try:
        rel = resolved.relative_to(root)
    except ValueError:
        return None
    return rel.as_posix() or "."


def list_untracked(root: Path, is_git: bool, candidates: list[str]) -> list[str]:
    """Of these new paths (files or directories), the files a fresh discovery would list, sorted."""
    if not candidates:
        return []
    if is_git:
        specs = [":(literal)" + c for c in candidates]
        out = run_git(root, "ls-files", "-z", "-c", "-o", "--exclude-standard", "--", *specs, ok=None)
        return sorted({p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p})
    wanted = tuple(candidates)
    return [e.path for e in _discover_walk(root).entries
            if e.path in wanted or e.path.startswith(tuple(c + "/" for c in wanted))]
