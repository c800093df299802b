"""The attempts' git worktrees under ``.v4agent/attempts/<group>/<n>``, and the diff each one made.

A worktree is detached at the session's start commit (a commit of the user's tree as it was), so an attempt
never moves a branch of the user's. Removing one also prunes git's record of it.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import threading
from pathlib import Path

from v4agent.core.git import GitError, run_git
from v4agent.core.gitstart import worktree_tree
from v4agent.core.state import state_path

ATTEMPTS_DIR = "attempts"


def group_dir(root: Path, group: str, *, create: bool = True) -> Path:
    """``.v4agent/attempts/<group>``: the manifest, the diffs and (while running) the worktrees."""
    path = state_path(root, ATTEMPTS_DIR, create=create) / group
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


_ADD = threading.Lock()  # `git worktree add` reads the other worktrees' records: concurrent adds race


def add_worktree(root: Path, group: str, number: int, commit: str) -> Path:
    """A detached worktree of ``commit`` for attempt ``number``; safe to call from several threads (the
    registration is serialized, the checkout of the files, the slow part, is not)."""
    path = group_dir(root, group) / str(number)
    if path.exists():  # left by a run that was killed outright
        discard_worktree(root, path)
    with _ADD:
        run_git(root, "worktree", "add", "--detach", "--force", "--no-checkout", str(path), commit)
    run_git(path, "reset", "--hard", "--quiet", commit)
    return path


def remove_worktree(root: Path, path: Path) -> None:
    """Remove an attempt's worktree and git's record of it; a half-made one is removed from disk anyway."""
    try:
        run_git(root, "worktree", "remove", "--force", "--force", str(path))
    except GitError:
        shutil.rmtree(path, ignore_errors=True)
    run_git(root, "worktree", "prune", ok=None)


def discard_worktree(root: Path, path: Path) -> None:
    """Take an attempt's worktree away at once: renamed aside, git's record pruned, the files deleted by a
    detached ``rm`` that outlives the command (a large checkout takes seconds to delete)."""
    trash = path.parent / f".trash-{path.name}-{secrets.token_hex(4)}"
    try:
        path.rename(trash)
    except OSError:
        remove_worktree(root, path)
        return
    run_git(root, "worktree", "prune", ok=None)
    try:
        subprocess.Popen(["rm", "-rf", "--", str(trash)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        shutil.rmtree(trash, ignore_errors=True)


def worktree_diff(path: Path, tree: str) -> str:
    """The attempt's change: a binary-safe diff from the start tree to its worktree now (new files included)."""
    return run_git(path, "diff", "--binary", "--no-color", "--no-ext-diff", "--no-renames", tree,
                   worktree_tree(path), text=True)
