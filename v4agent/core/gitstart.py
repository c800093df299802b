"""Git safety for agent sessions: record the working tree at the start, diff against it, leave a created branch.

At the start of a session the whole working tree (tracked and untracked, ignore rules applied) is written to a
git tree object through a temporary index, and kept reachable under ``refs/v4agent/sessions/<id>``. The user's
index, stash and branches are not touched. The start tree is what diffs and ``git_diff`` compare against; undo
does not restore it wholesale (that would revert everything anyone changed since): it puts back only the files
the session's checkpoints name (``core.checkpoints``), then ``leave_created_branch`` switches back from a branch
the session made.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from v4agent.core.git import GitError, resolve_commit, run_git

__all__ = ["GitStart", "capture_start", "changed_since", "diff_since", "dirty_paths", "leave_created_branch",
           "worktree_tree"]

_AUTHOR = {"GIT_AUTHOR_NAME": "v4agent", "GIT_AUTHOR_EMAIL": "v4agent@localhost",
           "GIT_COMMITTER_NAME": "v4agent", "GIT_COMMITTER_EMAIL": "v4agent@localhost"}


@dataclass(frozen=True)
class GitStart:
    """The state a session started from, as recorded in its session log."""

    head: str | None  # the starting commit (None in a repository without commits)
    branch: str | None  # the branch checked out at the start
    tree: str  # the working tree at the start, tracked + untracked
    ref: str
    created_branch: str | None = None
    commit: str = ""  # a commit of ``tree`` (parent: head), kept reachable by ``ref``

    def to_json(self) -> dict[str, Any]:
        """The record as the session log stores it."""
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> GitStart:
        """The record from a session log (older logs lack ``ref``, ``created_branch`` and ``commit``)."""
        return cls(raw.get("head"), raw.get("branch"), str(raw["tree"]), str(raw.get("ref", "")),
                   raw.get("created_branch"), str(raw.get("commit", "")))


def dirty_paths(root: Path) -> list[str]:
    """Paths with uncommitted changes, untracked files included (as ``git status`` names them)."""
    out = run_git(root, "status", "--porcelain", "--untracked-files=all", text=True)
    return [line[3:] for line in out.splitlines() if line.strip()]


def _branch(root: Path) -> str | None:
    try:
        name = run_git(root, "symbolic-ref", "-q", "--short", "HEAD", text=True).strip()
    except GitError:
        return None  # detached HEAD
    return name or None


def worktree_tree(root: Path) -> str:
    """A tree object of the working tree as it is now, via a throwaway index (the real index is untouched)."""
    with tempfile.TemporaryDirectory(prefix="v4agent-index-") as tmp:
        index = Path(tmp) / "index"
        real = Path(run_git(root, "rev-parse", "--git-path", "index", text=True).strip())
        real = real if real.is_absolute() else root / real
        if real.is_file():
            index.write_bytes(real.read_bytes())  # start from the real index: only changed files rehash
        env = {"GIT_INDEX_FILE": str(index)}
        run_git(root, "add", "-A", "--", ".", env=env)
        return run_git(root, "write-tree", env=env, text=True).strip()


def capture_start(root: Path, session_id: str, *, new_branch: str | None = None) -> GitStart:
    """Record the starting state (and switch to ``new_branch`` if asked, carrying local changes)."""
    tree = worktree_tree(root)
    head = resolve_commit(root, "HEAD")
    branch = _branch(root)
    parents = ["-p", head] if head else []
    commit = run_git(root, "commit-tree", tree, *parents, "-m", f"v4agent session {session_id} start",
                     env=_AUTHOR, text=True).strip()
    ref = f"refs/v4agent/sessions/{session_id}"
    run_git(root, "update-ref", ref, commit)
    if new_branch:
        run_git(root, "switch", "-c", new_branch)
    return GitStart(head, branch, tree, ref, new_branch, commit)


def diff_since(root: Path, tree: str) -> str:
    """Unified diff from the starting tree to the working tree now (new files included)."""
    return run_git(root, "diff", "--no-color", "--no-ext-diff", tree, worktree_tree(root), text=True)


def changed_since(root: Path, tree: str) -> list[tuple[str, str]]:
    """(status letter, path) for every file that differs between ``tree`` and the working tree now."""
    out = run_git(root, "diff", "--name-status", "--no-renames", "-z", tree, worktree_tree(root), text=True)
    parts = [p for p in out.split("\0") if p]
    return [(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]


def leave_created_branch(root: Path, start: GitStart, *, warn: Callable[[str], None] | None = None) -> bool:
    """Switch back from the branch the session created and delete it, if it gained no commits; True if done.

    ``warn`` hears why a created branch was left in place (it has commits, or the switch failed).
    """
    if not (start.created_branch and _branch(root) == start.created_branch and start.branch):
        return False
    if resolve_commit(root, "HEAD") != start.head:
        if warn is not None:
            warn(f"branch {start.created_branch} has new commits; left in place")
        return False
    try:
        run_git(root, "switch", start.branch)
        run_git(root, "branch", "-D", start.created_branch)
    except GitError as exc:
        if warn is not None:
            warn(f"branch {start.created_branch} left in place: {exc.reason}")
        return False
    return True
