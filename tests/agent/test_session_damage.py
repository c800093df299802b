"""A damaged session file loses its bad lines only: still listed (with a warning), shown, and undoable.

Before, one bad line in the middle made the whole session vanish from `sessions`, and `sessions show ID` and
`undo --session ID` said "no session": what it changed could never be undone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import make_git_repo, run_cli
from tests.security.test_undo_safety import SAMPLE, edit, refactor
from v4agent.agent.sessions.records import CheckpointRecord, StartRecord
from v4agent.agent.sessions.store import (
    SessionError,
    SessionWriter,
    find_resumable,
    list_sessions,
    read_session,
)
from v4agent.core.checkpoints import FileChange, current_states


def _damage(path: Path, *line_numbers: int) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for number in line_numbers:
        lines[number - 1] = '{"type":"call","ts":"x","prompt_tok\x00garbage\n'
    path.write_text("".join(lines), encoding="utf-8")


def test_a_bad_line_in_the_middle_loses_that_line_only_through_the_cli(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    sid = refactor(root, [edit("calc/core.py", "a + b", "b + a")], [edit("calc/api.py", "sum(values)", "sum(values, 0)")])
    path = root / ".v4agent" / "sessions" / f"{sid}.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    calls = [n for n, line in enumerate(lines, 1) if '"type":"call"' in line]
    tools = [n for n, line in enumerate(lines, 1) if '"type":"tool"' in line]
    _damage(path, calls[0], tools[0])  # two lines in the middle; the checkpoints after them are intact

    listed = run_cli("sessions", "-C", str(root), "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["id"] == sid
    assert row["unreadable_lines"] == 2
    table = run_cli("sessions", "-C", str(root))
    assert sid in table.stdout
    assert "damaged" in table.stdout
    assert f"session {sid}: 2 line(s) of its file are unreadable" in table.stderr
    shown = run_cli("sessions", "show", sid, "-C", str(root))
    assert shown.returncode == 0, shown.stderr
    assert "unreadable" in shown.stderr

    done = run_cli("undo", str(root), "--session", sid)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "unreadable" in done.stderr
    assert (root / "calc/core.py").read_text() == SAMPLE["calc/core.py"]
    assert (root / "calc/api.py").read_text() == SAMPLE["calc/api.py"]


def test_a_lost_start_or_message_line_keeps_the_session_listed_but_not_resumable(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.txt": "one\n"})
    writer = SessionWriter.create(root, StartRecord(task="t", undo="checkpoints"), "20260101-000000-aaaaaa")
    writer.message(0, {"role": "system", "content": "s"})
    writer.message(1, {"role": "user", "content": "pack"})
    writer.message(2, {"role": "user", "content": "task"})
    found = current_states(root, ["a.txt"], write=True)["a.txt"]
    (root / "a.txt").write_text("two\n")
    writer.write(CheckpointRecord(1, (FileChange("a.txt", found, current_states(root, ["a.txt"], write=True)["a.txt"]),)))
    _damage(writer.path, 1, 3)  # the start record and message 1

    session = read_session(writer.path)
    assert session.session_id == "20260101-000000-aaaaaa"
    assert session.unreadable_lines == 2
    assert "start record" in session.damaged
    assert [m["content"] for m in session.messages] == ["s", "[message lost]", "task"]
    assert [c.turn for c in session.checkpoints] == [1]
    assert [s.session_id for s in list_sessions(root)] == [session.session_id]
    resumed = run_cli("refactor", str(root), "--resume", session.session_id, env={"DEEPSEEK_API_KEY": "sk-test"})
    assert resumed.returncode == 2
    assert "cannot be resumed" in resumed.stderr
    with pytest.raises(SessionError, match="cannot be resumed"):
        find_resumable(root, session.session_id)
    done = run_cli("undo", str(root), "--session", "20260101")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (root / "a.txt").read_text() == "one\n"
