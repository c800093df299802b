"""Applying an attempt's diff as a session change, so `v4agent undo` takes it back under undo's own rules.

The apply gets a session file of its own, ``<run>-apply`` (``-apply2`` for the next apply of the same run),
whose one checkpoint records, per file the diff touches, the state it found and the state the apply left, the
blobs kept by a checkpoint ref like any turn's. So undo restores a file only while it is still exactly what the
apply left: a person's edit made after the apply is never reverted. Before the diff goes in, the checkpoint is
written with the tree as it stands (``running``): a kill mid-apply leaves undo every changed path to list,
touching none without ``--force``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from v4agent.agent.sessions.records import CheckpointRecord, EndRecord, StartRecord
from v4agent.agent.sessions.store import SessionWriter, sessions_dir
from v4agent.core.checkpoints import (
    UNKNOWN,
    FileChange,
    checkpoint_ref,
    current_states,
    unsafe_reason,
    write_checkpoint,
)
from v4agent.core.git import GitError
from v4agent.core.gitstart import worktree_tree
from v4agent.refactor.attempts.applydiff import ApplyResult, apply_diff, touched_paths
from v4agent.refactor.attempts.manifest import GroupRecord
from v4agent.refactor.attempts.worktrees import group_dir

__all__ = ["APPLY_KIND", "apply_recorded", "apply_session_id"]

APPLY_KIND = "attempt-apply"


def apply_session_id(root: Path, group: str) -> str:
    """``<group>-apply``, or ``-apply2``, ``-apply3``... when the run was applied before (each undoable)."""
    directory = sessions_dir(root, create=False)
    for n in range(1, 1000):
        sid = f"{group}-apply{n if n > 1 else ''}"
        if not (directory / f"{sid}.jsonl").exists():
            return sid
    raise GitError(f"run {group} was applied too many times", hint="`v4agent sessions prune` old applies")


def apply_recorded(root: Path, record: GroupRecord, number: int) -> ApplyResult:
    """Apply attempt ``number``'s diff to the tree at ``root`` (``apply_diff``'s rule) and record it for undo."""
    attempt = record.attempt(number)
    diff_file = group_dir(root, record.group) / attempt.diff_file
    if not diff_file.is_file() or diff_file.stat().st_size == 0:
        return apply_diff(root, record.start_tree, diff_file)  # nothing goes in: nothing to record
    try:
        paths = [p for p in touched_paths(root, diff_file) if not unsafe_reason(p)]
        found = current_states(root, paths, write=True)
        running = worktree_tree(root)
    except GitError:
        return apply_diff(root, record.start_tree, diff_file)  # it refuses, saying why
    sid = apply_session_id(root, record.group)
    start = StartRecord(task=f"apply attempt {number} of run {record.group}: {record.task}", kind=APPLY_KIND,
                        repo=str(root), git={"tree": record.start_tree, "commit": record.start_commit},
                        undo="checkpoints")
    writer = SessionWriter.create(root, start, sid)
    writer.write(CheckpointRecord(1, tuple(FileChange(p, found[p], UNKNOWN) for p in paths), running=running))
    result = apply_diff(root, record.start_tree, diff_file)
    if not result.applied:
        writer.path.unlink(missing_ok=True)  # nothing changed: no session to undo
        return result
    left = current_states(root, paths, write=True)
    changes = tuple(FileChange(p, found[p], left[p]) for p in paths if found[p] != left[p])
    ref = checkpoint_ref(sid, 1)
    tree = write_checkpoint(root, ref, changes)
    writer.write(CheckpointRecord(1, changes, ref, tree))
    writer.write(EndRecord("finished", f"attempt {number} of run {record.group} applied", attempt.summary))
    return replace(result, note=f"{result.note}; `v4agent undo --session {sid}` takes it back")
