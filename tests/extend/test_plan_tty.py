"""`refactor --plan-then-act` on a terminal: the plan is accepted, edited (in $EDITOR) or discarded."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pexpect

from tests.conftest import make_git_repo
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

SAMPLE = {"app.py": "def f():\n    return 1\n"}


def _finish(summary: str) -> ScriptedReply:
    return ScriptedReply(tool_calls=[ScriptedToolCall("finish", json.dumps({"summary": summary}))])


def _run(root: Path, base_url: str, answer: str, editor: str = "true") -> str:
    env = dict(os.environ, DEEPSEEK_API_KEY="sk-test", V4AGENT_THINK="off", EDITOR=editor, VISUAL=editor,
               COLUMNS="120")
    child = pexpect.spawn(sys.executable, ["-m", "v4agent", "refactor", str(root), "make f return 2",
                                           "--plan-then-act", "--base-url", base_url, "--prime", "never", "--yes",
                                           "--test-cmd", "true"], env=env, dimensions=(40, 120), encoding="utf-8",
                          timeout=120)
    child.expect("carry it out\\?")
    child.sendline(answer)
    child.expect(pexpect.EOF)
    child.close()
    return str(child.before)


def test_a_discarded_plan_changes_nothing(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    with StandIn(replies=[_finish("PLAN-A: edit app.py")]) as server:
        _run(root, server.base_url, "discard")
        calls = list(server.calls)
    assert len(calls) == 1
    assert (root / "app.py").read_text() == SAMPLE["app.py"]


def test_an_edited_plan_is_the_one_carried_out(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    edit = ScriptedToolCall("edit_file", json.dumps({"path": "app.py", "old_text": "return 1", "new_text": "return 2"}))
    replies = [_finish("PLAN-A: edit app.py"), ScriptedReply(tool_calls=[edit]), _finish("done")]
    with StandIn(replies=replies) as server:
        _run(root, server.base_url, "edit", editor="sed -i s/PLAN-A/PLAN-EDITED/")
        calls = list(server.calls)
    assert len(calls) == 3
    accepted = calls[1].request["messages"][-1]["content"]
    assert "PLAN-EDITED: edit app.py" in accepted
    assert "PLAN-A" not in accepted
    assert (root / "app.py").read_text() == "def f():\n    return 2\n"
