"""Pruning old sessions and the stored contents no remaining session refers to.

Sessions accumulate: each is small, but every repository state a session packed leaves a copy of its pack in
``sessions/blobs/`` (a few MB for a whole-window pack). The cost ledger is separate and is never pruned here.
The newest session is always kept (``undo`` works on it), and a blob goes only when no kept session names it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from v4agent.agent.sessions.blobs import BLOBS_DIR, blob_refs

__all__ = ["PrunePlan", "apply_prune", "plan_prune"]


@dataclass(frozen=True)
class PrunePlan:
    """What a prune deletes: old session files, blobs no kept session names, and the bytes freed."""

    sessions: tuple[Path, ...]  # session files to delete
    blobs: tuple[Path, ...]  # stored contents no kept session refers to
    freed_bytes: int


def stale_sessions(files: Sequence[tuple[Path, float]], *, now: float, older_than_s: float) -> list[Path]:
    """Session files last written more than ``older_than_s`` ago, never the newest one (pure)."""
    if not files:
        return []
    newest = max(files, key=lambda item: (item[1], item[0].name))[0]
    return sorted(path for path, mtime in files if path != newest and now - mtime > older_than_s)


def plan_prune(sessions_dir: Path, *, now: float, older_than_s: float) -> PrunePlan:
    """Decide what to delete in ``sessions_dir``: stale sessions, then the blobs only they referred to."""
    files = [(path, path.stat().st_mtime) for path in sorted(sessions_dir.glob("*.jsonl"))]
    doomed = set(stale_sessions(files, now=now, older_than_s=older_than_s))
    kept = [path for path, _ in files if path not in doomed]
    referenced = blob_refs(path.read_text(encoding="utf-8", errors="replace") for path in kept)
    blob_dir = sessions_dir / BLOBS_DIR
    blobs = sorted(p for p in blob_dir.glob("*.txt") if p.stem not in referenced) if blob_dir.is_dir() else []
    freed = sum(p.stat().st_size for p in [*doomed, *blobs])
    return PrunePlan(tuple(sorted(doomed)), tuple(blobs), freed)


def apply_prune(plan: PrunePlan) -> None:
    """Delete the planned files, sessions before blobs."""
    # Sessions first: a crash between the two leaves unreferenced blobs (pruned next time), never a session
    # whose blob is gone.
    for path in [*plan.sessions, *plan.blobs]:
        path.unlink(missing_ok=True)
