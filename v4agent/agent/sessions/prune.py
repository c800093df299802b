"""Pruning old sessions, what belongs to them, and the stored contents no remaining session refers to.

Sessions accumulate: each is small, but every repository state a session packed leaves a copy of its pack in
``sessions/blobs/`` (a few MB for a whole-window pack). The cost ledger is separate and is never pruned here.

A session goes as one unit with what it owns: its subagents' files (``sessions/subagents/<id>.sub-*.jsonl``),
and for the attempts of one best-of-N run (``<run>-<n>.jsonl``, recorded with ``undo: "attempt"``) every
attempt's session and the run's applies (``<run>-apply*.jsonl``) together with the run's directory (``.v4agent/attempts/<run>/``: manifest, diffs, and any
worktree left behind, unregistered from git). A unit's age is its newest file's; the newest unit is always kept
(``undo`` works on it), and a blob goes only when no kept file names it (subagent files included).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from v4agent.agent.sessions.blobs import BLOBS_DIR, blob_refs
from v4agent.core.git import GitError, run_git

__all__ = ["PrunePlan", "apply_prune", "plan_prune", "stale_sessions"]

ATTEMPTS_DIR = "attempts"  # ``.v4agent/attempts/<run>``: the best-of-N runs' manifests and diffs (refactor)
_APPLY = re.compile(r"-apply\d*$")
SUBAGENTS_DIR = "subagents"  # as ``agent.subagent`` writes them (named here: that module imports this package)


@dataclass(frozen=True)
class PrunePlan:
    """What a prune deletes: old session files, what they own, blobs no kept file names, and the bytes freed."""

    sessions: tuple[Path, ...]  # session files to delete
    blobs: tuple[Path, ...]  # stored contents no kept session refers to
    freed_bytes: int
    subagents: tuple[Path, ...] = ()  # the deleted sessions' subagent files
    attempt_runs: tuple[Path, ...] = ()  # the deleted attempts runs' directories (worktrees inside included)


def stale_sessions(files: Sequence[tuple[Path, float]], *, now: float, older_than_s: float) -> list[Path]:
    """Session files (or units) last written more than ``older_than_s`` ago, never the newest one (pure)."""
    if not files:
        return []
    newest = max(files, key=lambda item: (item[1], item[0].name))[0]
    return sorted(path for path, mtime in files if path != newest and now - mtime > older_than_s)


def _attempt_run(path: Path) -> str | None:
    """The run id of an attempt's session file (``<run>-<n>``, its start record says ``undo: attempt``)."""
    head, _, number = path.stem.rpartition("-")
    if not head or not number.isdigit() or head.startswith("."):
        return None
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            start = json.loads(handle.readline() or "{}")
    except (OSError, ValueError):
        return None
    return head if isinstance(start, dict) and start.get("undo") == "attempt" else None


@dataclass(frozen=True)
class _Unit:
    """A session (or a run's attempts) with everything it owns, as one thing to keep or delete."""

    key: Path
    sessions: tuple[Path, ...]
    subagents: tuple[Path, ...]
    run_dir: Path | None


def _units(sessions_dir: Path) -> list[_Unit]:
    subs = sorted((sessions_dir / SUBAGENTS_DIR).glob("*.jsonl")) if (sessions_dir / SUBAGENTS_DIR).is_dir() else []
    owned: dict[str, list[Path]] = {}
    for sub in subs:
        owned.setdefault(sub.name.split(".sub-", 1)[0], []).append(sub)
    runs: dict[str, list[Path]] = {}
    alone: list[Path] = []
    for path in sorted(sessions_dir.glob("*.jsonl")):
        run = _attempt_run(path)
        if run is not None:
            runs.setdefault(run, []).append(path)
        else:
            alone.append(path)
    units: list[_Unit] = []
    for path in alone:
        run = _APPLY.sub("", path.stem)  # ``<run>-apply``, ``-apply2``: the run's diff applied, undoable
        if run != path.stem and run in runs:
            runs[run].append(path)
        else:
            units.append(_Unit(path, (path,), tuple(owned.pop(path.stem, ())), None))
    attempts = sessions_dir.parent / ATTEMPTS_DIR
    linked = attempts.is_symlink()  # a repository may ship one: nothing is ever deleted through it
    for run, paths in sorted(runs.items()):
        run_dir = attempts / run
        mine = tuple(sub for p in paths for sub in owned.pop(p.stem, ()))
        owns = not linked and (run_dir.is_symlink() or run_dir.is_dir())
        units.append(_Unit(paths[0], tuple(paths), mine, run_dir if owns else None))
    # Subagent files whose parent is already gone: each its own unit, pruned by its own age.
    units.extend(_Unit(sub, (), (sub,), None) for rest in owned.values() for sub in rest)
    return units


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except OSError:
        return 0.0


def _size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        try:
            return path.lstat().st_size
        except OSError:
            return 0
    total = 0
    for folder, _dirs, names in os.walk(path):  # links are not followed
        for name in names:
            with contextlib.suppress(OSError):
                total += (Path(folder) / name).lstat().st_size
    return total


def plan_prune(sessions_dir: Path, *, now: float, older_than_s: float) -> PrunePlan:
    """Decide what to delete in ``sessions_dir``: stale units, then the blobs only they referred to."""
    units = _units(sessions_dir)
    ages = [(u.key, max(_mtime(p) for p in (*u.sessions, *u.subagents, u.key))) for u in units]
    doomed_keys = set(stale_sessions(ages, now=now, older_than_s=older_than_s))
    doomed = [u for u in units if u.key in doomed_keys]
    kept = [p for u in units if u.key not in doomed_keys for p in (*u.sessions, *u.subagents)]
    referenced = blob_refs(path.read_text(encoding="utf-8", errors="replace") for path in kept)
    blob_dir = sessions_dir / BLOBS_DIR
    blobs = sorted(p for p in blob_dir.glob("*.txt") if p.stem not in referenced) if blob_dir.is_dir() else []
    sessions = sorted(p for u in doomed for p in u.sessions)
    subagents = sorted(p for u in doomed for p in u.subagents)
    runs = sorted(u.run_dir for u in doomed if u.run_dir is not None)
    freed = sum(_size(p) for p in [*sessions, *subagents, *blobs, *runs])
    return PrunePlan(tuple(sessions), tuple(blobs), freed, tuple(subagents), tuple(runs))


def _remove_run(run_dir: Path) -> None:
    """An attempts run's directory: any worktree in it unregistered from git first, then the files (a link is
    removed as a link, never followed)."""
    repo = run_dir.parent.parent.parent  # <repo>/.v4agent/attempts/<run>
    if run_dir.is_symlink() or run_dir.parent.is_symlink():
        if run_dir.is_symlink() and not run_dir.parent.is_symlink():
            run_dir.unlink(missing_ok=True)
        return
    for child in sorted(run_dir.iterdir()) if run_dir.is_dir() else []:
        if child.is_dir() and not child.is_symlink() and (child / ".git").is_file():
            with contextlib.suppress(GitError):  # else removed with the directory below, its record pruned
                run_git(repo, "worktree", "remove", "--force", "--force", str(child))
    shutil.rmtree(run_dir, ignore_errors=True)
    with contextlib.suppress(GitError):
        run_git(repo, "worktree", "prune", ok=None)


def apply_prune(plan: PrunePlan) -> None:
    """Delete the planned files, sessions before what they own, blobs last."""
    # Sessions first: a crash between the steps leaves unreferenced subagent files, run directories or blobs
    # (pruned next time), never a session whose blob or run is gone.
    for path in plan.sessions:
        path.unlink(missing_ok=True)
    for path in plan.subagents:
        path.unlink(missing_ok=True)
    for run_dir in plan.attempt_runs:
        _remove_run(run_dir)
    for path in plan.blobs:
        path.unlink(missing_ok=True)
