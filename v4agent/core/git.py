"""Running git: one command line, one error type, and the few questions every front end asks of a repository.

Every git call of v4agent goes through here, so they all see the same configuration: paths are not quoted
(``core.quotepath=off``), diffs keep their ``a/`` ``b/`` prefixes whatever the user's config says, and no pager
ever starts. Failures raise ``GitError`` carrying git's own stderr.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Literal, overload

from v4agent.core.errors import V4AgentError

__all__ = [
    "EMPTY_TREE",
    "GitError",
    "file_at_commit",
    "git_command",
    "popen_git",
    "repo_root",
    "resolve_commit",
    "run_git",
]

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's empty tree: the base of a repo with no commits
_BASE = ("git", "-c", "core.quotepath=off", "-c", "diff.noprefix=false", "--no-pager")
_NO_GIT_HINT = "is git installed and on PATH?"


class GitError(V4AgentError):
    """A git command failed; the message says which and why, ``stderr`` is what git said."""

    def __init__(self, message: str, *, stderr: str = "", hint: str | None = None,
                 command: tuple[str, ...] = ()) -> None:
        super().__init__(message, hint=hint or "")
        self.stderr = stderr
        self.command = command  # the git arguments, without the global options

    @property
    def reason(self) -> str:
        """The last line git wrote to stderr (usually the one that says why), else the message."""
        lines = [line for line in self.stderr.strip().splitlines() if line.strip()]
        return lines[-1].strip() if lines else str(self)


def git_command(root: Path, *args: str) -> list[str]:
    """The full command line that runs ``git args`` in ``root`` with v4agent's settings."""
    return [*_BASE, "-C", str(root), *args]


def _failed(args: tuple[str, ...], stderr: str) -> GitError:
    hint = "run `git init` (and commit) first" if "not a git repository" in stderr else None
    return GitError(f"git {' '.join(args[:2])} failed: {stderr.strip()}", stderr=stderr, hint=hint, command=args)


def _no_git(args: tuple[str, ...], exc: OSError) -> GitError:
    return GitError(f"cannot run git: {exc.strerror or exc}", hint=_NO_GIT_HINT, command=args)


def _complete(root: Path, args: tuple[str, ...], env: Mapping[str, str] | None,
              timeout: float | None) -> subprocess.CompletedProcess[bytes]:
    full_env = {**os.environ, **env} if env else None
    try:
        return subprocess.run(git_command(root, *args), capture_output=True, env=full_env, timeout=timeout,
                              check=False)
    except OSError as exc:  # no git binary: the same error type as a failing command, with a hint
        raise _no_git(args, exc) from None


@overload
def run_git(root: Path, *args: str, text: Literal[False] = False, env: Mapping[str, str] | None = None,
            ok: Collection[int] | None = (0,), timeout: float | None = None) -> bytes: ...


@overload
def run_git(root: Path, *args: str, text: Literal[True], env: Mapping[str, str] | None = None,
            ok: Collection[int] | None = (0,), timeout: float | None = None) -> str: ...


def run_git(root: Path, *args: str, text: bool = False, env: Mapping[str, str] | None = None,
            ok: Collection[int] | None = (0,), timeout: float | None = None) -> bytes | str:
    """Run ``git args`` in ``root`` and return its stdout (bytes, or UTF-8 text with ``text=True``).

    ``env`` is added to the environment; ``ok`` lists the exit statuses that are not failures (None: any);
    ``timeout`` lets ``subprocess.TimeoutExpired`` through. Anything else raises ``GitError``.
    """
    proc = _complete(Path(root), args, env, timeout)
    if ok is not None and proc.returncode not in ok:
        raise _failed(args, proc.stderr.decode("utf-8", "replace"))
    return proc.stdout.decode("utf-8", "replace") if text else proc.stdout


def popen_git(root: Path, *args: str, stderr: int = subprocess.PIPE) -> subprocess.Popen[bytes]:
    """Start ``git args`` in ``root`` with stdout piped, for callers that read while git still works."""
    try:
        return subprocess.Popen(git_command(root, *args), stdout=subprocess.PIPE, stderr=stderr)
    except OSError as exc:
        raise _no_git(args, exc) from None


def repo_root(path: Path) -> Path | None:
    """The top of the working tree that holds ``path``; None outside a work tree (or without git)."""
    try:
        proc = _complete(Path(path), ("rev-parse", "--show-toplevel"), None, None)
    except GitError:
        return None
    top = proc.stdout.decode("utf-8", "surrogateescape").strip()
    # Inside .git, older git prints nothing and succeeds: that is not a work tree either.
    return Path(top) if proc.returncode == 0 and top else None


def resolve_commit(root: Path, rev: str) -> str | None:
    """The full SHA of the commit ``rev`` names; None when it names no commit (or ``root`` is no repository)."""
    proc = _complete(Path(root), ("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"), None, None)
    sha = proc.stdout.decode("ascii", "replace").strip()
    return sha if proc.returncode == 0 and sha else None


def file_at_commit(root: Path, commit: str, path: str, *, max_bytes: int | None = None) -> bytes | None:
    """The bytes of ``path`` (repository-relative) at ``commit``; None when absent there or over ``max_bytes``."""
    spec = f"{commit}:{path}"
    if max_bytes is not None:
        size = _complete(Path(root), ("cat-file", "-s", spec), None, None)
        if size.returncode != 0 or int(size.stdout or b"0") > max_bytes:
            return None
    shown = _complete(Path(root), ("show", spec), None, None)
    return shown.stdout if shown.returncode == 0 else None
