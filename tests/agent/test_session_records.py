"""Session records: a session file written before the records were typed loads and resumes, and every record
type writes back exactly the line it was read from."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from v4agent.agent.sessions.records import (
    CallRecord,
    ChatUndoRecord,
    CheckpointRecord,
    CommitRecord,
    EndRecord,
    EndTotals,
    MessageRecord,
    ResetRecord,
    ResumeRecord,
    SessionRecord,
    StartRecord,
    SwitchRecord,
    ToolRecord,
    UndoRecord,
    parse_record,
    record_json,
)
from v4agent.agent.sessions.store import (
    SessionWriter,
    find_resumable,
    read_session,
    recent_prefix_seen,
    sessions_dir,
)
from v4agent.core.checkpoints import ABSENT, FileChange, FileState
from v4agent.tools.registry import tool_schemas

# Written by the agent loop, the refactor and the chat before session records were typed: a real run (prime,
# three turns, a read, a write, finish) followed by resume, switch, chat_undo, a repack, an early end and undo.
FIXTURE = Path(__file__).parent / "fixtures" / "session_v1.jsonl"
SESSION_ID = "20250101-000000-abcdef"


def _compact(raw: dict[str, object]) -> str:
    return json.dumps(raw, ensure_ascii=False, separators=(",", ":"))


def test_a_session_in_the_earlier_format_loads(tmp_path: Path) -> None:
    session = read_session(FIXTURE)
    assert session.session_id == SESSION_ID
    assert session.task == "inspect the code"
    assert session.start.model == "deepseek-v4-flash"
    assert session.start.pack_tokens == 4500
    assert session.start.git is not None
    assert len(str(session.start.git["tree"])) == 40
    assert session.tools == tool_schemas()  # the tool list as sent, key order included
    assert json.dumps(session.tools) == json.dumps(tool_schemas())
    assert [c.kind for c in session.calls] == ["prime", "turn", "turn", "turn"]
    assert session.turns == 3
    assert session.calls[0].usage_known is False
    assert session.calls[1].cache_hit == 4534
    assert session.cost_usd == pytest.approx(0.000786177)
    assert session.hit_ratio is not None
    assert [t.name for t in session.tools_run] == ["read_file", "write_file", "finish"]
    assert session.tools_run[1].changed_paths == ("new.txt",)
    assert session.tools_run[2].finished
    assert [e.status for e in session.ends] == ["finished", "interrupted"]
    assert session.status == "interrupted"
    first_end = session.ends[0]
    assert first_end.totals == EndTotals(3, 0.000786177, None, ("new.txt",))
    assert session.ends[1].totals is None
    assert session.last_settings() == {"model": "deepseek-v4-pro", "think": "high"}
    assert session.chat_undos[0].paths == ("new.txt",)
    assert session.resets == 1
    assert len(session.messages) == 3
    assert session.undone
    assert not session.damaged
    assert session.messages[2] == {"role": "user", "content": "Task:\ninspect the code"}


def test_a_session_in_the_earlier_format_resumes_and_gets_the_same_lines_appended(tmp_path: Path) -> None:
    directory = sessions_dir(tmp_path)
    shutil.copy(FIXTURE, directory / FIXTURE.name.replace("session_v1", SESSION_ID))
    session = find_resumable(tmp_path, "20250101")
    assert session.session_id == SESSION_ID
    writer = SessionWriter(session.path)
    writer.write(ResumeRecord("deepseek-v4-flash", "off"))
    writer.message(3, {"role": "user", "content": "go on"})
    again = read_session(session.path)
    assert len(again.messages) == 4
    assert again.last_settings() == {"model": "deepseek-v4-flash", "think": "off"}
    tail = session.path.read_text(encoding="utf-8").splitlines()[-2:]
    assert tail[0].startswith('{"type":"resume","ts":"')
    assert tail[0].endswith(',"model":"deepseek-v4-flash","think":"off"}')
    assert tail[1].endswith(',"index":3,"message":{"role":"user","content":"go on"}}')


def test_every_line_of_the_earlier_format_round_trips_byte_for_byte() -> None:
    lines = FIXTURE.read_text(encoding="utf-8").splitlines()
    kinds = set()
    for line in lines:
        record = parse_record(json.loads(line))
        assert record is not None
        kinds.add(record.TYPE)
        assert _compact(record_json(record)) == line
    assert kinds == {"start", "message", "call", "tool", "end", "resume", "switch", "chat_undo", "reset", "undo"}


ALL_RECORDS: list[SessionRecord] = [
    StartRecord(id="s", task="(chat)", kind="chat", repo="/r", engine="deepseek", base_url="http://x",
                model="m", think="high", max_tokens=100, tools=tuple(tool_schemas()), prefix_hash="h",
                git={"head": None, "tree": "t"}, pack_tokens=5, ts="2026-01-01T00:00:00+00:00"),
    StartRecord(task="t", ts="2026-01-01T00:00:00+00:00"),
    MessageRecord(0, {"role": "user", "content": {"blob": "0" * 64}}, ts="2026-01-01T00:00:00+00:00"),
    ResetRecord("compaction", 7, ts="2026-01-01T00:00:00+00:00"),
    CallRecord(kind="prime", turn=0, model="m", usage_known=False, prompt_tokens=10, cache_hit=None,
               cache_miss=None, output_tokens=1, cost_usd=0.5, price_entry="e", duration_s=0.25,
               finish_reason="cancelled", diag={"breaks": [{"cause": "c"}]}, ts="2026-01-01T00:00:00+00:00"),
    ToolRecord(1, "write_file", "{}", True, ("a.py",), False, "", "diff", ts="2026-01-01T00:00:00+00:00"),
    EndRecord("finished", "done", "sum", EndTotals(2, 0.1, None, ("a.py",)), ts="2026-01-01T00:00:00+00:00"),
    EndRecord("failed", "boom", "", ts="2026-01-01T00:00:00+00:00"),
    ResumeRecord("m", "off", ts="2026-01-01T00:00:00+00:00"),
    SwitchRecord("m2", "max", ts="2026-01-01T00:00:00+00:00"),
    ChatUndoRecord("the last change", ("a.py",), ts="2026-01-01T00:00:00+00:00"),
    CheckpointRecord(3, (FileChange("a.py", FileState("a" * 40, "100644"), ABSENT),
                         FileChange("l", ABSENT, FileState("b" * 40, "120000"))),
                     "refs/v4agent/checkpoints/s/turn-3", "d" * 40, ts="2026-01-01T00:00:00+00:00"),
    CommitRecord("e" * 40, (1, 2), "main", "v4agent turn 1", ts="2026-01-01T00:00:00+00:00"),
    UndoRecord(("a.py",), 2, ("b.py",), ("c" * 40,), ".v4agent/undo/x", closes=False, ts="2026-01-01T00:00:00+00:00"),
    UndoRecord(("a.py", "b.py"), ts="2026-01-01T00:00:00+00:00"),
]


@pytest.mark.parametrize("record", ALL_RECORDS, ids=lambda r: type(r).__name__)
def test_every_record_type_round_trips(record: SessionRecord) -> None:
    line = _compact(record_json(record))
    assert line.startswith(f'{{"type":"{record.TYPE}","ts":"2026-01-01T00:00:00+00:00"')
    assert parse_record(json.loads(line)) == record


def test_the_writer_writes_records_the_store_reads_back(tmp_path: Path) -> None:
    writer = SessionWriter.create(tmp_path, StartRecord(task="t", model="m"), "s1")
    for record in ALL_RECORDS[3:]:
        writer.write(record)
    session = read_session(writer.path)
    assert session.start.id == "s1"
    assert session.start.model == "m"
    assert session.calls == [ALL_RECORDS[4]]
    assert session.tools_run == [ALL_RECORDS[5]]
    assert session.ends == ALL_RECORDS[6:8]
    assert session.undone
    assert session.checkpoints == []  # the closing undo of the whole session leaves no live checkpoint
    assert [u.closes for u in session.undos] == [False, True]
    assert session.last_settings() == {
        "model": "m2", "think": "max"}
    assert not recent_prefix_seen(tmp_path, "h")


def test_unknown_types_are_skipped_and_a_broken_record_is_a_clear_error(tmp_path: Path) -> None:
    assert parse_record({"type": "from_the_future", "x": 1}) is None
    path = tmp_path / "s.jsonl"
    start = _compact(record_json(StartRecord(task="t")))
    path.write_text(start + '\n{"type":"future","ts":"x"}\n', encoding="utf-8")
    assert read_session(path).task == "t"
    # A broken record loses its own line only (it used to hide the whole session): the rest is read, and the
    # session says how many lines it lost.
    path.write_text(start + '\n{"type":"message","ts":"x"}\n{"type":"end","status":"failed"}\n', encoding="utf-8")
    session = read_session(path)
    assert session.unreadable_lines == 1
    assert session.status == "failed"
