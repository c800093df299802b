"""Turn checkpoints of a running session: per file a tool call changed, the state it found and the state it left.

The front ends pass the loop's ``ToolStarted``/``ToolDone`` events through a ``TurnRecorder``. The record comes
*before* the change: as an edit tool starts, the file it names is hashed into git's object store, the content the
call will write is worked out with the tool's own steps (``tools/editplan.py``) and hashed too, and the turn's
``CheckpointRecord`` saying "found X, will leave Y", marked ``pending`` with the file's state just before the
call, is appended and fsynced (blobs and ref fsynced by git) before the tool runs; a small record after it
clears the mark. As a command (shell, tests) starts, the working tree is written to a tree and that tree is
recorded as the turn's ``running`` state. After the call, the paths it really changed are hashed again and the
record is amended where it differs (a failed call cancels its planned change; a command's differing paths
become its changes and ``running`` is cleared). So a kill at any instant leaves a record undo can act on: a file
is what the record says it left or, while it is pending, what it held just before the call; a command cut off leaves ``running``,
whose changes undo cannot tell from a person's and leaves alone unless ``--force``. Each record amends the
last one of its turn; its blobs are kept alive by a checkpoint ref (``core.checkpoints``). Only what the tools
did is recorded: a file the user edits meanwhile is not the session's, and undo will never touch it.
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
    durable_git_env,
    state_of_bytes,
    tree_states,
    write_checkpoint,
)
from v4agent.core.git import GitError, run_git
from v4agent.core.gitstart import worktree_tree
from v4agent.tools.editplan import planned_write
from v4agent.tools.registry import edits_files, runs_command

__all__ = ["ToolChange", "TurnRecorder", "running_ref"]

_RECORD_ERRORS = (GitError, OSError, UnsafePath)


@dataclass(frozen=True)
class ToolChange:
    """What one tool call changed (the chat's /undo puts back the last one, or a whole turn's)."""

    turn: int
    label: str  # "edit_file app.py" for messages and commit bodies
    changes: tuple[FileChange, ...]


def running_ref(session_id: str) -> str:
    """The ref that keeps the tree a session's running command started from (its undo target) alive."""
    return f"{checkpoint_ref(session_id, 0).rsplit('/', 1)[0]}/running"


@dataclass(frozen=True)
class _Intent:
    """The change an edit tool was about to make, as recorded before it ran."""

    path: str
    found: FileState  # the turn's found state of the path (what undo puts back)
    written: tuple[FileChange, ...]  # the whole record written before the call


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
        self._intent: _Intent | None = None
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
        self._pre, self._before_tree, self._intent = {}, "", None
        try:
            if edits_files(name):
                rel = _argument_path(arguments)
                if rel:
                    self._pre = current_states(self.root, [rel], write=True)  # the content is about to be replaced
                self._intend(name, arguments)
            elif runs_command(name):
                self._before_tree = worktree_tree(self.root)
                self._command_starts(self._before_tree)
        except _RECORD_ERRORS as exc:
            self._failed(f"the files before {name}", exc)

    def _turn_changes(self) -> list[FileChange]:
        return [FileChange(p, self._found[p], s) for p, s in self._left.items()]

    def _intend(self, name: str, arguments: str) -> None:
        """Record, durably, the change the call is about to make (none when it would fail or change nothing)."""
        plan = planned_write(self.root, name, arguments)
        if plan is None:
            return
        found = self._pre[plan.rel] if plan.rel in self._pre else current_states(self.root, [plan.rel],
                                                                                  write=True)[plan.rel]
        left = state_of_bytes(self.root, plan.rel, plan.data, plan.mode)
        if left == found:
            return
        turn_found = self._found.get(plan.rel, found)
        written = [c for c in self._turn_changes() if c.path != plan.rel] + [FileChange(plan.rel, turn_found, left)]
        # ``before``: the file just before this call (the turn's last left, if it changed it already): while the
        # record is pending, undo takes that state as the session's too (the write may never have landed).
        before = self._left.get(plan.rel, found)
        self._write(self.turn, written, pending={"path": plan.rel, "before": before.to_json()})
        self._intent = _Intent(plan.rel, turn_found, tuple(written))

    def _command_starts(self, tree: str) -> None:
        """Record, durably, the tree a command starts from: what undo puts back if the command is cut off."""
        try:
            run_git(self.root, "update-ref", "-m", "v4agent running command", running_ref(self.writer.session_id),
                    tree, env=durable_git_env())
        except GitError as exc:  # the record still names the tree; only its gc protection is missing
            self._failed("a checkpoint ref", exc)
        self._write(self.turn, self._turn_changes(), running=tree)

    def _done(self, name: str, arguments: str, result: ToolOutcome) -> None:
        intent, command = self._intent, bool(self._before_tree)
        self._intent = None
        try:
            found, left = self._states(name, result)
        except _RECORD_ERRORS as exc:
            self._failed(f"what {name} changed", exc)
            return
        changes = tuple(FileChange(p, found[p], left[p]) for p in left if found[p] != left[p])
        if not changes and intent is None and not command:
            return
        for change in changes:
            self._found.setdefault(change.path, change.found)
            self._left[change.path] = change.left
        if changes:
            self._pending.append(ToolChange(self.turn, tool_label(name, arguments), changes))
        # Durable now (the turn may never end cleanly). Every path the turn touched is written, one changed back
        # included: a record amends the last one per path, so a path left out would keep its old state.
        written = self._turn_changes()
        if intent is not None and intent.path not in self._left:
            written.append(FileChange(intent.path, intent.found, intent.found))  # the planned change never came
        if intent is not None and not command and tuple(written) == intent.written:
            self._settle()  # it did exactly what the record written before it says
            return
        self._write(self.turn, written)
        if command:
            try:  # settled: the record above names what the command changed
                run_git(self.root, "update-ref", "-d", running_ref(self.writer.session_id))
            except GitError as exc:
                self._failed("a checkpoint ref", exc)

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

    def _settle(self) -> None:
        """Clear the pending mark of the turn's record: a record that amends it with nothing but that."""
        record = replace(self.records[self.turn], pending=None)
        self.writer.write(replace(record, changes=()))  # the store merges it into the turn's last record
        self.records[self.turn] = record

    def _write(self, turn: int, changes: list[FileChange], *, running: str = "",
               pending: dict[str, str] | None = None) -> CheckpointRecord:
        ref, tree = checkpoint_ref(self.writer.session_id, turn), ""
        try:
            tree = write_checkpoint(self.root, ref, changes)
        except GitError as exc:  # the record still says what to restore; only the gc protection is missing
            self._failed("a checkpoint ref", exc)
            ref = ""
        record = CheckpointRecord(turn, tuple(changes), ref, tree, running, pending)
        self.writer.write(record)
        self.records[turn] = record
        return record

    def forget_after(self, turn: int) -> None:
        """Drop this process's record of turns after ``turn`` (they were rewound)."""
        self.tool_changes = [t for t in self.tool_changes if t.turn <= turn]
        self.records = {t: r for t, r in self.records.items() if t <= turn}
