"""The project's state directory, ``.v4agent/`` at the repository root.

It holds the token cache, sessions and the cost ledger. A ``.gitignore`` inside it keeps it out of git
without touching the user's own ignore files.
"""

from __future__ import annotations

from pathlib import Path

STATE_DIR_NAME = ".v4agent"
_GITIGNORE = "# Created by v4agent: local state (token cache, sessions, ledger) stays out of git.\n*\n"


def state_dir(repo_root: Path, *, create: bool = True) -> Path:
    """Return ``<repo_root>/.v4agent``, creating it (with its own .gitignore) on first use."""
    directory = Path(repo_root) / STATE_DIR_NAME
    if create:
        directory.mkdir(parents=True, exist_ok=True)
        ignore = directory / ".gitignore"
        if not ignore.exists():
            ignore.write_text(_GITIGNORE, encoding="utf-8")
    return directory


def state_path(repo_root: Path, *parts: str, create: bool = True) -> Path:
    """A path inside the state directory; parent directories are created when ``create``."""
    path = state_dir(repo_root, create=create).joinpath(*parts)
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    return path
