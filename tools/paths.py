"""Resolve a path given by the user or the model to a file inside the repository, or refuse it.

Refused: lexical ``..`` escapes, absolute paths outside the repository, symlinks (of the file or of any
directory on the way) that resolve outside it, anything inside ``.git/``, and files the packer treats as
secrets. The check runs on the fully resolved path, so a symlink cannot smuggle a path past the lexical
test.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from v4agent.core.errors import V4AgentError
from v4agent.secrets.scan import is_secret_path

__all__ = ["PathRefused", "RepoPath", "is_refused_rel", "resolve_repo_path"]


class PathRefused(V4AgentError, ValueError):
    """The path is outside the repository, inside ``.git/``, a secret, or malformed; the message says which."""


@dataclass(frozen=True)
class RepoPath:
    """A path accepted inside the repository, both absolute and relative to its root."""

    abs: Path  # fully resolved absolute path (symlinks followed)
    rel: str  # POSIX path relative to the resolved repository root; "." for the root itself


def _lexical_rel(root: Path, raw: str) -> str:
    text = raw.strip().replace("\\", "/")
    if os.path.isabs(text):
        absolute = posixpath.normpath(text)
        root_text = root.as_posix()
        if absolute == root_text:
            return "."
        if not absolute.startswith(root_text.rstrip("/") + "/"):
            raise PathRefused(f"{raw!r} is an absolute path outside the repository; use a path relative to it")
        text = absolute[len(root_text.rstrip("/")) + 1 :]
    rel = posixpath.normpath(text) if text else "."
    if rel == ".." or rel.startswith("../"):
        raise PathRefused(f"{raw!r} leads outside the repository ('..' escapes are refused)")
    return rel


def is_refused_rel(rel: str) -> str | None:
    """Why a repository-relative path may not be used by tools, or None when it may."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if ".git" in parts:
        return f"{rel!r} is inside .git/ (git internals are off limits)"
    if parts and is_secret_path(rel):
        return f"{rel!r} is a secret file (keys, credentials, .env); tools do not read or write it"
    return None


def resolve_repo_path(repo_root: Path, raw: str, *, allow_root: bool = False) -> RepoPath:
    """Resolve ``raw`` inside ``repo_root`` or raise :class:`PathRefused` with a clear reason."""
    if not isinstance(raw, str):
        raise PathRefused("path must be a string")
    if "\x00" in raw:
        raise PathRefused("path contains a NUL byte")
    root = Path(repo_root).resolve()
    # Compare against both the given and the resolved root so absolute paths under either are accepted.
    try:
        rel = _lexical_rel(root, raw)
    except PathRefused:
        given = Path(os.path.abspath(repo_root))
        if given == root:
            raise
        rel = _lexical_rel(given, raw)
    if rel == "." and not allow_root:
        raise PathRefused("path is empty or names the repository root; give a file path")
    reason = is_refused_rel(rel)
    if reason:
        raise PathRefused(reason)
    resolved = (root / rel).resolve()
    if resolved != root and not resolved.is_relative_to(root):
        raise PathRefused(f"{raw!r} is a symlink (or passes through one) that leads outside the repository")
    real_rel = "." if resolved == root else resolved.relative_to(root).as_posix()
    if real_rel != rel:
        reason = is_refused_rel(real_rel)
        if reason:
            raise PathRefused(f"{raw!r} resolves to {reason}")
    if real_rel == "." and not allow_root:
        raise PathRefused("path names the repository root; give a file path")
    return RepoPath(abs=resolved, rel=real_rel)
