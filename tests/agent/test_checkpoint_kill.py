"""A kill between a tool's change and its record: the record written before the tool runs is enough for undo.

Each test stops where a SIGKILL would: the recorder has seen ``ToolStarted`` (so its record is on disk), the
tool has (or has not) written, and ``ToolDone`` never comes. Undo is then planned from the session file alone,
as a later ``v4agent undo`` would, with a person's edit made after the kill where it matters.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import make_git_repo
from v4agent.agent.checkpoint import TurnRecorder, running_ref
from v4agent.agent.events import ToolDone, ToolStarted
from v4agent.agent.sessions.records import StartRecord
from v4agent.agent.sessions.store import SessionWriter, read_session
from v4agent.agent.undoapply import apply_plan
from v4agent.agent.undoplan import INTERRUPTED, describe_plan, plan_session
from v4agent.core.checkpoints import ABSENT, current_states
from v4agent.tools.registry import run_tool
from v4agent.tools.tool import ToolContext, ToolResult

START = {"a.py": "x = 1\n", "b.py": "keep = True\n"}


def _setup(tmp_path: Path) -> tuple[Path, SessionWriter, TurnRecorder]:
    root = make_git_repo(tmp_path / "repo", START)
    writer = SessionWriter.create(root, StartRecord(task="t", undo="checkpoints"))
    return root, writer, TurnRecorder(root, writer)


def _args(**values: object) -> str:
    return json.dumps(values)


def _plan(root: Path, writer: SessionWriter) -> list[str]:
    return describe_plan(plan_session(root, read_session(writer.path)), force=False)


def _started(recorder: TurnRecorder, name: str, arguments: str, turn: int = 1) -> None:
    recorder.observe(ToolStarted(turn, name, arguments))


def test_the_record_is_on_disk_before_the_tool_runs(tmp_path: Path) -> None:
    root, writer, recorder = _setup(tmp_path)
    _started(recorder, "write_file", _args(path="new.py", content="n = 1\n"))
    assert not (root / "new.py").exists()  # the tool has not run
    [record] = read_session(writer.path).checkpoints
    [change] = record.changes
    assert (change.path, change.found) == ("new.py", ABSENT)
    (root / "new.py").write_text("n = 1\n")
    assert change.left == current_states(root, ["new.py"])["new.py"]  # what the tool then writes, exactly
    assert record.ref  # its blobs are kept alive
    assert subprocess.run(["git", "-C", str(root), "cat-file", "-e", change.left.sha], check=False).returncode == 0


def test_killed_after_a_write_undo_deletes_the_created_file(tmp_path: Path) -> None:
    root, writer, recorder = _setup(tmp_path)
    arguments = _args(path="new.py", content="n = 1\n")
    _started(recorder, "write_file", arguments)
    assert run_tool(ToolContext(root, approve="yes"), "write_file", arguments).ok  # then: SIGKILL, no ToolDone
    assert _plan(root, writer) == ["  delete     new.py (created by the session, unchanged since)"]
    result = apply_plan(root, plan_session(root, read_session(writer.path)), force=False)
    assert not result.failed
    assert not (root / "new.py").exists()


def test_killed_after_an_edit_undo_restores_what_it_found(tmp_path: Path) -> None:
    root, writer, recorder = _setup(tmp_path)
    arguments = _args(path="a.py", old_text="x = 1", new_text="x = 2")
    _started(recorder, "edit_file", arguments)
    assert run_tool(ToolContext(root, approve="yes"), "edit_file", arguments).ok
    assert _plan(root, writer) == ["  restore    a.py"]
    apply_plan(root, plan_session(root, read_session(writer.path)), force=False)
    assert (root / "a.py").read_text() == START["a.py"]


def test_killed_after_a_delete_undo_recreates_the_file(tmp_path: Path) -> None:
    root, writer, recorder = _setup(tmp_path)
    arguments = _args(path="b.py")
    _started(recorder, "delete_file", arguments)
    assert run_tool(ToolContext(root, approve="yes"), "delete_file", arguments).ok
    assert _plan(root, writer) == ["  recreate   b.py (deleted by the session)"]
    apply_plan(root, plan_session(root, read_session(writer.path)), force=False)
    assert (root / "b.py").read_text() == START["b.py"]


def test_killed_before_the_write_landed_undo_has_nothing_to_do(tmp_path: Path) -> None:
    root, writer, recorder = _setup(tmp_path)
    _started(recorder, "edit_file", _args(path="a.py", old_text="x = 1", new_text="x = 2"))
    assert _plan(root, writer) == ["  already    a.py (as it was)"]


def test_a_persons_edit_after_the_kill_is_left_alone(tmp_path: Path) -> None:
    root, writer, recorder = _setup(tmp_path)
    arguments = _args(path="a.py", old_text="x = 1", new_text="x = 2")
    _started(recorder, "edit_file", arguments)
    run_tool(ToolContext(root, approve="yes"), "edit_file", arguments)
    (root / "a.py").write_text("x = 2\nmine = True\n")  # the person's work, after the kill
    [line] = _plan(root, writer)
    assert line.startswith("  left alone a.py: changed since the session")
    result = apply_plan(root, plan_session(root, read_session(writer.path)), force=False)
    assert not result.done
    assert (root / "a.py").read_text() == "x = 2\nmine = True\n"


def test_a_resumed_session_keeps_the_first_found_state(tmp_path: Path) -> None:
    """Killed after creating a file; the resumed run (turn 2) edits it: undo still deletes it."""
    root, writer, recorder = _setup(tmp_path)
    create = _args(path="new.py", content="n = 1\n")
    _started(recorder, "write_file", create)
    run_tool(ToolContext(root, approve="yes"), "write_file", create)
    resumed = TurnRecorder(root, writer)  # a new process
    edit = _args(path="new.py", old_text="n = 1", new_text="n = 2")
    resumed.observe(ToolStarted(2, "edit_file", edit))
    resumed.observe(ToolDone(2, "edit_file", edit, run_tool(ToolContext(root, approve="yes"), "edit_file", edit)))
    resumed.end_turn()
    assert _plan(root, writer) == ["  delete     new.py (created by the session, unchanged since)"]


def test_a_call_that_fails_or_is_declined_leaves_no_change_on_record(tmp_path: Path) -> None:
    root, writer, recorder = _setup(tmp_path)
    missing = _args(path="a.py", old_text="no such text", new_text="y")
    _started(recorder, "edit_file", missing)  # would fail: nothing is planned, nothing written
    assert read_session(writer.path).checkpoints == []
    declined = _args(path="a.py", old_text="x = 1", new_text="x = 3")
    _started(recorder, "edit_file", declined)  # planned and recorded...
    assert len(read_session(writer.path).checkpoints) == 1
    recorder.observe(ToolDone(1, "edit_file", declined, ToolResult("not approved", False)))  # ...then cancelled
    [record] = read_session(writer.path).checkpoints
    assert record.changes == ()
    assert _plan(root, writer) == []


def test_a_command_cut_off_leaves_its_changes_to_force(tmp_path: Path) -> None:
    root, writer, recorder = _setup(tmp_path)
    _started(recorder, "shell", _args(command="make things"))
    [record] = read_session(writer.path).checkpoints
    assert record.running  # the tree it started from, on disk before it runs
    assert subprocess.run(["git", "-C", str(root), "rev-parse", "-q", "--verify", running_ref(writer.session_id)],
                          capture_output=True, check=False).returncode == 0
    (root / "made.txt").write_text("built\n")  # what the command did before the kill (or a person: unknowable)
    (root / "a.py").write_text("x = 9\n")
    plan = plan_session(root, read_session(writer.path))
    assert {step.path for step in plan.files} == {"a.py", "made.txt"}
    assert all(not step.safe and step.forceable for step in plan.files)
    assert all("cut off" in step.why for step in plan.files)
    assert apply_plan(root, plan, force=False).done == ()
    forced = apply_plan(root, plan, force=True)
    assert {step.path for step in forced.done} == {"a.py", "made.txt"}
    assert (root / "a.py").read_text() == START["a.py"]
    assert not (root / "made.txt").exists()
    assert forced.saved_dir is not None
    assert (forced.saved_dir / "made.txt").read_text() == "built\n"  # nothing lost


def test_a_command_that_ended_is_recorded_and_settled(tmp_path: Path) -> None:
    root, writer, recorder = _setup(tmp_path)
    arguments = _args(command="touch made.txt")
    _started(recorder, "shell", arguments)
    (root / "made.txt").write_text("")
    recorder.observe(ToolDone(1, "shell", arguments, ToolResult("ok", True)))
    record = read_session(writer.path).checkpoints[-1]
    assert record.running == ""
    assert [c.path for c in record.changes] == ["made.txt"]
    assert subprocess.run(["git", "-C", str(root), "rev-parse", "-q", "--verify", running_ref(writer.session_id)],
                          capture_output=True, check=False).returncode != 0
    assert _plan(root, writer) == ["  delete     made.txt (created by the session, unchanged since)"]


def test_interrupted_is_never_a_state_on_disk() -> None:
    assert not INTERRUPTED.exists
    assert not INTERRUPTED.restorable


def test_killed_before_a_later_write_landed_undo_still_restores_the_start(tmp_path: Path) -> None:
    """The soak's case: turn 1 changed a.py; turn 2's write to it was recorded, then the kill came before it
    landed. The file holds turn 1's result, not what turn 2's record says it left: both are the session's."""
    root, writer, recorder = _setup(tmp_path)
    first = _args(path="a.py", content="x = 3\n")
    _started(recorder, "write_file", first)
    recorder.observe(ToolDone(1, "write_file", first, run_tool(ToolContext(root, approve="yes"), "write_file", first)))
    recorder.end_turn()
    assert read_session(writer.path).checkpoints[-1].pending is None  # settled once the tool ended
    _started(recorder, "write_file", _args(path="a.py", content="x = 9\n"), turn=2)  # then: SIGKILL, no write
    assert read_session(writer.path).checkpoints[-1].pending == {
        "path": "a.py", "before": current_states(root, ["a.py"])["a.py"].to_json()}
    assert _plan(root, writer) == ["  restore    a.py"]
    apply_plan(root, plan_session(root, read_session(writer.path)), force=False)
    assert (root / "a.py").read_text() == START["a.py"]


def test_a_pending_record_never_vouches_for_a_persons_content(tmp_path: Path) -> None:
    root, writer, recorder = _setup(tmp_path)
    _started(recorder, "edit_file", _args(path="a.py", old_text="x = 1", new_text="x = 2"))  # killed before it ran
    (root / "a.py").write_text("x = 1\nmine = 1\n")
    [line] = _plan(root, writer)
    assert line.startswith("  left alone a.py: changed since the session")
