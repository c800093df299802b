"""`refactor --commit`: one commit per turn that changed files (or, with ``--commit-end``, one for the run).

The message is made from the turn itself, without a model call: the tool calls that changed files, the task,
the model's closing summary when the turn has one, and trailers naming the session and turn. Model-written text
has its control characters removed before it goes into a commit. Each commit is recorded in the session
(``CommitRecord``) so that `v4agent undo` reverts it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from v4agent.agent.checkpoint import ToolChange, TurnRecorder
from v4agent.agent.loop import Event, ToolDone
from v4agent.agent.sessions.records import CheckpointRecord, CommitRecord
from v4agent.agent.sessions.store import SessionWriter
from v4agent.core.checkpoints import FileChange
from v4agent.core.git import GitError, run_git
from v4agent.core.gitcommits import commit_changes

__all__ = ["COMMIT_MODES", "Committer", "commit_message"]

COMMIT_MODES = ("turn", "end")
_SUBJECT_WIDTH = 72
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _clean(text: str) -> str:
    return _CONTROL.sub("", text).strip()


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def commit_message(*, session_id: str, turns: list[int], task: str, lines: list[str], summary: str) -> str:
    """The message of a commit of ``turns``: subject, task, what the tools did, summary, trailers (pure)."""
    task_line = _clean(task).splitlines()[0] if _clean(task) else ""
    lines = [_clean(line) for line in lines]
    if len(turns) == 1:
        subject = _clip(f"v4agent turn {turns[0]}: " + "; ".join(lines), _SUBJECT_WIDTH)
    else:
        subject = _clip(f"v4agent: {task_line or 'session ' + session_id}", _SUBJECT_WIDTH)
    body = [f"Task: {_clip(task_line, 200)}"] if task_line else []
    body.append("\n".join(f"- {line}" for line in lines))
    if _clean(summary):
        body.append(_clean(summary))
    trailers = [f"V4agent-Session: {session_id}"] + [f"V4agent-Turn: {t}" for t in turns]
    return "\n\n".join([subject, *body, "\n".join(trailers)]) + "\n"


class Committer:
    """Commits checkpoints as the recorder writes them (``turn``), or everything at the end (``end``)."""

    def __init__(self, root: Path, writer: SessionWriter, mode: str, task: str,
                 say: Callable[[str], None], warn: Callable[[str], None]) -> None:
        self.root = root
        self.writer = writer
        self.mode = mode
        self.task = task
        self.say = say
        self.warn = warn
        self.summary = ""
        self._lines: dict[int, list[str]] = {}

    def observe(self, event: Event) -> None:
        """Keep the model's closing summary for the message."""
        if isinstance(event, ToolDone) and event.result.finished and event.result.summary:
            self.summary = event.result.summary

    def checkpoint(self, record: CheckpointRecord, tools: list[ToolChange]) -> None:
        """A turn's checkpoint was written: commit it now (``turn``), or remember its lines (``end``)."""
        self._lines[record.turn] = [t.label for t in tools]
        if self.mode == "turn":
            self._commit([record.turn], list(record.changes), self._lines[record.turn])

    def finish(self, recorder: TurnRecorder) -> None:
        """At the end of the run (``end``): one commit of every file the run's turns changed."""
        if self.mode != "end" or not recorder.records:
            return
        merged: dict[str, FileChange] = {}
        for turn in sorted(recorder.records):
            for change in recorder.records[turn].changes:
                first = merged.get(change.path)
                merged[change.path] = FileChange(change.path, first.found if first else change.found, change.left)
        turns = sorted(recorder.records)
        lines = [f"turn {t}: {'; '.join(self._lines.get(t, []))}" for t in turns]
        self._commit(turns, [c for c in merged.values() if c.found != c.left], lines)

    def _commit(self, turns: list[int], changes: list[FileChange], lines: list[str]) -> None:
        if not changes:
            return
        message = commit_message(session_id=self.writer.session_id, turns=turns, task=self.task, lines=lines,
                                 summary=self.summary)
        try:
            commit = commit_changes(self.root, changes, message)
            branch = run_git(self.root, "branch", "--show-current", text=True).strip()
        except GitError as exc:
            self.warn(f"could not commit turn(s) {', '.join(map(str, turns))}: {exc.reason}; the changes stay in "
                      "the working tree")
            return
        if not commit:
            return
        subject = message.splitlines()[0]
        self.writer.write(CommitRecord(commit, tuple(turns), branch, subject))
        self.say(f"committed {commit[:12]} on {branch or 'a detached HEAD'}: {subject}")
