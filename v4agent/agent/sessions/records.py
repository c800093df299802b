"""The session file's record types: one frozen dataclass per JSON line, with its exact on-disk form.

Every line is ``{"type": ..., "ts": ..., <fields in declaration order>}``. ``to_json`` writes that form and
``parse_record`` reads it back leniently (a missing field takes its default, an unknown key is ignored), so
sessions written by earlier versions load and resume. Key order matters: the start record carries the tool
schemas as sent, and a resumed session must send them back byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from v4agent.core.checkpoints import FileChange

if TYPE_CHECKING:  # annotations only: listing sessions need not load the accounting
    from v4agent.accounting.cost import CallCost
    from v4agent.engine.types import ToolSchema, Usage

__all__ = [
    "CallRecord", "ChatUndoRecord", "CheckpointRecord", "CommitRecord", "EndRecord", "EndTotals", "MessageRecord",
    "ResetRecord", "ResumeRecord", "SessionRecord", "StartRecord", "SubtaskRecord", "SwitchRecord", "ToolRecord",
    "UndoRecord",
    "parse_record", "record_json",
]


def now_ts() -> str:
    """The timestamp every record carries (UTC, to the second)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class StartRecord:
    """The first line: the task, the engine settings (the cache key), the git start state, the tool schemas."""

    TYPE: ClassVar[str] = "start"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset(
        {"kind", "repo", "engine", "base_url", "model", "think", "max_tokens", "tools", "prefix_hash", "git",
         "pack_tokens", "undo"})

    id: str = ""
    task: str = ""
    kind: str | None = None  # "chat"; absent for a refactor session
    repo: str | None = None
    engine: str | None = None
    base_url: str | None = None
    model: str | None = None
    think: str | None = None
    max_tokens: int | None = None
    tools: tuple[ToolSchema, ...] | None = None  # exactly as sent: part of the cached prefix
    prefix_hash: str | None = None
    git: Mapping[str, Any] | None = None  # undo_cmd.GitStart.to_json()
    pack_tokens: int | None = None
    undo: str | None = None  # "checkpoints": each turn records its files (absent: recorded before they existed)
    ts: str = field(default_factory=now_ts)


@dataclass(frozen=True)
class MessageRecord:
    """One message appended to the conversation, as stored (a large content as a blob reference)."""

    TYPE: ClassVar[str] = "message"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    index: int
    message: dict[str, Any]
    ts: str = field(default_factory=now_ts)


@dataclass(frozen=True)
class ResetRecord:
    """The conversation was replaced (compaction, repack): the messages that follow form the new one."""

    TYPE: ClassVar[str] = "reset"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    reason: str
    context_tokens: int = 0
    ts: str = field(default_factory=now_ts)


@dataclass(frozen=True)
class CallRecord:
    """One model call: usage (estimated when the server did not say), cost, duration, cache diagnosis."""

    TYPE: ClassVar[str] = "call"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    kind: str = "turn"  # prime, turn, compact
    turn: int = 0
    model: str = ""
    usage_known: bool = True
    prompt_tokens: int = 0
    cache_hit: int | None = 0
    cache_miss: int | None = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0
    hit_usd: float = 0.0
    miss_usd: float = 0.0
    output_usd: float = 0.0
    saved_usd: float = 0.0
    price_entry: str = ""
    duration_s: float = 0.0
    finish_reason: str = ""
    diag: Mapping[str, Any] = field(default_factory=dict)  # cachediag.CallDiag.to_json()
    ts: str = field(default_factory=now_ts)

    @classmethod
    def of(cls, *, kind: str, turn: int, model: str, usage: Usage, usage_known: bool, cost: CallCost,
           duration_s: float, finish_reason: str, diag: Mapping[str, Any]) -> CallRecord:
        """The record of a priced call."""
        return cls(kind=kind, turn=turn, model=model, usage_known=usage_known, prompt_tokens=usage.prompt_tokens,
                   cache_hit=usage.cache_hit, cache_miss=usage.cache_miss, output_tokens=usage.output_tokens,
                   reasoning_tokens=usage.reasoning_tokens, cost_usd=cost.total_usd, hit_usd=cost.hit_usd,
                   miss_usd=cost.miss_usd, output_usd=cost.output_usd, saved_usd=cost.saved_usd,
                   price_entry=cost.price_entry, duration_s=round(duration_s, 3), finish_reason=finish_reason,
                   diag=diag)


@dataclass(frozen=True)
class ToolRecord:
    """One tool run and its result (the content itself is in the message that follows)."""

    TYPE: ClassVar[str] = "tool"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    turn: int
    name: str
    arguments: str
    ok: bool
    changed_paths: tuple[str, ...] = ()
    finished: bool = False
    summary: str = ""
    diff: str = ""
    ts: str = field(default_factory=now_ts)


@dataclass(frozen=True)
class EndTotals:
    """What an agent run adds to its end record (an end written before the loop ran has none)."""

    turns: int
    spent_usd: float
    tests_ok: bool | None  # the last test run after the last change; None (written as null) if not run since
    changed_paths: tuple[str, ...]


@dataclass(frozen=True)
class EndRecord:
    """A run stopped: its status and summary. A resumed session appends more records after it."""

    TYPE: ClassVar[str] = "end"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"totals"})

    status: str
    reason: str = ""
    summary: str = ""
    totals: EndTotals | None = None  # flattened into the line
    ts: str = field(default_factory=now_ts)


@dataclass(frozen=True)
class _SettingsRecord:
    """Engine settings a session ran with from this line on (the shape of resume and switch lines)."""

    OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    model: str
    think: str
    ts: str = field(default_factory=now_ts)


@dataclass(frozen=True)
class ResumeRecord(_SettingsRecord):
    """The session was resumed, with these engine settings."""

    TYPE: ClassVar[str] = "resume"


@dataclass(frozen=True)
class SwitchRecord(_SettingsRecord):
    """The chat switched model or thinking effort."""

    TYPE: ClassVar[str] = "switch"


@dataclass(frozen=True)
class ChatUndoRecord:
    """The chat's /undo put files back."""

    TYPE: ClassVar[str] = "chat_undo"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    what: str
    paths: tuple[str, ...] = ()
    ts: str = field(default_factory=now_ts)


@dataclass(frozen=True)
class UndoRecord:
    """`v4agent undo` or the chat's /rewind undid the turns after ``to_turn`` (0: the whole session).

    ``closes``: those turns are done with, and later undos ignore them; an undo that left files alone (they
    changed since) does not close, so running it again (with ``--force``) still knows what to restore.
    """

    TYPE: ClassVar[str] = "undo"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"to_turn", "skipped", "reverted", "saved", "closes"})

    paths: tuple[str, ...] = ()
    to_turn: int = 0
    skipped: tuple[str, ...] = ()
    reverted: tuple[str, ...] = ()  # commits undone with `git revert`
    saved: str = ""  # where the contents it replaced were saved
    closes: bool = True
    ts: str = field(default_factory=now_ts)


@dataclass(frozen=True)
class CheckpointRecord:
    """The files one turn changed: for each, the state it found and the state it left (blobs kept by ``ref``).

    A later record for the same turn amends it (the chat's /undo of one edit): found stays the first one's.
    A record is written before each tool call that changes files too (the change it is about to make, marked
    ``pending``, or the tree a command starts from, ``running``), so a kill between a change and its record
    loses nothing.
    """

    TYPE: ClassVar[str] = "checkpoint"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"running", "pending"})

    turn: int
    changes: tuple[FileChange, ...] = ()
    ref: str = ""
    tree: str = ""
    running: str = ""  # the working tree's git tree as a command of this turn started ("" once it ended)
    # The change of a file tool about to run: {"path", "before"} (the file's state just before it); cleared by
    # the record after it. While set, the path's ``left`` is what the tool will write, and may not have landed.
    pending: Mapping[str, str] | None = None
    ts: str = field(default_factory=now_ts)


@dataclass(frozen=True)
class CommitRecord:
    """``refactor --commit`` committed these turns' changes as ``commit`` on ``branch``."""

    TYPE: ClassVar[str] = "commit"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    commit: str
    turns: tuple[int, ...] = ()
    branch: str = ""
    subject: str = ""
    ts: str = field(default_factory=now_ts)


@dataclass(frozen=True)
class SubtaskRecord:
    """A subagent the ``task`` tool ran at ``turn``: its id, its end and its spend (its calls are in its own
    file under ``subagents/``; its ledger lines carry its id)."""

    TYPE: ClassVar[str] = "subtask"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    turn: int
    index: int = 0
    description: str = ""
    session: str = ""
    status: str = ""
    turns: int = 0
    cost_usd: float = 0.0
    prompt_tokens: int = 0
    cache_hit: int = 0
    output_tokens: int = 0
    first_prompt: int = 0  # its first request: the forked prefix plus the task
    first_hit: int = 0
    fork_tokens: int = 0
    ts: str = field(default_factory=now_ts)


SessionRecord = (StartRecord | MessageRecord | ResetRecord | CallRecord | ToolRecord | EndRecord | ResumeRecord
                 | SwitchRecord | ChatUndoRecord | UndoRecord | CheckpointRecord | CommitRecord | SubtaskRecord)
_TYPES: dict[str, type[SessionRecord]] = {
    kind.TYPE: kind
    for kind in (StartRecord, MessageRecord, ResetRecord, CallRecord, ToolRecord, EndRecord, ResumeRecord,
                 SwitchRecord, ChatUndoRecord, UndoRecord, CheckpointRecord, CommitRecord, SubtaskRecord)
}
_TUPLES = frozenset({"tools", "changed_paths", "paths", "skipped", "reverted", "turns"})  # stored as JSON arrays


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [item.to_json() if isinstance(item, FileChange) else item for item in value]
    return value


def record_json(record: SessionRecord) -> dict[str, Any]:
    """The record as its JSON line holds it: type, ts, then the fields in order (optionals left out when None
    or at their default, so a record written before a field existed reads and writes back the same)."""
    out: dict[str, Any] = {"type": record.TYPE, "ts": record.ts}
    for spec in fields(record):
        value = getattr(record, spec.name)
        if spec.name == "ts" or (spec.name in record.OPTIONAL and (value is None or value == spec.default)):
            continue
        if isinstance(value, EndTotals):
            out.update({key.name: _plain(getattr(value, key.name)) for key in fields(value)})
        else:
            out[spec.name] = _plain(value)
    return out


def parse_record(raw: Mapping[str, Any]) -> SessionRecord | None:
    """A parsed JSON line as its record; None for a type this version does not know (skipped, as before).

    Raises ``TypeError`` or ``ValueError`` when a known record lacks a required field."""
    kind = _TYPES.get(str(raw.get("type")))
    if kind is None:
        return None
    names = {spec.name for spec in fields(kind)}
    values: dict[str, Any] = {key: (tuple(value) if key in _TUPLES and isinstance(value, list) else value)
                              for key, value in raw.items() if key in names}
    if kind is CheckpointRecord:
        items = raw.get("changes")
        items = [] if items is None else items  # [] is a record too: a command started before any change
        if not isinstance(items, list) or not all(isinstance(i, Mapping) and isinstance(i.get("path"), str)
                                                  for i in items):
            raise ValueError("a checkpoint record whose changes are not {path, found, left} objects")
        values["changes"] = tuple(FileChange.from_json(item) for item in items)
    if kind is EndRecord and "turns" in raw:
        values["totals"] = EndTotals(raw["turns"], raw.get("spent_usd", 0.0), raw.get("tests_ok"),
                                     tuple(raw.get("changed_paths") or ()))
    return kind(**values)
