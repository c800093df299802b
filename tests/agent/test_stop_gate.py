"""The loop's Stop gate (``v4agent.extend`` supplies it): a Stop hook's objection keeps the run going, a hook's
``continue: false`` ends it, and without a gate nothing changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.agent.test_session import _agent
from tests.conftest import make_git_repo
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn


class Gate:
    def __init__(self, objections: int = 0, halt_after: int | None = None) -> None:
        self.objections = objections
        self.halt_after = halt_after
        self.asked: list[tuple[str, bool]] = []
        self.checks = 0

    def stop(self, message: str, *, active: bool) -> str | None:
        self.asked.append((message, active))
        if self.objections:
            self.objections -= 1
            return "the tests fail"
        return None

    def halted(self) -> str | None:
        self.checks += 1
        return "policy" if self.halt_after is not None and self.checks > self.halt_after else None


def _finish(summary: str) -> ScriptedReply:
    return ScriptedReply(tool_calls=[ScriptedToolCall("finish", json.dumps({"summary": summary}))])


def _read() -> ScriptedReply:
    return ScriptedReply(tool_calls=[ScriptedToolCall("read_file", json.dumps({"path": "a.py"}))])


def test_a_stop_objection_keeps_the_run_going(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    with StandIn(replies=[_finish("first"), _finish("second")]) as server:
        agent, _writer = _agent(root, server)
        gate = Gate(objections=1)
        agent.gate = gate
        outcome = agent.run()
        last: Any = server.calls[-1].request["messages"][-1]
    assert (outcome.status, outcome.summary) == ("finished", "second")
    assert gate.asked == [("first", False), ("second", True)]  # stop_hook_active on the second ask
    assert last["role"] == "user"
    assert "the tests fail" in last["content"]


def test_a_halting_hook_ends_the_run(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    with StandIn(replies=[_read(), _read(), _finish("never")]) as server:
        agent, _writer = _agent(root, server)
        agent.gate = Gate(halt_after=1)
        outcome = agent.run()
    assert outcome.status == "limit"
    assert "a hook stopped the session: policy" in outcome.reason
    assert outcome.turns == 2
