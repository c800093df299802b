"""read_file (numbered lines, paged) and list_files (glob over the repository's files, ignore rules applied)."""

from __future__ import annotations

import errno
import subprocess
from pathlib import Path

import pathspec

from v4agent.core.pathtext import display_path
from v4agent.secrets.results import redact_file
from v4agent.tools.edit import ToolFailure, decode
from v4agent.tools.paths import RepoPath, is_refused_rel, parent_dir, read_entry, resolve_repo_path
from v4agent.tools.safeopen import opened_root

__all__ = ["list_files", "read_file", "read_repo_file", "repo_files"]

PAGE_LINES = 1000
PAGE_CHARS = 60_000
MAX_LINE_CHARS = 2000
MAX_LIST = 2000


def read_repo_file(target: RepoPath, raw: str) -> bytes:
    """The bytes of the file at ``target``, opened with no link followed; hard links read only when tracked."""
    with opened_root(target.root) as root_fd, parent_dir(root_fd, target, raw) as dir_fd:
        try:
            found = None if dir_fd is None else read_entry(dir_fd, target, raw, writing=False)
        except IsADirectoryError:
            raise ToolFailure(f"{target.shown} is a directory; use list_files with a pattern like "
                              f"'{target.shown}/**'") from None
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise ToolFailure(f"{target.shown} is not a regular file (a pipe, socket or device)") from None
            raise
    if found is None:
        raise ToolFailure(f"{target.shown} does not exist")
    return found[0]


def read_file(repo_root: Path, path: str, start_line: int | None = None, end_line: int | None = None) -> str:
    """A file's lines from ``start_line`` to ``end_line``, numbered and paged, secret values redacted."""
    target = resolve_repo_path(repo_root, path)
    data = read_repo_file(target, path)
    if b"\x00" in data[:8192]:
        raise ToolFailure(f"{target.shown} is a binary file ({len(data)} bytes); not shown")
    text = decode(data)[0]
    text, redacted = redact_file(target.rel, text)
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    total = len(lines)
    if total == 0:
        return f"{target.shown} is empty"
    start = 1 if start_line is None else start_line
    if start < 1:
        raise ToolFailure("start_line must be 1 or more")
    if start > total:
        raise ToolFailure(f"start_line {start} is past the end of {target.shown} ({total} lines)")
    last = total if end_line is None else min(end_line, total)
    if last < start:
        raise ToolFailure(f"end_line {end_line} is before start_line {start}")
    out: list[str] = []
    size = 0
    shown_last = start - 1
    for number in range(start, last + 1):
        line = lines[number - 1]
        if len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS] + f" [... {len(line) - MAX_LINE_CHARS} more characters on this line]"
        entry = f"{number:>6}\t{line}"
        if out and (len(out) >= PAGE_LINES or size + len(entry) > PAGE_CHARS):
            break
        out.append(entry)
        size += len(entry) + 1
        shown_last = number
    header = f"{target.shown} (lines {start}-{shown_last} of {total})"
    notes: list[str] = []
    if redacted:
        notes.append(f"[{redacted} secret value(s) redacted]")
    if shown_last < last:
        notes.append(
            f"[lines {shown_last + 1}-{last} not shown (page limit); call read_file with start_line={shown_last + 1}]"
        )
    elif last < total and end_line is not None:
        notes.append(f"[file continues to line {total}]")
    return "\n".join([header, *out, *notes])


def repo_files(repo_root: Path) -> list[str]:
    """Tracked and untracked-but-not-ignored files (git's ignore rules), without secrets or .git internals."""
    root = Path(repo_root)
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True, timeout=60, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        proc = None
    if proc is not None and proc.returncode == 0:
        names = sorted({n for n in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if n})
        names = [n for n in names if (root / n).is_file() or (root / n).is_symlink()]
    else:
        names = sorted(
            p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and ".git" not in p.parts
        )
    return [n for n in names if is_refused_rel(n) is None and not n.startswith(".v4agent/")]


def list_files(repo_root: Path, pattern: str | None = None) -> str:
    """The repository's files matching a gitignore-style ``pattern`` (all of them without one), one a line."""
    names = repo_files(repo_root)
    if pattern:
        try:
            spec = pathspec.PathSpec.from_lines("gitwildmatch", [pattern])
        except Exception as exc:  # pathspec raises assorted errors for bad patterns
            raise ToolFailure(f"bad pattern {pattern!r}: {exc}") from exc
        names = [n for n in names if spec.match_file(n)]
    if not names:
        return f"no files match {pattern!r}" if pattern else "the repository has no files"
    shown = [display_path(n) for n in names[:MAX_LIST]]
    more = len(names) - len(shown)
    tail = [f"[... {more} more files not shown; narrow the pattern]"] if more else []
    return "\n".join([f"{len(names)} file(s)", *shown, *tail])
