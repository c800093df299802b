"""Putting the chosen attempt's diff into the user's tree, under undo's rule: never overwrite a person's change.

Every path the diff touches must still be as it was when the run started (same content, or still absent);
one that a person changed meanwhile makes the whole apply refuse, naming the paths and the diff file that is
kept, so nothing is half applied and nothing a person wrote is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from v4agent.core.git import GitError, run_git
from v4agent.core.gitstart import worktree_tree
from v4agent.ui.visible import visible


@dataclass(frozen=True)
class ApplyResult:
    """Whether the diff went in; ``note`` says what happened (or why not) in one line."""

    applied: bool
    note: str
    conflicts: tuple[str, ...] = ()


def touched_paths(root: Path, diff_file: Path) -> list[str]:
    """The paths a diff file touches (as ``git apply --numstat`` reads them)."""
    out = run_git(root, "apply", "--numstat", "-z", str(diff_file), text=True)
    paths: list[str] = []
    for entry in out.split("\0"):
        parts = entry.split("\t", 2)
        if len(parts) == 3 and parts[2]:
            paths.append(parts[2])
    return paths


def changed_meanwhile(root: Path, start_tree: str, paths: list[str]) -> list[str]:
    """Those of ``paths`` whose content in the tree now differs from the start tree (created, edited, deleted)."""
    if not paths:
        return []
    out = run_git(root, "diff", "--name-only", "--no-renames", "-z", start_tree, worktree_tree(root), "--", *paths,
                  text=True)
    return [p for p in out.split("\0") if p]


def apply_diff(root: Path, start_tree: str, diff_file: Path) -> ApplyResult:
    """Apply ``diff_file`` to the tree at ``root`` when none of its paths changed since ``start_tree``."""
    if not diff_file.is_file():
        return ApplyResult(False, f"the diff file {visible(str(diff_file))} is gone (pruned?)")
    if diff_file.stat().st_size == 0:
        return ApplyResult(True, "the attempt changed nothing: nothing to apply")
    try:
        paths = touched_paths(root, diff_file)
        conflicts = changed_meanwhile(root, start_tree, paths)
        if conflicts:
            shown = ", ".join(visible(p) for p in conflicts[:8]) + (" …" if len(conflicts) > 8 else "")
            return ApplyResult(False, f"not applied: {shown} changed since the run started, and the attempt's "
                                      f"diff would overwrite that; the diff is kept in {visible(str(diff_file))}",
                               tuple(conflicts))
        run_git(root, "apply", "--binary", "--whitespace=nowarn", str(diff_file))
    except GitError as exc:
        return ApplyResult(False, f"not applied: {exc.reason}; the diff is kept in {visible(str(diff_file))}")
    return ApplyResult(True, f"applied ({len(paths)} files)")
