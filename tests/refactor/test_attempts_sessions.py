"""Attempts are ordinary sessions: hooks, MCP servers and the task tool in each, and `--format stream-json`.

The real CLI, real git worktrees, a real stdio MCP server in the sandbox, real hooks and the stand-in. Each
attempt delegates one exploration to a subagent, writes a file through the MCP server (in its own worktree:
never the user's tree), reads a file (a PostToolUse hook adds context), then finishes. Every request of the
run (priming, attempts, subagents, judge) must send the same tool list byte for byte.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, make_git_repo, run_cli
from tests.extend.conftest import SERVER
from v4agent.sandbox import containment, make_policy
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

needs_sandbox = pytest.mark.skipif(not containment(make_policy(Path.cwd())).available,
                                   reason="bubblewrap cannot start a sandbox here")

SAMPLE = {
    "calc/__init__.py": "",
    "calc/core.py": 'def add_numbers(a, b):\n    """Add two numbers."""\n    return a + b\n',
    "README.md": "calc: adds numbers\n",
}
SUBAGENT_MARK = "(You are now a subagent"


def _call(name: str, **args: Any) -> ScriptedToolCall:
    return ScriptedToolCall(name, json.dumps(args))


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else ""


class Model:
    """Attempt ``a`` and ``b``: a subagent, an MCP write, a read, finish; the judge picks attempt 2."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> ScriptedReply:
        messages = body["messages"]
        if len(messages) == 2:
            return ScriptedReply(content="ready")
        if "Pick the one change" in _text(messages[-1]):
            return ScriptedReply(content=json.dumps({"choice": 2, "reason": "b is better"}))
        fork = next((i for i, m in enumerate(messages)
                     if m["role"] == "user" and _text(m).startswith(SUBAGENT_MARK)), None)
        if fork is not None:
            step = sum(m["role"] == "assistant" for m in messages[fork:])
            if step == 0:
                return ScriptedReply(tool_calls=[_call("read_file", path="calc/core.py")])
            return ScriptedReply(tool_calls=[_call("finish", summary="add_numbers is in calc/core.py:1")])
        name = _text(messages[2]).rsplit("Strategy for this attempt: ", 1)[-1].strip()
        step = sum(m["role"] == "assistant" for m in messages)
        script = [
            ScriptedReply(tool_calls=[_call("task", description=f"find adders {name}", prompt="Where is add?")]),
            ScriptedReply(tool_calls=[_call("mcp__local__write", path=f"mcp_{name}.txt", text=f"from {name}\n")]),
            ScriptedReply(tool_calls=[_call("read_file", path="README.md")]),
            ScriptedReply(tool_calls=[_call("finish", summary=f"done {name}")]),
        ]
        return script[min(step, len(script) - 1)]


def _config(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(f"""
[mcp.servers.local]
command = "{sys.executable}"
args = ["{SERVER}"]
approve = "allow"

[[hooks.PostToolUse]]
matcher = "Read"
hooks = [{{ type = "command", command = "echo '{{\\"hookSpecificOutput\\": {{\\"hookEventName\\": \\"PostToolUse\\", \\"additionalContext\\": \\"read checked\\"}}}}'" }}]
""")


def _validate(lines: list[dict[str, Any]]) -> None:
    import jsonschema

    schema = json.loads((REPO_ROOT / "docs" / "stream-json.schema.json").read_text())
    for line in lines:
        jsonschema.validate(line, schema)


@needs_sandbox
def test_attempts_run_hooks_mcp_and_subagents_with_one_tool_list_and_stream(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    _config(Path(os.environ["XDG_CONFIG_HOME"]) / "v4agent")
    with StandIn(handler=Model()) as server:
        done = run_cli("refactor", str(root), "improve add", "--attempts", "2", "--strategies", "a;b",
                       "--base-url", server.base_url, "--yes", "--format", "stream-json", "--prime", "always",
                       "--select", "judge", env={"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"},
                       timeout=300)
        calls = list(server.calls)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    _validate(lines)

    # One tool list, byte for byte, in every request: priming, attempts, subagents, judge.
    lists = {json.dumps(c.request["tools"], sort_keys=False) for c in calls}
    assert len(lists) == 1
    names = [t["function"]["name"] for t in calls[0].request["tools"]]
    assert "task" in names
    assert "mcp__local__write" in names
    prefix = calls[0].input_end
    firsts = [c for c in calls if len(c.request["messages"]) == 3 and "Pick the one" not in
              _text(c.request["messages"][-1])]
    assert len(firsts) == 2
    assert all((c.cache_hit or 0) >= 0.99 * prefix for c in firsts)

    # The hook ran in each attempt (its context in the read's result); the subagents ran and only their
    # summaries joined the attempts' conversations.
    finals = [c.request["messages"] for c in calls
              if any("read checked" in _text(m) for m in c.request["messages"])
              and not any(_text(m).startswith(SUBAGENT_MARK) for m in c.request["messages"])]
    assert {_text(m[2]).rsplit(": ", 1)[-1] for m in finals} == {"a", "b"}
    for messages in finals:
        assert any("add_numbers is in calc/core.py:1" in _text(m) for m in messages if m["role"] == "tool")

    # The MCP server wrote in each attempt's worktree; the user's tree got exactly the chosen one's file.
    assert (root / "mcp_b.txt").read_text() == "from b\n"
    assert not (root / "mcp_a.txt").exists()

    # The stream: the start, every event tagged with its attempt, one attempt_end each, the report last.
    assert lines[0]["type"] == "start"
    assert lines[0]["attempts"] == 2
    assert lines[-1]["type"] == "end"
    assert lines[-1]["selection"]["chosen"] == 2
    middle = lines[1:-1]
    assert middle
    assert all(line.get("attempt") in (1, 2) for line in middle)
    ends = {line["attempt"]: line for line in middle if line["type"] == "attempt_end"}
    assert set(ends) == {1, 2}
    for number, end in ends.items():
        [sub] = end["subagents"]
        assert sub["description"] == f"find adders {'ab'[number - 1]}"
        assert sub["turn"] == 1
        assert sub["turns"] == 2
        assert sub["cost_usd"] > 0
        assert sub["fork_hit_ratio"] is not None
        assert sub["fork_hit_ratio"] >= 0.99
    # The report's per-attempt rows carry the same subagents, and each attempt's cost includes its subagent's.
    for attempt in lines[-1]["attempts"]:
        [sub] = attempt["subagents"]
        assert attempt["cost_usd"] >= sub["cost_usd"] > 0
