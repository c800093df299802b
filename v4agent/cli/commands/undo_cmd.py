"""Git safety for agent sessions, and `v4agent undo`: restore the starting state of the last session.

At the start of a session the whole working tree (tracked and untracked, ignore rules applied) is written to a
git tree object through a temporary index, and kept reachable under ``refs/v4agent/sessions/<id>``. The user's
index, stash and branches are not touched. Undo compares that tree with the current working tree and puts back
every file that differs (deleting files the session created), then leaves a branch made by ``--branch``.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import typer

from v4agent.core.errors import ExitCode
from v4agent.core.fsutil import atomic_write_bytes
from v4agent.ui.console import error, stdout, warn

_EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


class GitError(Exception):
    """A git command failed; the message says which and why."""


def _git(root: Path, *args: str, env: dict[str, str] | None = None, text: bool = True) -> Any:
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(["git", "-c", "core.quotepath=off", "-C", str(root), *args], capture_output=True,
                          text=text, env=full_env, check=False)
    if proc.returncode != 0:
        stderr = proc.stderr if text else proc.stderr.decode("utf-8", "replace")
        raise GitError(f"git {' '.join(args[:2])} failed: {stderr.strip()}")
    return proc.stdout


def git_root(path: Path) -> Path | None:
    try:
        return Path(_git(path, "rev-parse", "--show-toplevel").strip())
    except (GitError, OSError):
        return None


def dirty_paths(root: Path) -> list[str]:
    out = _git(root, "status", "--porcelain", "--untracked-files=all")
    return [line[3:] for line in out.splitlines() if line.strip()]


def _head(root: Path) -> str | None:
    try:
        return str(_git(root, "rev-parse", "--verify", "-q", "HEAD").strip()) or None
    except GitError:
        return None


def _branch(root: Path) -> str | None:
    try:
        name = str(_git(root, "symbolic-ref", "-q", "--short", "HEAD").strip())
    except GitError:
        return None
    return name or None


def worktree_tree(root: Path) -> str:
    """A tree object of the working tree as it is now, via a throwaway index (the real index is untouched)."""
    with tempfile.TemporaryDirectory(prefix="v4agent-index-") as tmp:
        index = Path(tmp) / "index"
        real = Path(_git(root, "rev-parse", "--git-path", "index").strip())
        real = real if real.is_absolute() else root / real
        if real.is_file():
            index.write_bytes(real.read_bytes())  # start from the real index: only changed files rehash
        env = {"GIT_INDEX_FILE": str(index)}
        _git(root, "add", "-A", "--", ".", env=env)
        return str(_git(root, "write-tree", env=env).strip())


@dataclass(frozen=True)
class GitStart:
    head: str | None  # the starting commit (None in a repository without commits)
    branch: str | None  # the branch checked out at the start
    tree: str  # the working tree at the start, tracked + untracked
    ref: str
    created_branch: str | None = None
    commit: str = ""  # a commit of ``tree`` (parent: head), kept reachable by ``ref``

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> GitStart:
        return cls(raw.get("head"), raw.get("branch"), str(raw["tree"]), str(raw.get("ref", "")),
                   raw.get("created_branch"), str(raw.get("commit", "")))


def capture_start(root: Path, session_id: str, *, new_branch: str | None = None) -> GitStart:
    """Record the starting state (and switch to ``new_branch`` if asked, carrying local changes)."""
    tree = worktree_tree(root)
    head = _head(root)
    branch = _branch(root)
    parents = ["-p", head] if head else []
    commit = str(_git(root, "commit-tree", tree, *parents, "-m", f"v4agent session {session_id} start",
                      env={"GIT_AUTHOR_NAME": "v4agent", "GIT_AUTHOR_EMAIL": "v4agent@localhost",
                           "GIT_COMMITTER_NAME": "v4agent", "GIT_COMMITTER_EMAIL": "v4agent@localhost"}).strip())
    ref = f"refs/v4agent/sessions/{session_id}"
    _git(root, "update-ref", ref, commit)
    if new_branch:
        _git(root, "switch", "-c", new_branch)
    return GitStart(head, branch, tree, ref, new_branch, commit)


def diff_since(root: Path, tree: str) -> str:
    """Unified diff from the starting tree to the working tree now (new files included)."""
    return str(_git(root, "diff", "--no-color", "--no-ext-diff", tree, worktree_tree(root)))


def changed_since(root: Path, tree: str) -> list[tuple[str, str]]:
    out = _git(root, "diff", "--name-status", "--no-renames", "-z", tree, worktree_tree(root))
    parts = [p for p in out.split("\0") if p]
    return [(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]


def restore_start(root: Path, start: GitStart) -> list[str]:
    """Put every file back as it was at the start; returns the paths touched."""
    touched: list[str] = []
    for status, rel in changed_since(root, start.tree):
        path = root / rel
        if status == "A":
            if path.is_symlink() or path.is_file():
                path.unlink()
            touched.append(rel)
            continue
        listing = str(_git(root, "ls-tree", start.tree, "--", rel)).split()
        mode, sha = listing[0], listing[2]
        data: bytes = _git(root, "cat-file", "blob", sha, text=False)
        if path.is_symlink():
            path.unlink()
        if mode == "120000":
            path.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(data.decode("utf-8"), path)
        else:
            atomic_write_bytes(path, data, mode=0o755 if mode == "100755" else 0o644)
        touched.append(rel)
    if start.created_branch and _branch(root) == start.created_branch and start.branch:
        if _head(root) == start.head:
            _git(root, "switch", start.branch)
            _git(root, "branch", "-D", start.created_branch)
        else:
            warn(f"branch {start.created_branch} has new commits; left in place")
    return touched


def undo(
    path: Path = typer.Argument(Path("."), help="The repository."),
    session_id: str | None = typer.Option(None, "--session", help="Session id (default: the latest)."),
    force: bool = typer.Option(False, "--force", help="Undo again even if the session was already undone."),
) -> None:
    """Restore the starting state of the last agent session (files, and the branch it created)."""
    from v4agent.agent.sessions.records import UndoRecord  # here: most commands never undo
    from v4agent.agent.sessions.store import (
        SessionError,
        SessionWriter,
        find_session,
    )

    root = git_root(path.resolve())
    if root is None:
        error(f"{path} is not inside a git repository")
        raise typer.Exit(ExitCode.USAGE)
    try:
        session = find_session(root, session_id)
    except SessionError as exc:
        error(str(exc))
        raise typer.Exit(ExitCode.USAGE) from None
    raw = session.start.git
    if not isinstance(raw, dict):
        error(f"session {session.session_id} recorded no starting state")
        raise typer.Exit(ExitCode.FAILED)
    if session.undone and not force:
        error(f"session {session.session_id} was already undone (use --force to restore again)")
        raise typer.Exit(ExitCode.USAGE)
    try:
        touched = restore_start(root, GitStart.from_json(raw))
    except (GitError, OSError) as exc:
        error(f"undo failed: {exc}")
        raise typer.Exit(ExitCode.FAILED) from None
    SessionWriter(session.path).write(UndoRecord(tuple(touched)))
    if not touched:
        stdout.print(f"session {session.session_id}: nothing to restore")
        return
    stdout.print(f"session {session.session_id}: restored {len(touched)} file(s) to the starting state:")
    for rel in touched:
        stdout.print(f"  {rel}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.command("undo")(undo)
