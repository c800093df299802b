"""What undoing a session (or its turns after one) would do to each file, decided before anything is touched.

Only files the session's checkpoints name are ever looked at. For each, the target is the state the first
undone turn found, and the file is safe to put back only while it is still exactly what the last turn left:
anything else means someone changed it since, and it is left alone (``--force`` saves it, then restores).
Committed turns are undone by ``git revert`` of their commits, newest first. ``classify`` is the rule, pure.

A file tool killed between its record and its end leaves that record ``pending``: the file may hold what the
record says it left, or still what it held just before the tool (the write never landed); both are the
session's. A command cut off by a kill leaves its turn's ``running`` tree (the working tree as it started) and no record
of what it changed: every path that differs from that tree now may be its change or a person's, so each is
listed with the tree's state as the target and left alone unless ``--force`` (which saves it first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from v4agent.agent.sessions.records import CheckpointRecord
from v4agent.agent.sessions.store import SessionData
from v4agent.core.checkpoints import (
    UNKNOWN,
    FileChange,
    FileState,
    current_states,
    diff_names,
    tree_states,
    unsafe_reason,
)
from v4agent.core.git import GitError, run_git
from v4agent.core.gitcommits import is_ancestor
from v4agent.core.gitstart import worktree_tree
from v4agent.core.pathtext import display_path

__all__ = ["INTERRUPTED", "FileStep", "RevertStep", "UndoPlan", "classify", "describe_plan", "describe_step", "plan_changes",
           "plan_session"]

Action = Literal["restore", "delete", "recreate", "none", "keep"]

# What a command cut off mid-run left: never recorded, so never equal to what is there now.
INTERRUPTED = FileState("", "interrupted")


@dataclass(frozen=True)
class FileStep:
    """One file: what undo does with it (``none``: already as it was; ``keep``: left alone) and why."""

    path: str
    action: Action
    target: FileState
    current: FileState
    safe: bool  # it is exactly what the session left: undo acts without --force
    forceable: bool = False  # left alone unless --force (changed since the session)
    why: str = ""

    def acts(self, force: bool) -> bool:
        """Whether this step changes the file (with or without ``force``)."""
        return self.action in ("restore", "delete", "recreate") and (self.safe or (force and self.forceable))


@dataclass(frozen=True)
class RevertStep:
    """A commit the session made, to be undone with ``git revert``."""

    commit: str
    subject: str
    turns: tuple[int, ...]
    paths: tuple[str, ...]


@dataclass(frozen=True)
class UndoPlan:
    """Everything an undo would do, and what it would leave alone, in the order it would do it."""

    session_id: str
    to_turn: int
    turns: tuple[int, ...]  # the turns undone
    files: tuple[FileStep, ...]
    reverts: tuple[RevertStep, ...] = ()
    problems: tuple[str, ...] = ()  # what cannot be undone here, said once each
    legacy: bool = False  # recorded before per-file checkpoints: only the start state is known

    def acting(self, force: bool) -> list[FileStep]:
        """The file steps carried out (``force``: the changed-since ones too)."""
        return [step for step in self.files if step.acts(force)]

    def left_alone(self, force: bool) -> list[FileStep]:
        """The files undo would not put back (changed since, unknown, unsafe)."""
        return [step for step in self.files if step.action != "none" and not step.acts(force)]


def _action(target: FileState, current: FileState) -> Action:
    if not target.exists:
        return "delete"
    return "recreate" if not current.exists else "restore"


def classify(path: str, target: FileState, left: FileState, current: FileState,
             also: FileState | None = None) -> FileStep:
    """The rule for one file: put back ``target`` only if ``current`` is still what the session ``left`` (pure).

    ``also``: a second state the session may have left, the file just before a tool whose record was written
    but whose end never was (killed in between: its write may or may not have landed)."""
    why = unsafe_reason(path)
    if why:
        return FileStep(path, "keep", target, current, safe=False, why=f"refused: {why}")
    if current.mode == "unsafe":
        return FileStep(path, "keep", target, current, safe=False, why="refused: a directory on its way is a link")
    if current == target:
        return FileStep(path, "none", target, current, safe=True, why="already as it was")
    if not target.restorable:
        return FileStep(path, "keep", target, current, safe=False, why="its content before the session was "
                        "not recorded")
    if current.mode == "other":
        return FileStep(path, "keep", target, current, safe=False, why="now a directory or a special file")
    action = _action(target, current)
    if current == left or (also is not None and current == also and left != INTERRUPTED):
        return FileStep(path, action, target, current, safe=True)
    if left == UNKNOWN:
        why = "recorded before per-file checkpoints; --force saves it and restores the session's start"
    elif left == INTERRUPTED:
        why = ("changed since a command of the session was cut off (its change cannot be told from yours); "
               "--force saves it first, then restores it")
    else:
        why = "changed since the session; --force saves it first, then restores it"
    return FileStep(path, action, target, current, safe=False, forceable=True, why=why)


def _targets(changesets: Sequence[Sequence[FileChange]]) -> dict[str, tuple[FileState, FileState]]:
    """Per path: (found by the first change set touching it, left by the last one)."""
    out: dict[str, tuple[FileState, FileState]] = {}
    for changes in changesets:
        for change in changes:
            first = out.get(change.path)
            out[change.path] = (first[0] if first else change.found, change.left)
    return out


def plan_changes(root: Path, changesets: Sequence[Sequence[FileChange]],
                 also: Mapping[str, FileState] | None = None) -> tuple[FileStep, ...]:
    """The file steps that undo these change sets (oldest first), against the working tree now (``also``: per
    path, a second state the session may have left: see ``classify``)."""
    targets = _targets(changesets)
    safe = [p for p in targets if not unsafe_reason(p)]
    current = current_states(root, safe)
    also = also or {}
    return tuple(classify(p, found, left, current.get(p, UNKNOWN), also.get(p))
                 for p, (found, left) in targets.items())


def _pending_before(records: Sequence[CheckpointRecord]) -> dict[str, FileState]:
    """Per path whose last record is still pending (its tool's end never recorded): the state before the tool."""
    last: dict[str, CheckpointRecord] = {}
    for record in records:
        for change in record.changes:
            last[change.path] = record
    out: dict[str, FileState] = {}
    for path, record in last.items():
        pending = record.pending
        if isinstance(pending, Mapping) and pending.get("path") == path:
            before = FileState.from_json(pending.get("before"))
            if before.restorable:  # anything unreadable stays unknown: never taken as the session's
                out[path] = before
    return out


def _subject(root: Path, commit: str) -> str:
    try:
        return run_git(root, "log", "-1", "--format=%s", commit, text=True).strip()
    except GitError:
        return ""


def _reverts(root: Path, session: SessionData, to_turn: int) -> tuple[list[RevertStep], list[str], set[int]]:
    """The commits to revert (newest first), the problems, and every committed turn."""
    steps: list[RevertStep] = []
    problems: list[str] = []
    committed: set[int] = set()
    paths_of = {c.turn: [ch.path for ch in c.changes] for c in session.checkpoints}
    for record in session.commits:
        committed.update(record.turns)
        later = [t for t in record.turns if t > to_turn]
        if not later:
            continue
        short = record.commit[:12]
        if len(later) != len(record.turns):
            problems.append(f"turns {min(record.turns)}-{max(record.turns)} were committed together as {short}: "
                            f"undo --to {min(record.turns) - 1} or --to {max(record.turns)}")
        elif not is_ancestor(root, record.commit):
            problems.append(f"commit {short} is not in the current branch's history; left alone")
        else:
            paths = tuple(dict.fromkeys(p for t in record.turns for p in paths_of.get(t, ())))
            steps.append(RevertStep(record.commit, _subject(root, record.commit) or record.subject,
                                    record.turns, paths))
    return steps[::-1], problems, committed


def _legacy(root: Path, session: SessionData) -> tuple[FileStep, ...]:
    """A session recorded before checkpoints: its tool records name the paths; the start tree, what they were."""
    raw = session.start.git
    tree = str(raw.get("tree", "")) if isinstance(raw, Mapping) else ""
    paths = list(dict.fromkeys(p for t in session.tools_run for p in t.changed_paths))
    if not tree or not paths:
        return ()
    found = tree_states(root, tree, [p for p in paths if not unsafe_reason(p)])
    return plan_changes(root, [[FileChange(p, found.get(p, UNKNOWN), UNKNOWN) for p in paths]])


def plan_session(root: Path, session: SessionData, to_turn: int = 0) -> UndoPlan:
    """What undoing ``session``'s turns after ``to_turn`` (0: all of it) would do now."""
    later = [c for c in session.checkpoints if c.turn > to_turn]
    if session.start.undo is None and not session.checkpoints and not session.commits:
        return UndoPlan(session.session_id, 0, (), _legacy(root, session), legacy=True)
    reverts, problems, committed = _reverts(root, session, to_turn)
    changesets: list[Sequence[FileChange]] = []
    undone = [record for record in later if record.turn not in committed]
    for record in undone:
        changesets.append(record.changes)
        if record.running:
            changesets.append(_cut_off(root, record.running, problems))
    files = plan_changes(root, changesets, _pending_before(undone))
    turns = tuple(c.turn for c in later if c.changes or c.running)  # a command that changed nothing: no turn
    return UndoPlan(session.session_id, to_turn, turns, files, tuple(reverts), tuple(problems))


def _cut_off(root: Path, tree: str, problems: list[str]) -> list[FileChange]:
    """The paths a command cut off mid-run may have changed: all that differ from the tree it started from."""
    try:
        paths = [p for p in diff_names(root, tree, worktree_tree(root)) if not unsafe_reason(p)]
        found = tree_states(root, tree, paths)
    except GitError as exc:
        problems.append(f"a command of the session was cut off and the tree it started from is unreadable ({exc})")
        return []
    return [FileChange(p, found[p], INTERRUPTED) for p in paths]


_VERBS = {"restore": "restore", "delete": "delete", "recreate": "recreate", "none": "already", "keep": "left alone"}


def describe_step(step: FileStep, force: bool) -> str:
    """One line for a file step: what happens to it and, when it is left alone or forced, why (pure)."""
    shown = display_path(step.path)
    if step.action == "none":
        return f"  already    {shown} (as it was)"
    if not step.acts(force):
        return f"  left alone {shown}: {step.why}"
    note = {"delete": " (created by the session, unchanged since)", "recreate": " (deleted by the session)"}
    forced = " (changed since the session: saved first, then restored)" if not step.safe else ""
    return f"  {_VERBS[step.action]:<10} {shown}{forced or note.get(step.action, '')}"


def describe_plan(plan: UndoPlan, force: bool) -> list[str]:
    """The plan as the lines `undo --dry-run` and /rewind show, in the order it would act (pure)."""
    lines = [describe_step(step, force) for step in plan.files if step.acts(force)]
    lines += [f"  revert     {r.commit[:12]} {r.subject} (turns {', '.join(map(str, r.turns))})"
              for r in plan.reverts]
    lines += [describe_step(step, force) for step in plan.files if not step.acts(force)]
    lines += [f"  cannot     {problem}" for problem in plan.problems]
    return lines
