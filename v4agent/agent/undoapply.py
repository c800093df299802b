"""Carrying out an undo plan: first save every file it will overwrite or remove, then restore, then revert.

The copies go to ``.v4agent/undo/<time>/<path>`` (git-ignored with the rest of ``.v4agent``), with a README
saying how to copy one back. Each file is checked again just before it is touched: one that changed while the
plan waited for a confirmation is left alone too.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from v4agent.agent.undoplan import FileStep, UndoPlan
from v4agent.core.checkpoints import UnsafePath, current_states, restore_state, safe_parent
from v4agent.core.git import GitError
from v4agent.core.gitcommits import revert_commit
from v4agent.core.state import state_dir

__all__ = ["UNDO_DIR", "BackupDir", "UndoResult", "apply_plan", "apply_steps"]

UNDO_DIR = "undo"


@dataclass(frozen=True)
class UndoResult:
    """What an undo did: files put back, commits reverted, what failed, and where the replaced files went."""

    done: tuple[FileStep, ...]
    failed: tuple[tuple[str, str], ...]  # (path or commit, why)
    reverted: tuple[str, ...]  # the session's commits that were reverted
    saved: tuple[str, ...]
    saved_dir: Path | None

    def relative_dir(self, root: Path) -> str:
        """The backup folder relative to the repository ("" when nothing was saved)."""
        return str(self.saved_dir.relative_to(root)) if self.saved_dir is not None else ""


class BackupDir:
    """The folder one undo saves into, created on the first file saved."""

    def __init__(self, root: Path, why: str, now: datetime | None = None) -> None:
        self.root = root
        self.why = why
        self.now = now or datetime.now(UTC)
        self.path: Path | None = None
        self.saved: list[str] = []

    def _open(self) -> Path:
        if self.path is None:
            base = state_dir(self.root) / UNDO_DIR
            stamp = self.now.strftime("%Y%m%d-%H%M%S")
            path, number = base / stamp, 1
            while path.exists():  # two undos in one second keep both copies
                number += 1
                path = base / f"{stamp}-{number}"
            path.mkdir(parents=True)
            rel = path.relative_to(self.root)
            (path / "README.txt").write_text(
                f"Saved by {self.why} on {self.now.isoformat(timespec='seconds')}, before it overwrote or "
                f"removed these files.\nTo get one back, from the repository root:\n  cp -p {rel}/PATH PATH\n",
                encoding="utf-8")
            self.path = path
        return self.path

    def save(self, rel: str) -> None:
        """Copy ``rel`` as it is now (a link as a link) into the folder; nothing to do when it is absent."""
        source = safe_parent(self.root, rel)
        try:
            info = source.lstat()
        except FileNotFoundError:
            return
        target = self._open() / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if stat.S_ISLNK(info.st_mode):
            os.symlink(os.readlink(source), target)
        elif stat.S_ISREG(info.st_mode):
            shutil.copyfile(source, target, follow_symlinks=False)
            os.chmod(target, stat.S_IMODE(info.st_mode))
        else:
            return
        self.saved.append(rel)


def apply_steps(root: Path, steps: list[FileStep], backup: BackupDir) -> tuple[list[FileStep],
                                                                            list[tuple[str, str]]]:
    """Save, then put back each file; returns (done, failed). A file that changed since the plan is skipped."""
    done: list[FileStep] = []
    failed: list[tuple[str, str]] = []
    now = current_states(root, [s.path for s in steps])
    for step in steps:
        if now.get(step.path) != step.current:
            failed.append((step.path, "changed while undo was waiting; nothing done to it"))
            continue
        try:
            if step.current.exists:
                backup.save(step.path)
            restore_state(root, step.path, step.target)
        except (GitError, OSError, UnsafePath) as exc:
            failed.append((step.path, getattr(exc, "reason", None) or str(exc)))
            continue
        done.append(step)
    return done, failed


def apply_plan(root: Path, plan: UndoPlan, *, force: bool, now: datetime | None = None) -> UndoResult:
    """Carry out ``plan``: the files (safe ones, and with ``force`` the changed ones), then the reverts."""
    backup = BackupDir(root, f"`v4agent undo` of session {plan.session_id}", now)
    done, failed = apply_steps(root, plan.acting(force), backup)
    reverted: list[str] = []
    for step in plan.reverts:
        try:
            for rel in step.paths:
                backup.save(rel)
            revert_commit(root, step.commit)
        except (GitError, OSError, UnsafePath) as exc:
            failed.append((step.commit[:12], getattr(exc, "reason", None) or str(exc)))
            break  # the older commits may build on this one: stop here
        reverted.append(step.commit)
    return UndoResult(tuple(done), tuple(failed), tuple(reverted), tuple(backup.saved), backup.path)
