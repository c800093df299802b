"""Which files make up the repository: git's view (tracked + untracked-not-ignored) or a walk with .gitignore rules.

Only metadata here (paths, blob SHAs, lstat results, link targets, last-change order); no file is read. Symlinks
are never followed: a link whose target resolves inside the repository becomes a link entry, any other is
skipped with a reason.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from v4agent.pack.options import PackError
from v4agent.state import STATE_DIR_NAME

__all__ = ["Discovery", "Entry", "check_root", "discover", "git_blob_sha", "list_untracked"]

_NEVER_WALK = frozenset({".git", STATE_DIR_NAME})


@dataclass(frozen=True)
class Entry:
    path: str  # relative to the pack root, "/"-separated
    kind: str  # "file" | "link"
    size: int = 0
    mtime_ns: int = 0
    blob: str | None = None  # git blob SHA of the working-tree content, when git already knows it
    uncommitted: bool = False  # differs from HEAD (staged, modified or untracked)
    link_target: str | None = None  # for links: the target as a path relative to the pack root


@dataclass
class Discovery:
    root: Path
    is_git: bool
    entries: list[Entry] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    age: dict[str, int] = field(default_factory=dict)  # commits since the path last changed (git only)


def git_blob_sha(data: bytes) -> str:
    """The SHA git gives these bytes as a blob: the cache key of a file's content."""
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(["git", "-c", "core.quotepath=off", "-C", str(root), *args], capture_output=True)
    if check and proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip()
        raise PackError(f"git {args[0]} failed in {root}: {message}")
    return proc


def _is_git_worktree(root: Path) -> bool:
    try:
        proc = _git(root, "rev-parse", "--is-inside-work-tree", check=False)
    except FileNotFoundError:  # no git binary: walk the directory instead
        return False
    return proc.returncode == 0 and proc.stdout.strip() == b"true"


def check_root(root: Path) -> Path:
    """The resolved directory to pack; PackError for a path that does not exist or is not a directory."""
    root = Path(root)
    if not root.exists():
        raise PackError(f"no such directory: {root}")
    if not root.is_dir():
        raise PackError(f"not a directory: {root} (pack a repository or a folder, not a single file)")
    try:
        next(os.scandir(root), None)
    except OSError as exc:
        raise PackError(f"cannot read the directory {root}: {exc.strerror or exc}") from None
    return root.resolve()


def discover(root: Path, *, with_history: bool = True) -> Discovery:
    """List the files under ``root`` (a directory); raises PackError for a path that is not a directory."""
    root = check_root(root)
    if _is_git_worktree(root):
        found = _discover_git(root)
        if with_history:
            found.age = _history(root, {e.path for e in found.entries})
        return found
    return _discover_walk(root)


# --- git -----------------------------------------------------------------------------------------------


def _discover_git(root: Path) -> Discovery:
    found = Discovery(root, True)
    staged: dict[str, tuple[str, str]] = {}  # path -> (mode, sha)
    for record in _git(root, "ls-files", "-z", "-s").stdout.split(b"\0"):
        if not record:
            continue
        meta, _, name = record.partition(b"\t")
        mode, sha, _stage = meta.decode().split(" ")
        staged[name.decode("utf-8", "surrogateescape")] = (mode, sha)
    changed: dict[str, bool] = {}  # path -> True when the working tree differs from the index
    prefix = _git(root, "rev-parse", "--show-prefix").stdout.decode("utf-8", "surrogateescape").strip()
    status = _git(root, "status", "-z", "--porcelain", "--untracked-files=all", "--no-renames", "--", ".").stdout
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
        entry = _entry(root, path, found.skipped)
        if entry is None:
            continue
        dirty = changed.get(path)
        blob = sha if (sha and not dirty and entry.kind == "file") else None
        found.entries.append(_with(entry, blob=blob, uncommitted=dirty is not None))
    return found


def _with(entry: Entry, *, blob: str | None, uncommitted: bool) -> Entry:
    return Entry(entry.path, entry.kind, entry.size, entry.mtime_ns, blob, uncommitted, entry.link_target)


def _history(root: Path, paths: set[str]) -> dict[str, int]:
    """One `git log --name-only` pass: commits since each path last changed; stops once every path is seen."""
    age: dict[str, int] = {}
    want = len(paths)
    if want == 0:
        return age
    cmd = ["git", "-c", "core.quotepath=off", "-C", str(root), "log", "--format=%x01", "--name-only", "-z",
           "--no-renames", "--relative", "HEAD", "--", "."]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        commit = -1
        pending = b""
        for chunk in iter(lambda: proc.stdout.read(1 << 16), b""):  # type: ignore[union-attr]
            pending += chunk
            *records, pending = pending.split(b"\0")
            for record in records:
                commit = _take(record, commit, paths, age)
            if len(age) >= want:
                proc.kill()
                break
        else:
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
    try:
        info = os.lstat(os.path.join(root, path))  # not pathlib: this runs once per file on every pack
    except FileNotFoundError:
        return None  # deleted in the working tree: not part of the current state
    except OSError as exc:
        skipped.append((path, f"cannot stat: {exc.strerror or exc}"))
        return None
    if stat.S_ISLNK(info.st_mode):
        target = _link_target(root, root / path)
        if target is None:
            skipped.append((path, "symlink pointing outside the repository (not followed)"))
            return None
        return Entry(path, "link", info.st_size, info.st_mtime_ns, link_target=target)
    if not stat.S_ISREG(info.st_mode):
        skipped.append((path, "not a regular file"))
        return None
    return Entry(path, "file", info.st_size, info.st_mtime_ns)


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
        out = _git(root, "ls-files", "-z", "-c", "-o", "--exclude-standard", "--", *specs, check=False).stdout
        return sorted({p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p})
    wanted = tuple(candidates)
    return [e.path for e in _discover_walk(root).entries
            if e.path in wanted or e.path.startswith(tuple(c + "/" for c in wanted))]
