"""What the filesystem looks like inside the sandbox: the paths of a policy, resolved against this machine.

The one step that looks at the disk (which paths exist, which are directories, where symlinks lead), so that
the argv builder in ``bwrap.py`` stays a pure function of the policy and this plan. It runs before every
command: a credential store created during a session is hidden from the next command on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from v4agent.sandbox.policy import SandboxPolicy

__all__ = ["MountPlan", "resolve_mounts", "under"]

_RESOLV = Path("/etc/resolv.conf")


@dataclass(frozen=True)
class MountPlan:
    """Real paths, in the order they are mounted (parents before children)."""

    root: Path  # the repository, writable
    scratch: tuple[Path, ...]  # replaced by empty directories (/tmp by the command's private one)
    readable: tuple[Path, ...]  # under a scratch directory, yet kept visible read-only
    read_only_in_root: tuple[Path, ...]  # .git/ and .v4agent/ of the repository, when they exist
    hidden_dirs: tuple[Path, ...]  # covered by an empty read-only tmpfs
    hidden_files: tuple[Path, ...]  # covered by /dev/null


def under(path: Path, parents: tuple[Path, ...]) -> bool:
    """True when ``path`` lies strictly inside one of ``parents``."""
    return any(path != parent and path.is_relative_to(parent) for parent in parents)


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _scratch(policy: SandboxPolicy) -> tuple[Path, ...]:
    # A symlink (Debian's /var/run -> /run) is covered by its target; only real directories are replaced.
    return tuple(p for p in policy.scratch if p.is_dir() and not p.is_symlink())


def _git_dirs(root: Path) -> list[Path]:
    """A worktree's ``.git`` is a file naming its git directory (and that one its common directory)."""
    dot_git = root / ".git"
    if not dot_git.is_file():
        return []
    text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
    if not text.startswith("gitdir:"):
        return []
    gitdir = (root / text.removeprefix("gitdir:").strip()).resolve()
    common = gitdir / "commondir"
    found = [gitdir]
    if common.is_file():
        found.append((gitdir / common.read_text(encoding="utf-8", errors="replace").strip()).resolve())
    return found


def _readable(policy: SandboxPolicy, scratch: tuple[Path, ...], root: Path) -> tuple[Path, ...]:
    wanted = {_real(p) for p in (*policy.readable, *_git_dirs(root)) if p.exists()}
    if policy.network and _RESOLV.exists():
        wanted.add(_real(_RESOLV))  # the resolver's file often lives in /run (systemd-resolved)
    inside = sorted((p for p in wanted if under(p, scratch) and p != root), key=lambda p: len(p.parts))
    kept: list[Path] = []
    for path in inside:
        if not under(path, tuple(kept)) and path not in kept:
            kept.append(path)
    return tuple(kept)


def resolve_mounts(policy: SandboxPolicy) -> MountPlan:
    """The policy's paths as they are on this machine now; missing ones are left out."""
    root = _real(policy.root)
    scratch = _scratch(policy)
    hidden = [_real(p) for p in policy.hide if p.exists() or p.is_symlink()]
    hidden = [p for p in dict.fromkeys(hidden) if p.exists() and p != root]
    return MountPlan(
        root=root, scratch=scratch, readable=_readable(policy, scratch, root),
        read_only_in_root=tuple(_real(p) for p in policy.read_only_in_root if p.exists()),
        hidden_dirs=tuple(p for p in hidden if p.is_dir()),
        hidden_files=tuple(p for p in hidden if not p.is_dir()),
    )
