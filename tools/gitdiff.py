"""The working tree against the session's starting commit, untracked files included, secrets left out.

Nothing here touches git's index or the working tree: tracked changes come from ``git diff <start>`` and
untracked files from ``git diff --no-index /dev/null FILE``. git C-quotes a name with a C0 control character,
but with ``core.quotepath=off`` (v4agent's setting, for readable non-ASCII names) it prints C1 controls as they
are: the header lines of each file section are escaped by the shared path rule.
"""

from __future__ import annotations

import stat
from pathlib import Path

from v4agent.core.git import EMPTY_TREE, resolve_commit, run_git
from v4agent.core.pathtext import display_path
from v4agent.tools.paths import is_refused_rel, resolve_repo_path

__all__ = ["changed_paths", "working_tree_diff"]

_TIMEOUT_S = 120  # a tool call must come back; the registry reports the timeout to the model


def _git(root: Path, *args: str, ok: tuple[int, ...] = (0,)) -> str:
    return run_git(root, *args, text=True, ok=ok, timeout=_TIMEOUT_S)


def _base(root: Path, start_commit: str | None) -> str:
    return start_commit or resolve_commit(root, "HEAD") or EMPTY_TREE


def _untracked(root: Path, rel: str) -> list[str]:
    spec = [] if rel == "." else ["--", rel]
    out = _git(root, "ls-files", "-z", "--others", "--exclude-standard", *spec)
    return sorted(n for n in out.split("\0") if n and not n.startswith(".v4agent/"))


def changed_paths(repo_root: Path, start_commit: str | None = None) -> list[str]:
    """Paths changed since ``start_commit`` (tracked changes, deletions and untracked files), sorted."""
    root = Path(repo_root).resolve()
    tracked = _git(root, "diff", "--name-only", "-z", "--no-renames", _base(root, start_commit))
    names = {n for n in tracked.split("\0") if n} | set(_untracked(root, "."))
    return sorted(n for n in names if is_refused_rel(n) is None)


def working_tree_diff(repo_root: Path, start_commit: str | None = None, path: str | None = None) -> str:
    """A unified diff of the working tree against ``start_commit`` (default HEAD), for all files or ``path``."""
    root = Path(repo_root).resolve()
    rel = resolve_repo_path(root, path, allow_root=True).rel if path else "."
    base = _base(root, start_commit)
    names = [n for n in changed_paths(root, base) if rel == "." or n == rel or n.startswith(rel.rstrip("/") + "/")]
    if not names:
        return ""
    untracked = set(_untracked(root, rel))
    tracked = [n for n in names if n not in untracked]
    parts: list[str] = []
    if tracked:
        parts.append(_git(root, "diff", "--no-color", "--no-ext-diff", "--no-renames", base, "--", *tracked))
    for name in names:
        if name in untracked and _hard_linked(root / name):
            # The file tools' rule: a hard link git does not track may be a file outside the repository.
            parts.append(f"[{display_path(name)}: not shown (a hard-linked file that git does not track)]\n")
        elif name in untracked:
            parts.append(_git(root, "diff", "--no-color", "--no-ext-diff", "--no-index", "--", "/dev/null", name,
                              ok=(0, 1)))
    return _escape_headers("".join(parts))


def _hard_linked(path: Path) -> bool:
    try:
        info = path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_nlink > 1


def _escape_headers(diff: str) -> str:
    """The diff with the header lines of each file section (from ``diff --git`` to the first hunk) escaped."""
    out: list[str] = []
    in_header = False
    for line in diff.split("\n"):
        if line.startswith(("diff --git ", "diff --cc ", "diff --combined ")):
            in_header = True
        elif line.startswith("@@"):
            in_header = False
        out.append(display_path(line) if in_header else line)
    return "\n".join(out)
