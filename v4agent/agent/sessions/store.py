"""Durable sessions: one JSON-lines file per session under ``.v4agent/sessions/<id>.jsonl``.

Every record is appended and fsync'd as it happens, so a crash or Ctrl-C loses at most the line in flight.
The exact messages sent are stored, so ``--resume`` continues with a byte-identical prefix (large contents,
such as the pack, once per repository state in ``sessions/blobs/``: see ``sessionblobs``).

This module is the only code that reads or writes session files: the writer takes records, and every reader
goes through one parser. The record types (``start``, ``message``, ``reset``, ``call``, ``tool``, ``end``,
``resume``, ``switch``, ``chat_undo``, ``undo``, ``checkpoint``, ``commit``) and their exact on-disk form are in
``records``.

A damaged line (not JSON, or not a valid record) loses that line only: the session is still listed, shown and
undoable, with ``unreadable_lines`` saying how many were lost (a lost message makes it unresumable: the prefix
it would send is not the one it sent).
"""

from __future__ import annotations

import json
import os
import secrets as _random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from v4agent.agent.request.layout import Message, ToolSchema
from v4agent.agent.sessions.blobs import BlobMissing, inline_contents, outline_contents
from v4agent.agent.sessions.records import (
    CallRecord,
    ChatUndoRecord,
    CheckpointRecord,
    CommitRecord,
    EndRecord,
    MessageRecord,
    ResetRecord,
    ResumeRecord,
    SessionRecord,
    StartRecord,
    SubtaskRecord,
    SwitchRecord,
    ToolRecord,
    UndoRecord,
    parse_record,
    record_json,
)
from v4agent.core.errors import ExitCode, V4AgentError
from v4agent.core.fsutil import append_line_durably
from v4agent.core.state import state_dir

SESSIONS_DIR = "sessions"


class SessionError(V4AgentError, exit_code=ExitCode.USAGE):
    """A session cannot be found or read."""


def sessions_dir(repo_root: Path, *, create: bool = True) -> Path:
    """The repository's ``.v4agent/sessions/`` directory, created (with its parent) when ``create``."""
    directory = state_dir(repo_root, create=create) / SESSIONS_DIR
    if create:
        directory.mkdir(parents=True, exist_ok=True)
    return directory


def new_session_id(now: datetime | None = None) -> str:
    """A fresh session id: the start time to the second, then six random hex digits (ids sort by start)."""
    moment = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{moment}-{_random.token_hex(3)}"


class SessionWriter:
    """Appends records to one session file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.session_id = path.stem

    @classmethod
    def create(cls, repo_root: Path, start: StartRecord, session_id: str | None = None) -> SessionWriter:
        """A new session file, its start record written (with the session id)."""
        sid = session_id or new_session_id()
        writer = cls(sessions_dir(repo_root) / f"{sid}.jsonl")
        if writer.path.exists():
            raise SessionError(f"session {sid} already exists")
        writer.write(replace(start, id=sid))
        return writer

    def write(self, record: SessionRecord) -> None:
        """Append one record, durably."""
        # Key order is kept (no sort_keys): tool schemas are rendered in the prompt as sent, so a resumed
        # session must send them back in exactly the same order to hit the cache.
        append_line_durably(self.path, json.dumps(record_json(record), ensure_ascii=False, separators=(",", ":")))

    def message(self, index: int, message: Message) -> None:
        """Append one conversation message (a large content stored once, as a blob)."""
        self.write(MessageRecord(index, outline_contents(message, self.path.parent)))


def _parse_line(line: str) -> SessionRecord | None:
    """One line as its record (None for an unknown type); ``ValueError`` if it is not a valid record."""
    raw = json.loads(line)
    if not isinstance(raw, dict):
        return None
    try:
        return parse_record(raw)
    except TypeError as exc:
        raise ValueError(f"a {raw.get('type')} record without its fields ({exc})") from None


def _read_records(path: Path) -> tuple[list[SessionRecord], int]:
    """The file's records, and how many lines could not be read (a torn last line is not counted)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise SessionError(f"cannot read session {path.name}: {exc.strerror or exc}") from None
    records: list[SessionRecord] = []
    bad = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = _parse_line(line)
        except json.JSONDecodeError:
            if number != len(lines):  # the last one is the line in flight when the process died
                bad += 1
            continue
        except ValueError:
            bad += 1
            continue
        if record is not None:
            records.append(record)
    return records, bad


@dataclass
class SessionData:
    """A session read back: its start record, current messages, calls, tool runs and last status."""

    session_id: str
    path: Path
    start: StartRecord
    messages: list[Message] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    tools_run: list[ToolRecord] = field(default_factory=list)
    ends: list[EndRecord] = field(default_factory=list)
    settings_changes: list[ResumeRecord | SwitchRecord] = field(default_factory=list)
    chat_undos: list[ChatUndoRecord] = field(default_factory=list)
    checkpoints: list[CheckpointRecord] = field(default_factory=list)  # live: not undone, one per turn, in order
    commits: list[CommitRecord] = field(default_factory=list)  # of live turns
    undos: list[UndoRecord] = field(default_factory=list)
    subtasks: list[SubtaskRecord] = field(default_factory=list)  # subagents the task tool ran (costs nested)
    resets: int = 0
    compacted: bool = False  # its conversation was summarized: turns before that are gone from it
    undone: bool = False
    damaged: str = ""  # why a stored message content could not be read back: listable, undoable, not resumable
    unreadable_lines: int = 0  # lines lost to damage: the session is shown with a warning

    @property
    def task(self) -> str:
        """The task the session was started with ("" if none)."""
        return str(self.start.task or "")

    @property
    def tools(self) -> list[ToolSchema]:
        """The tool schemas the session sends, as recorded at its start."""
        return list(self.start.tools or [])

    @property
    def status(self) -> str:
        """The last end record's status, or "interrupted" when the session never ended."""
        if not self.ends:
            return "interrupted"  # never reached an end record: killed or still running
        return str(self.ends[-1].status)

    @property
    def summary(self) -> str:
        """The model's summary from the last end record ("" if none)."""
        return str(self.ends[-1].summary) if self.ends else ""

    @property
    def turns(self) -> int:
        """How many turn calls the session made (priming and compaction calls not counted)."""
        return sum(1 for c in self.calls if c.kind == "turn" and c.finish_reason != "cut")  # a cut attempt: retried

    @property
    def cost_usd(self) -> float:
        """The session's total cost over all its calls and its subagents' calls, in USD."""
        return float(sum(float(c.cost_usd or 0.0) for c in self.calls)
                     + sum(float(t.cost_usd or 0.0) for t in self.subtasks))

    @property
    def saved_usd(self) -> float:
        """What the cache saved over all the session's calls, in USD."""
        return float(sum(float(c.saved_usd or 0.0) for c in self.calls))

    def token_totals(self) -> dict[str, int]:
        """Token counts summed over the session's calls: prompt, hit, miss, output, reasoning."""
        totals = {"prompt": 0, "hit": 0, "miss": 0, "output": 0, "reasoning": 0}
        for call in self.calls:
            totals["prompt"] += int(call.prompt_tokens or 0)
            totals["hit"] += int(call.cache_hit or 0)
            totals["miss"] += int(call.cache_miss or 0)
            totals["output"] += int(call.output_tokens or 0)
            totals["reasoning"] += int(call.reasoning_tokens or 0)
        return totals

    @property
    def hit_ratio(self) -> float | None:
        """Hit tokens over prompt tokens across the session; None when no call reported its hits."""
        totals = self.token_totals()
        known = [c for c in self.calls if c.cache_hit is not None]
        if not known or totals["prompt"] == 0:
            return None
        return totals["hit"] / totals["prompt"]

    def last_settings(self) -> dict[str, str]:
        """The model/think the session last ran with (its ``resume`` and ``switch`` records, in order)."""
        found: dict[str, str] = {}
        for change in self.settings_changes:
            found.update({k: v for k, v in (("model", change.model), ("think", change.think)) if v})
        return found


def _add_message(data: SessionData, record: MessageRecord) -> None:
    index = int(record.index)
    if index > len(data.messages):  # the records in between were lost
        data.damaged = data.damaged or f"messages {len(data.messages)}-{index - 1} are unreadable"
        data.messages.extend({"role": "user", "content": "[message lost]"} for _ in range(index - len(data.messages)))
    elif index < len(data.messages):
        data.damaged = data.damaged or f"message {index} recorded twice"
        del data.messages[index:]
    try:
        data.messages.append(inline_contents(record.message, data.path.parent))
    except BlobMissing as exc:
        data.damaged = data.damaged or f"message {index}: {exc}"
        data.messages.append({**record.message, "content": f"[content missing: {exc}]"})


def _add_checkpoint(data: SessionData, record: CheckpointRecord) -> None:
    """Append a turn's checkpoint, or amend the last one when it is the same turn (found stays the first)."""
    data.undone = False
    last = data.checkpoints[-1] if data.checkpoints else None
    merged = {c.path: c for c in last.changes} if last is not None and last.turn == record.turn else {}
    for change in record.changes:
        before = merged.get(change.path)
        merged[change.path] = replace(change, found=before.found) if before is not None else change
    record = replace(record, changes=tuple(c for c in merged.values() if c.found != c.left))
    if last is not None and last.turn == record.turn:
        data.checkpoints[-1] = record
    else:
        data.checkpoints.append(record)


def _add_undo(data: SessionData, record: UndoRecord) -> None:
    data.undos.append(record)
    if not record.closes:
        return
    data.checkpoints = [c for c in data.checkpoints if c.turn <= record.to_turn]
    data.commits = [c for c in data.commits if all(t <= record.to_turn for t in c.turns)]
    data.undone = record.to_turn == 0


def _add(data: SessionData, record: SessionRecord) -> None:
    if isinstance(record, MessageRecord):
        _add_message(data, record)
    elif isinstance(record, ResetRecord):
        data.messages = []
        data.resets += 1
        data.compacted = data.compacted or record.reason == "compaction"
        data.damaged = ""  # what a resume would send starts again here
    elif isinstance(record, CallRecord):
        data.calls.append(record)
    elif isinstance(record, ToolRecord):
        data.tools_run.append(record)
    elif isinstance(record, EndRecord):
        data.ends.append(record)
    elif isinstance(record, ResumeRecord | SwitchRecord):
        data.settings_changes.append(record)
    elif isinstance(record, ChatUndoRecord):
        data.chat_undos.append(record)
    elif isinstance(record, UndoRecord):
        _add_undo(data, record)
    elif isinstance(record, CheckpointRecord):
        _add_checkpoint(data, record)
    elif isinstance(record, CommitRecord):
        data.commits.append(record)
    elif isinstance(record, SubtaskRecord):
        data.subtasks.append(record)


def read_session(path: Path) -> SessionData:
    """Read a session file back (``SessionError`` if it cannot be read or holds no readable record)."""
    records, bad = _read_records(path)
    if not records:
        raise SessionError(f"{path}: empty session file" if not bad else f"{path}: no readable record")
    first = records[0]
    start = first if isinstance(first, StartRecord) else StartRecord(id=path.stem)
    data = SessionData(str(start.id or path.stem), path, start, unreadable_lines=bad)
    if not isinstance(first, StartRecord):
        data.damaged = "its start record is unreadable"
    for record in records[1:] if isinstance(first, StartRecord) else records:
        _add(data, record)
    return data


def _is_prime_call(line: str) -> bool:
    try:
        record = _parse_line(line)
    except ValueError:
        return '"type":"call"' in line  # a torn line: the substrings are all there is to go on
    return isinstance(record, CallRecord) and record.kind == "prime"


def list_sessions(repo_root: Path) -> list[SessionData]:
    """Every readable session of a repository, oldest first (ids sort by time)."""
    directory = sessions_dir(repo_root, create=False)
    if not directory.is_dir():
        return []
    out = []
    for path in sorted(directory.glob("*.jsonl")):
        try:
            out.append(read_session(path))
        except SessionError:
            continue
    return out


def find_session(repo_root: Path, session_id: str | None) -> SessionData:
    """A session by id or unique id prefix; ``None`` means the latest."""
    sessions = list_sessions(repo_root)
    if not sessions:
        raise SessionError(f"no sessions in {sessions_dir(repo_root, create=False)}")
    if session_id is None:
        return sessions[-1]
    matches = [s for s in sessions if s.session_id == session_id]
    if not matches:
        matches = [s for s in sessions if s.session_id.startswith(session_id)]
    if not matches:
        known = ", ".join(s.session_id for s in sessions[-5:])
        raise SessionError(f"no session {session_id!r} (latest: {known})")
    if len(matches) > 1:
        raise SessionError(f"session id {session_id!r} is ambiguous: {', '.join(s.session_id for s in matches)}")
    return matches[0]


def find_resumable(repo_root: Path, session_id: str | None) -> SessionData:
    """``find_session``, refusing a session whose sent messages cannot all be read back (the prefix would differ)."""
    session = find_session(repo_root, session_id)
    if session.damaged:
        raise SessionError(f"session {session.session_id} cannot be resumed: {session.damaged}")
    return session


def recent_prefix_seen(repo_root: Path, prefix_hash: str, *, max_age_s: float = 6 * 3600) -> bool:
    """True when a session of this repository sent this exact prefix recently (so it is likely still cached)."""
    directory = sessions_dir(repo_root, create=False)
    if not directory.is_dir():
        return False
    now = datetime.now(UTC).timestamp()
    for path in sorted(directory.glob("*.jsonl"), reverse=True):
        try:
            if now - os.path.getmtime(path) > max_age_s:
                continue
            with path.open(encoding="utf-8") as handle:
                first = _parse_line(handle.readline() or "{}")
                if not isinstance(first, StartRecord) or first.prefix_hash != prefix_hash:
                    continue
                # A prime call record is small; the message records hold the pack, so parse only likely lines.
                if any(_is_prime_call(line) for line in handle if '"kind":"prime"' in line):
                    return True
        except (OSError, ValueError):  # JSONDecodeError is a ValueError
            continue
    return False
