"""TurnRecorder on the real loop: per turn, per file, the state found and left, written as the tools run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.agent.test_session import _agent
from tests.conftest import make_git_repo
from v4agent.agent.checkpoint import TurnRecorder
from v4agent.agent.sessions.store import read_session
from v4agent.agent.undoplan import plan_session
from v4agent.core.checkpoints import ABSENT, current_states
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn


def _tool(name: str, **args: object) -> ScriptedToolCall:
    return ScriptedToolCall(name, json.dumps(args))


def test_each_turn_records_what_its_tools_found_and_left(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    start = current_states(root, ["a.py"])["a.py"]
    replies = [
        ScriptedReply(tool_calls=[_tool("edit_file", path="a.py", old_text="x = 1", new_text="x = 2"),
                                  _tool("write_file", path="./b.py", content="y = 1\n")]),
        ScriptedReply(tool_calls=[_tool("edit_file", path="a.py", old_text="x = 2", new_text="x = 1"),
                                  _tool("read_file", path="a.py")]),
        ScriptedReply(tool_calls=[_tool("shell", command="echo hi > c.txt")]),
        ScriptedReply(tool_calls=[_tool("finish", summary="done")]),
    ]
    with StandIn(replies=replies) as server:
        agent, writer = _agent(root, server)
        recorder = TurnRecorder(root, writer)
        closed = []
        agent.observer = lambda event: recorder.observe(event)
        recorder.on_checkpoint = lambda record, tools: closed.append((record.turn, [t.label for t in tools]))
        agent.run()
    # Written as the tools ran, before the turn is closed: a crash here loses nothing.
    assert [c.turn for c in read_session(writer.path).checkpoints] == [1, 2, 3]
    assert recorder.end_turn() is None  # the last turn only called finish
    assert closed == [(1, ["edit_file a.py", "write_file ./b.py"]), (2, ["edit_file a.py"]),
                      (3, ["shell: echo hi > c.txt"])]

    session = read_session(writer.path)
    by_turn = {c.turn: {ch.path: ch for ch in c.changes} for c in session.checkpoints}
    now = current_states(root, ["a.py", "b.py", "c.txt"])
    assert by_turn[1]["a.py"].found == start
    assert by_turn[1]["b.py"].found == ABSENT
    assert by_turn[1]["b.py"].left == now["b.py"]
    assert by_turn[2]["a.py"].left == start
    assert set(by_turn[3]) == {"c.txt"}  # the command's file, found by diffing the tree around it
    assert by_turn[3]["c.txt"].left == now["c.txt"]
    refs = subprocess.run(["git", "-C", str(root), "for-each-ref", "--format=%(objecttype) %(refname)",
                           "refs/v4agent/checkpoints"], capture_output=True, text=True, check=True).stdout
    assert refs.split("\n")[:3] == [f"tree refs/v4agent/checkpoints/{writer.session_id}/turn-{n}" for n in (1, 2, 3)]

    plan = plan_session(root, session)
    assert {s.path: s.action for s in plan.files} == {"a.py": "none", "b.py": "delete", "c.txt": "delete"}
    assert plan.turns == (1, 2, 3)
    back = plan_session(root, session, 2)
    assert [(s.path, s.action) for s in back.files] == [("c.txt", "delete")]


def test_an_edit_refused_or_failing_records_nothing(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    replies = [
        ScriptedReply(tool_calls=[_tool("edit_file", path="a.py", old_text="no such text", new_text="x")]),
        ScriptedReply(tool_calls=[_tool("finish", summary="gave up")]),
    ]
    with StandIn(replies=replies) as server:
        agent, writer = _agent(root, server)
        recorder = TurnRecorder(root, writer)
        agent.observer = lambda event: recorder.observe(event)
        agent.run()
    assert recorder.end_turn() is None
    assert read_session(writer.path).checkpoints == []
