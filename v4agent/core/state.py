"""The project's state directory, ``.v4agent/`` at the repository root (and the user's cache directory).

It holds the token cache, sessions and the cost ledger. A ``.gitignore`` inside it keeps it out of git
without touching the user's own ignore files.

It must be a real directory inside the repository, and nothing in it a symbolic link: a repository can commit
``.v4agent`` (or ``.v4agent/ledger.jsonl``) as a link, and every session, ledger line and cache write would
then land wherever it points. Such a link is refused with an error that says to delete it.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from v4agent.core.errors import ExitCode, V4AgentError
from v4agent.core.pathtext import display_path

__all__ = ["STATE_DIR_NAME", "StateDirRefused", "state_dir", "state_path", "user_cache_dir"]

STATE_DIR_NAME = ".v4agent"
_GITIGNORE = "# Created by v4agent: local state (token cache, sessions, ledger) stays out of git.\n*\n"


class StateDirRefused(V4AgentError, exit_code=ExitCode.USAGE):
    """``.v4agent`` (or something in it) is a link or not a directory; the hint says what to delete."""


def _refuse(path: Path, what: str) -> StateDirRefused:
    try:
        target = f" (to {display_path(os.readlink(path))})"  # a committed link's target is the repository's text
    except OSError:
        target = ""
    shown = display_path(str(path))
    return StateDirRefused(
        f"{shown} is {what}{target}: v4agent keeps its sessions, ledger and cache in a real directory inside the "
        "repository, and does not follow links there",
        hint=f"delete it (rm {shown}) and run again; v4agent creates what it needs itself",
    )


def _check(path: Path, *, directory: bool) -> bool:
    """Whether ``path`` exists; refused when it is a link, or not a directory where one is wanted."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(mode):
        raise _refuse(path, "a symbolic link")
    if directory and not stat.S_ISDIR(mode):
        raise _refuse(path, "not a directory")
    return True


def state_dir(repo_root: Path, *, create: bool = True) -> Path:
    """Return ``<repo_root>/.v4agent``, creating it (with its own .gitignore) on first use.

    Raises StateDirRefused when it, or an entry directly in it, is a symbolic link.
    """
    directory = Path(repo_root) / STATE_DIR_NAME
    if create:
        Path(repo_root).mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            directory.mkdir()
    if not _check(directory, directory=True):
        return directory
    with os.scandir(directory) as entries:  # sessions/, cache/, ledger.jsonl...: none may lead elsewhere
        for entry in entries:
            if entry.is_symlink():
                raise _refuse(directory / entry.name, "a symbolic link")
    if create:
        with contextlib.suppress(FileExistsError):  # O_EXCL | O_NOFOLLOW: never written through a link
            fd = os.open(directory / ".gitignore", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(_GITIGNORE)
    return directory


def state_path(repo_root: Path, *parts: str, create: bool = True) -> Path:
    """A path inside the state directory; parent directories are created when ``create``.

    Every component below the state directory is checked as well: none may be a symbolic link.
    """
    path = state_dir(repo_root, create=create)
    for index, part in enumerate(parts):
        path = path / part
        last = index == len(parts) - 1
        if not _check(path, directory=not last) and create and not last:
            with contextlib.suppress(FileExistsError):
                path.mkdir()
            _check(path, directory=True)
    return path


def user_cache_dir(*parts: str, environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/v4agent/<parts>`` (``~/.cache`` when unset): what can be rebuilt at any time, per user
    (not created here)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or str(Path.home())) / ".cache")
    return Path(base, "v4agent", *parts)
