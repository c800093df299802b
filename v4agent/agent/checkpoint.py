"""Turn checkpoints of a running session: per file a tool call changed, the state it found and the state it left.

The front ends pass the loop's ``ToolStarted``/``ToolDone`` events through a ``TurnRecorder``. Before an edit
tool runs, the file it names is hashed into git's object store; after it, the paths it reports changed are
hashed again. A command (shell, tests) may change any file, so the working tree is written to a tree before and
after it, and the paths that differ are what it changed. After every call that changed something, the turn's
``CheckpointRecord`` (found: before its first change; left: after its last) is written to the session file,
each one amending the last, so a crash loses no change; its blobs are kept alive by a checkpoint ref
(``core.checkpoints``). Only what the tools did is recorded: a file the user edits meanwhile is not the
session's, and undo will never touch it.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from v4agent.agent.events import Event, ToolDone, ToolOutcome, ToolStarted
from v4agent.agent.sessions.records import CheckpointRecord
from v4agent.agent.sessions.store import SessionWriter
from v4agent.core.checkpoints import (
    UNKNOWN,
    FileChange,
    FileState,
    UnsafePath,
    checkpoint_ref,
    current_states,
    diff_names,
    tree_states,
    write_checkpoint,
)
from v4agent.core.git import GitError
from v4agent.core.gitstart import worktree_tree
from v4agent.tools.registry import edits_files, runs_command

__all__ = ["ToolChange", "TurnRecorder"]

_RECORD_ERRORS = (GitError, OSError, UnsafePath)


@dataclass(frozen=True)
class ToolChange:
    """What one tool call changed (the chat's /undo puts back the last one, or a whole turn's)."""

    turn: int
    label: str  # "edit_file app.py" for messages and commit bodies
    changes: tuple[FileChange, ...]


def _argument_path(arguments: str) -> str:
    try:
        raw = json.loads(arguments)
    except (ValueError, RecursionError):  # not JSON, or nested past the decoder's depth (the tool refuses it)
        return ""
    path = raw.get("path") if isinstance(raw, dict) else None
    return _normal(path) if isinstance(path, str) and path.strip() else ""


def _normal(path: str) -> str:
    return posixpath.normpath(path.strip()).lstrip("/")


def tool_label(name: str, arguments: str) -> str:
    """``edit_file app.py`` / ``shell: make fmt``: a tool call in a few words (for messages and commits)."""
    try:
        raw = json.loads(arguments)
    except (ValueError, RecursionError):
        raw = {}
    if not isinstance(raw, dict):
        raw = {}
    if isinstance(raw.get("command"), str):
        command = " ".join(str(raw["command"]).split())
        return f"{name}: {command[:60]}" + ("…" if len(command) > 60 else "")
    path = raw.get("path")
    return f"{name} {path}" if isinstance(path, str) else name


class TurnRecorder:
    """Records what the tools of each turn changed, and writes one checkpoint per turn that changed files."""

    def __init__(self, root: Path, writer: SessionWriter, *, warn: Callable[[str], None] | None = None,
                 on_checkpoint: Callable[[CheckpointRecord, list[ToolChange]], None] | None = None) -> None:
        self.root = root
        self.writer = writer
        self.warn = warn or (lambda _line: None)
        self.on_checkpoint = on_checkpoint
        self.turn = 0
        self.tool_changes: list[ToolChange] = []  # this process's, oldest first
        self.records: dict[int, CheckpointRecord] = {}  # the turn's merged checkpoint, as last written
        self._found: dict[str, FileState] = {}
        self._left: dict[str, FileState] = {}
        self._pending: list[ToolChange] = []
        self._pre: dict[str, FileState] = {}
        self._before_tree = ""
        self._warned = False

    def _failed(self, what: str, exc: Exception) -> None:
        if not self._warned:  # once per recorder: a broken repository would say the same every turn
            self._warned = True
            self.warn(f"could not record {what} for undo: {exc}")

    # -- events ----------------------------------------------------------------------------------------------

    def observe(self, event: Event, turn: int | None = None) -> None:
        """Take one loop event (``turn``: the front end's own turn number, else the event's)."""
        if isinstance(event, ToolStarted):
            self._switch(turn if turn is not None else event.turn)
            self._started(event.name, event.arguments)
        elif isinstance(event, ToolDone):
            self._switch(turn if turn is not None else event.turn)
            self._done(event.name, event.arguments, event.result)

    def _switch(self, turn: int) -> None:
        if turn != self.turn:
            self.end_turn()
            self.turn = turn

    def _started(self, name: str, arguments: str) -> None:
        self._pre, self._before_tree = {}, ""
        try:
            if edits_files(name):
                rel = _argument_path(arguments)
                if rel:
                    self._pre = current_states(self.root, [rel], write=True)  # the content is about to be replaced
            elif runs_command(name):
                self._before_tree = worktree_tree(self.root)
        except _RECORD_ERRORS as exc:
            self._failed(f"the files before {name}", exc)

    def _done(self, name: str, arguments: str, result: ToolOutcome) -> None:
        try:
            found, left = self._states(name, result)
        except _RECORD_ERRORS as exc:
            self._failed(f"what {name} changed", exc)
            return
        changes = tuple(FileChange(p, found[p], left[p]) for p in left if found[p] != left[p])
        if not changes:
            return
        for change in changes:
            self._found.setdefault(change.path, change.found)
            self._left[change.path] = change.left
        self._pending.append(ToolChange(self.turn, tool_label(name, arguments), changes))
        # Durable now (the turn may never end cleanly). Every path the turn touched is written, one changed back
        # included: a record amends the last one per path, so a path left out would keep its old state.
        self._write(self.turn, [FileChange(p, self._found[p], s) for p, s in self._left.items()])

    def _states(self, name: str, result: ToolOutcome) -> tuple[dict[str, FileState], dict[str, FileState]]:
        if edits_files(name) and result.changed_paths:
            paths = list(dict.fromkeys(result.changed_paths))
            left = current_states(self.root, paths, write=True)
            found = {p: self._pre.get(_normal(p), UNKNOWN) for p in paths}
            if len(paths) == 1 and len(self._pre) == 1 and found[paths[0]] is UNKNOWN:
                found[paths[0]] = next(iter(self._pre.values()))  # the same file, spelled differently
            return found, left
        if runs_command(name) and self._before_tree:
            after = worktree_tree(self.root)
            paths = diff_names(self.root, self._before_tree, after)
            return tree_states(self.root, self._before_tree, paths), tree_states(self.root, after, paths)
        return {}, {}

    # -- checkpoints -----------------------------------------------------------------------------------------

    def end_turn(self) -> CheckpointRecord | None:
        """Close the current turn: its checkpoint (already written) if its tools changed files, else None."""
        pending = self._pending
        self._found, self._left, self._pending = {}, {}, []
        record = self.records.get(self.turn) if pending else None
        if record is None:
            return None
        self.tool_changes.extend(pending)
        record = replace(record, changes=tuple(c for c in record.changes if c.found != c.left))
        if not record.changes:
            return None
        if self.on_checkpoint is not None:
            self.on_checkpoint(record, pending)
        return record

    def amend(self, turn: int, changes: list[FileChange]) -> CheckpointRecord:
        """Record that files of an already checkpointed ``turn`` were changed again (the chat's /undo)."""
        merged = {c.path: c for c in (self.records[turn].changes if turn in self.records else ())}
        for change in changes:
            before = merged.get(change.path)
            merged[change.path] = FileChange(change.path, before.found if before else change.found, change.left)
        return self._write(turn, list(merged.values()))

    def _write(self, turn: int, changes: list[FileChange]) -> CheckpointRecord:
        ref, tree = checkpoint_ref(self.writer.session_id, turn), ""
        try:
            tree = write_checkpoint(self.root, ref, changes)
        except GitError as exc:  # the record still says what to restore; only the gc protection is missing
            self._failed("a checkpoint ref", exc)
            ref = ""
        record = CheckpointRecord(turn, tuple(changes), ref, tree)
        self.writer.write(record)
        self.records[turn] = record
        return record

    def forget_after(self, turn: int) -> None:
        """Drop this process's record of turns after ``turn`` (they were rewound)."""
        self.tool_changes = [t for t in self.tool_changes if t.turn <= turn]
        self.records = {t: r for t, r in self.records.items() if t <= turn}
