"""Subagents end to end: the real CLI against the stand-in, a scripted model that delegates with ``task``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.conftest import make_git_repo, run_cli
from v4agent.agent.subagent import read_only_runner
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn
from v4agent.tools.tool import ToolResult

SUBAGENT_MARK = "(You are now a subagent"
SAMPLE = {
    "calc/__init__.py": "",
    "calc/core.py": 'def add_numbers(a, b):\n    """Add two numbers."""\n    return a + b\n',
    "calc/api.py": "from calc.core import add_numbers\n\n\ndef total(values):\n    out = 0\n"
                   "    for v in values:\n        out = add_numbers(out, v)\n    return out\n",
    "README.md": "# calc\n\nA tiny calculator.\n" + "Some words about adding numbers. " * 200 + "\n",
}


def _call(name: str, **args: Any) -> ScriptedToolCall:
    return ScriptedToolCall(name, json.dumps(args))


class Model:
    """A scripted model that answers by the conversation it is sent: the main agent or one of its subagents."""

    def __init__(self, *, delay: float = 0.4) -> None:
        self.delay = delay
        self.active = 0
        self.most_active = 0
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> ScriptedReply:
        messages = body["messages"]
        fork = next((i for i, m in enumerate(messages)
                     if m["role"] == "user" and str(m.get("content", "")).startswith(SUBAGENT_MARK)), None)
        if fork is None:
            return self._main(messages)
        with self._lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            time.sleep(self.delay)  # long enough for the other subagent's request to arrive meanwhile
            return self._sub(str(messages[fork]["content"]), sum(m["role"] == "assistant" for m in messages[fork:]))
        finally:
            with self._lock:
                self.active -= 1

    def _main(self, messages: list[dict[str, Any]]) -> ScriptedReply:
        if len(messages) == 2:
            return ScriptedReply(content="ready")  # the priming call
        step = sum(m["role"] == "assistant" for m in messages)
        if step == 0:
            return ScriptedReply(tool_calls=[
                _call("task", description="find adders", prompt="Where is add_numbers defined and used?"),
                _call("task", description="find totals", prompt="What does total do?"),
            ])
        return ScriptedReply(tool_calls=[_call("finish", summary="Explored through two subagents.")])

    def _sub(self, task: str, step: int) -> ScriptedReply:
        if "Task: find adders" in task:
            script = [
                ScriptedReply(tool_calls=[_call("read_file", path="calc/core.py")]),
                ScriptedReply(tool_calls=[_call("write_file", path="calc/core.py", content="oops\n")]),
                ScriptedReply(tool_calls=[_call("shell", command="touch pwned")]),
                ScriptedReply(tool_calls=[_call("finish", summary="add_numbers: defined in calc/core.py:1, "
                                                                  "used in calc/api.py:7.")]),
            ]
        else:
            script = [
                ScriptedReply(tool_calls=[_call("grep", pattern="def total")]),
                ScriptedReply(tool_calls=[_call("finish", summary="total sums a list with add_numbers.")]),
            ]
        return script[min(step, len(script) - 1)]


def _env() -> dict[str, str]:
    return {"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"}


def _session(root: Path) -> list[dict[str, Any]]:
    directory = root / ".v4agent" / "sessions"
    [path] = sorted(directory.glob("*.jsonl"))
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_subagents_fork_the_cached_conversation_in_parallel_and_only_read(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    model = Model()
    with StandIn(handler=model) as server:
        done = run_cli("refactor", str(root), "explain how totals are computed", "--base-url", server.base_url,
                       "--yes", "--json", "--prime", "always", env=_env(), timeout=300)
        calls = list(server.calls)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["status"] == "finished"
    assert model.most_active >= 2  # the two task calls of one reply ran at the same time

    # Subagents cannot write: the write and the command were tool errors, and nothing changed.
    assert (root / "calc/core.py").read_text() == SAMPLE["calc/core.py"]
    assert not (root / "pwned").exists()
    assert subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=all"],
                          capture_output=True, text=True, check=True).stdout.strip() == ""
    sub_requests = [c for c in calls if any(str(m.get("content", "")).startswith(SUBAGENT_MARK)
                                            for m in c.request["messages"])]
    refused = [m["content"] for c in sub_requests for m in c.request["messages"] if m["role"] == "tool"
               and "refused: a subagent may only read" in str(m["content"])]
    assert sorted({text.split(":")[0] for text in refused}) == ["shell", "write_file"]

    # The first request of each subagent is the main request's messages plus the task, and hits the cache
    # up to the fork point (the stand-in's bill).
    mains = [c for c in calls if c not in sub_requests]
    fork_call = mains[1]  # [prime, the turn that asked for the tasks, the turn after]
    firsts = [c for c in sub_requests if sum(m["role"] == "assistant" for m in c.request["messages"]) == 0]
    assert len(firsts) == 2
    for first in firsts:
        assert first.request["messages"][:-1] == fork_call.request["messages"]
        assert first.cache_hit >= 0.99 * fork_call.input_end, (first.cache_hit, fork_call.input_end)

    # The main context grows only by the two summaries.
    after = mains[2].request["messages"]
    assert after[:len(fork_call.request["messages"])] == fork_call.request["messages"]
    grown = after[len(fork_call.request["messages"]):]
    assert [m["role"] for m in grown] == ["assistant", "tool", "tool"]
    assert grown[1]["content"].endswith("add_numbers: defined in calc/core.py:1, used in calc/api.py:7.")
    assert grown[2]["content"].endswith("total sums a list with add_numbers.")
    assert "def add_numbers" not in grown[1]["content"]  # the subagent's read stayed in the subagent

    # Costs are nested in the session and shown in the report; the ledger has the subagents' calls.
    records = _session(root)
    subtasks = [r for r in records if r["type"] == "subtask"]
    assert [(s["description"], s["status"]) for s in subtasks] == [("find adders", "finished"),
                                                                     ("find totals", "finished")]
    assert [s["turns"] for s in subtasks] == [4, 2]
    by_kind = {row["kind"]: row for row in report["cost_by_kind"]}
    assert by_kind["subagent"]["calls"] == 6
    assert by_kind["subagent"]["cost_usd"] > 0
    assert abs(by_kind["total"]["cost_usd"] - sum(r["cost_usd"] for r in by_kind.values()
                                                  if r["kind"] != "total")) < 1e-9
    assert abs(sum(s["cost_usd"] for s in subtasks) - by_kind["subagent"]["cost_usd"]) < 1e-9
    ledger = [json.loads(line) for line in (root / ".v4agent" / "ledger.jsonl").read_text().splitlines()]
    parent = records[0]["id"]
    sub_lines = [r for r in ledger if r["session_id"].startswith(parent + ".sub-")]
    assert len(sub_lines) == 6
    shown = run_cli("cost", str(root), "--json")
    assert shown.returncode == 0, shown.stderr
    groups = json.loads(shown.stdout)
    assert groups["with_subagents"][parent]["calls"] == len(ledger)


class LimitModel:
    """A main agent that delegates one task whose subagent never finishes, then a malformed task call."""

    def __call__(self, body: dict[str, Any]) -> ScriptedReply:
        messages = body["messages"]
        if any(str(m.get("content", "")).startswith(SUBAGENT_MARK) for m in messages):
            return ScriptedReply(tool_calls=[_call("list_files")])  # keeps looking: stopped by its turn limit
        step = sum(m["role"] == "assistant" for m in messages)
        if step == 0:
            return ScriptedReply(tool_calls=[_call("task", description="wander", prompt="Look around.")])
        if step == 1:
            return ScriptedReply(tool_calls=[_call("task", description="", prompt="no name")])
        return ScriptedReply(tool_calls=[_call("finish", summary="done")])


def test_subagent_limits_bad_arguments_and_the_off_switch(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    env = {**_env(), "V4AGENT_SUBAGENTS_MAX_TURNS": "2"}
    with StandIn(handler=LimitModel()) as server:
        done = run_cli("refactor", str(root), "look", "--base-url", server.base_url, "--yes", "--json",
                       "--prime", "never", env=env, timeout=300)
        calls = list(server.calls)
    assert done.returncode == 0, done.stderr[-3000:]
    subs = [c for c in calls if any(str(m.get("content", "")).startswith(SUBAGENT_MARK) for m in c.request["messages"])]
    assert len(subs) == 2  # subagents.max_turns
    last = calls[-1].request["messages"]
    results = [m["content"] for m in last if m["role"] == "tool"]
    assert "[subagent 'wander': limit, 2 call(s)" in results[-2]
    assert "The subagent ended without a summary" in results[-2]
    assert results[-1].startswith("task: bad arguments: description is empty")
    [subtask] = [r for r in _session(root) if r["type"] == "subtask"]
    assert (subtask["status"], subtask["turns"]) == ("limit", 2)
    sub_file = root / ".v4agent" / "sessions" / "subagents" / f"{subtask['session']}.jsonl"
    assert sub_file.is_file()
    sessions = run_cli("sessions", "-C", str(root), "--json")  # the subagent's file is not a session of its own
    assert sessions.returncode == 0, sessions.stderr
    assert subtask["session"] not in sessions.stdout

    # subagents.enabled = false: the tool list never has task.
    other = make_git_repo(tmp_path / "other", SAMPLE)
    finish = ScriptedReply(tool_calls=[_call("finish", summary="ok")])
    with StandIn(replies=[finish]) as server:
        off = run_cli("refactor", str(other), "look", "--base-url", server.base_url, "--yes", "--json", "--prime",
                      "never", env={**_env(), "V4AGENT_SUBAGENTS_ENABLED": "false"}, timeout=300)
        sent = server.calls[0].request
    assert off.returncode == 0, off.stderr[-3000:]
    assert "task" not in [t["function"]["name"] for t in sent["tools"]]


def test_ctrl_c_stops_the_subagents_and_leaves_the_session_resumable(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    arrived = threading.Event()
    slow = Model(delay=0.0)

    def model(body: dict[str, Any]) -> ScriptedReply:
        if any(str(m.get("content", "")).startswith(SUBAGENT_MARK) for m in body["messages"]):
            arrived.set()
            time.sleep(1.5)  # the subagents' first replies are slow: Ctrl-C lands while they wait
        return slow(body)

    with StandIn(handler=model) as server:
        proc = subprocess.Popen([sys.executable, "-m", "v4agent", "refactor", str(root), "look", "--base-url",
                                 server.base_url, "--yes", "--prime", "never"],
                                env={**os.environ, **_env()}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        assert arrived.wait(120)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 5, err[-3000:]
    records = _session(root)
    assert records[-1]["type"] == "end"
    assert records[-1]["status"] == "interrupted"
    sub_files = sorted((root / ".v4agent" / "sessions" / "subagents").glob("*.jsonl"))
    assert len(sub_files) == 2
    for path in sub_files:
        ends = [json.loads(line) for line in path.read_text().splitlines() if '"type":"end"' in line]
        assert [e["status"] for e in ends] == ["interrupted"]
    assert (root / "calc/core.py").read_text() == SAMPLE["calc/core.py"]


def test_read_only_runner_lets_only_reads_and_read_only_mcp_tools_through() -> None:
    ran: list[str] = []

    def runner(name: str, arguments: str) -> ToolResult:
        ran.append(name)
        return ToolResult("ran", True)

    gate = read_only_runner(runner, frozenset({"mcp__docs__lookup"}))
    for name in ("read_file", "grep", "list_files", "git_diff", "finish", "mcp__docs__lookup"):
        assert gate(name, "{}").ok
    for name in ("write_file", "edit_file", "delete_file", "shell", "run_tests", "task", "mcp__docs__write"):
        refused = gate(name, "{}")
        assert not refused.ok
        assert "refused: a subagent may only read" in refused.content
    assert ran == ["read_file", "grep", "list_files", "git_diff", "finish", "mcp__docs__lookup"]


def test_plan_mode_lets_read_only_mcp_tools_run_with_or_without_subagents() -> None:
    from v4agent.agent.subagents import with_subagents
    from v4agent.core.config import load_config
    from v4agent.tools.registry import tool_schemas
    from v4agent.tools.task import session_tool_schemas

    def runner(name: str, arguments: str) -> ToolResult:
        return ToolResult("ran", True)

    config = load_config(None, environ={})
    for tools in (tool_schemas(), session_tool_schemas(subagents=True)):
        gate, _ = with_subagents(runner, tools, config, lambda: None,  # type: ignore[arg-type,return-value]
                                 also_read_only=frozenset({"mcp__docs__lookup"}))
        gate.plan = True
        assert gate("mcp__docs__lookup", "{}").ok  # the server marks it read-only (readOnlyHint)
        assert not gate("mcp__docs__write", "{}").ok
        assert not gate("write_file", "{}").ok
