"""Commits a session makes when asked (``refactor --commit``), and undoing them with ``git revert``.

A commit holds exactly the files a turn changed, at the states the turn left them in, on top of ``HEAD``;
it is built in a throwaway index, so the user's own staged and unstaged changes to other files stay out of it.
``HEAD`` moves by compare-and-swap: a commit someone made meanwhile makes it fail rather than vanish. Hooks do
not run (nothing is committed by hand). Undo reverts, never resets, so commits made on top are kept.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from v4agent.core.checkpoints import FileChange
from v4agent.core.git import GitError, resolve_commit, run_git

__all__ = ["commit_changes", "identity_env", "is_ancestor", "revert_commit"]

_FALLBACK = {"GIT_AUTHOR_NAME": "v4agent", "GIT_AUTHOR_EMAIL": "v4agent@localhost",
             "GIT_COMMITTER_NAME": "v4agent", "GIT_COMMITTER_EMAIL": "v4agent@localhost"}
_ZERO = "0" * 40
_CHUNK = 400


def identity_env(root: Path) -> dict[str, str]:
    """The user's git identity when one is configured; otherwise v4agent's own, so a commit never fails on it."""
    try:
        run_git(root, "var", "GIT_AUTHOR_IDENT")
        run_git(root, "var", "GIT_COMMITTER_IDENT")
    except GitError:
        return dict(_FALLBACK)
    return {}


def _set_entries(root: Path, changes: Sequence[FileChange], env: dict[str, str] | None = None) -> None:
    adds = [c for c in changes if c.left.exists]
    removes = [c.path for c in changes if not c.left.exists]
    for start in range(0, len(adds), _CHUNK):
        cacheinfo = [arg for c in adds[start:start + _CHUNK]
                     for arg in ("--cacheinfo", f"{c.left.mode},{c.left.sha},{c.path}")]
        run_git(root, "update-index", "--add", *cacheinfo, env=env)
    for start in range(0, len(removes), _CHUNK):
        run_git(root, "update-index", "--force-remove", "--", *removes[start:start + _CHUNK], env=env)


def commit_changes(root: Path, changes: Sequence[FileChange], message: str) -> str:
    """Commit ``changes`` (their left states) on top of HEAD and move HEAD's branch there; returns the commit id,
    or "" when HEAD already holds exactly these states (nothing to commit)."""
    head = resolve_commit(root, "HEAD")
    with tempfile.TemporaryDirectory(prefix="v4agent-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        run_git(root, *(("read-tree", head) if head else ("read-tree", "--empty")), env=env)
        _set_entries(root, changes, env)
        tree = run_git(root, "write-tree", env=env, text=True).strip()
    if head and run_git(root, "rev-parse", f"{head}^{{tree}}", text=True).strip() == tree:
        return ""
    parents = ["-p", head] if head else []
    commit = run_git(root, "commit-tree", tree, *parents, "-m", message, env=identity_env(root), text=True).strip()
    run_git(root, "update-ref", "-m", "v4agent: commit", "HEAD", commit, head or _ZERO)
    _set_entries(root, changes)  # the real index follows, so `git status` shows these files as committed
    return commit


def is_ancestor(root: Path, commit: str, of: str = "HEAD") -> bool:
    """Whether ``commit`` is in the history of ``of``."""
    try:
        run_git(root, "merge-base", "--is-ancestor", commit, of)
    except GitError:
        return False
    return True


def revert_commit(root: Path, commit: str) -> str:
    """``git revert`` one commit; on failure the revert is aborted (nothing half done) and ``GitError`` raised."""
    try:
        run_git(root, "revert", "--no-edit", commit, env=identity_env(root))
    except GitError:
        if resolve_commit(root, "REVERT_HEAD") is not None:
            run_git(root, "revert", "--abort", ok=None)
        raise
    return resolve_commit(root, "HEAD") or ""
