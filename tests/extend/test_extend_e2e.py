"""`v4agent refactor` end to end with two real MCP servers (stdio and streamable HTTP) and hooks, through the
stand-in: the MCP schemas, results and hook effects reach the model, and every request is a byte extension of
the one before (tools identical, messages a prefix), so the billed cache hits stay at the ideal."""

from __future__ import annotations

import itertools
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_git_repo, run_cli
from tests.extend.conftest import SERVER, alive_with, http_server
from v4agent.sandbox import containment, make_policy
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

needs_sandbox = pytest.mark.skipif(not containment(make_policy(Path.cwd())).available,
                                   reason="bubblewrap cannot start a sandbox here")

STOP_ONCE = f"""{sys.executable} -c '
import json, sys
event = json.load(sys.stdin)
if not event["stop_hook_active"]:
    print(json.dumps({{"decision": "block", "reason": "run the linter first"}}))
'"""


def _call(name: str, **args: Any) -> ScriptedToolCall:
    return ScriptedToolCall(name, json.dumps(args))


def _config(home_config: Path, marker: str, web_url: str) -> None:
    home_config.mkdir(parents=True, exist_ok=True)
    (home_config / "config.toml").write_text(f"""
[mcp.servers.local]
command = "/bin/sh"
args = ["-c", 'exec "$0" "$1" "{marker}"', "{sys.executable}", "{SERVER}"]

[mcp.servers.web]
type = "http"
url = "{web_url}"
approve = "allow"

[[hooks.SessionStart]]
hooks = [{{ type = "command", command = "echo 'hook context: the release branch is frozen'" }}]

[[hooks.PreToolUse]]
matcher = "Bash"
hooks = [{{ type = "command", command = "echo 'no shell in this repository' >&2; exit 2" }}]

[[hooks.PostToolUse]]
matcher = "Read"
hooks = [{{ type = "command", command = "echo '{{\\"hookSpecificOutput\\": {{\\"hookEventName\\": \\"PostToolUse\\", \\"additionalContext\\": \\"read checked\\"}}}}'" }}]

[[hooks.Stop]]
hooks = [{{ type = "command", command = {json.dumps(STOP_ONCE)} }}]

[[hooks.SessionEnd]]
hooks = [{{ type = "command", command = "cat > session_end.json" }}]
""")


@needs_sandbox
def test_two_mcp_servers_and_hooks_keep_every_request_an_extension(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"README.md": "hello\n", "app.py": "print('hi')\n"})
    marker = f"--v4agent-e2e-{secrets.token_hex(6)}"
    web, url = http_server("web")
    import os

    _config(Path(os.environ["XDG_CONFIG_HOME"]) / "v4agent", marker, url)
    script = [
        ScriptedReply(content="ready"),  # the priming call
        ScriptedReply(tool_calls=[_call("mcp__local__add", a=2, b=3)]),  # asks approval: none headless
        ScriptedReply(tool_calls=[_call("mcp__web__echo", text="over http")]),  # approve = "allow"
        ScriptedReply(tool_calls=[_call("shell", command="rm -rf build")]),  # PreToolUse blocks
        ScriptedReply(tool_calls=[_call("read_file", path="README.md")]),  # PostToolUse adds context
        ScriptedReply(tool_calls=[_call("finish", summary="first try")]),  # Stop hook: not yet
        ScriptedReply(tool_calls=[_call("mcp__web__add", a=20, b=22)]),
        ScriptedReply(tool_calls=[_call("finish", summary="done")]),
    ]
    try:
        with StandIn(replies=script) as server:
            done = run_cli("refactor", str(root), "look around", "--base-url", server.base_url, "--json",
                           "--prime", "always", env={"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"},
                           timeout=300)
            calls = list(server.calls)
    finally:
        web.terminate()
        web.wait(timeout=10)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["summary"] == "done"

    names = [t["function"]["name"] for t in calls[1].request["tools"]]
    mcp_names = [n for n in names if n.startswith("mcp__")]
    assert mcp_names == sorted(mcp_names)
    assert {"mcp__local__add", "mcp__web__echo", "mcp__web__add"} <= set(mcp_names)
    assert names[: len(names) - len(mcp_names)] == sorted(n for n in names if not n.startswith("mcp__"))
    for prev, cur in itertools.pairwise(calls):
        assert json.dumps(cur.request["tools"]) == json.dumps(prev.request["tools"])
        prev_json = json.dumps(prev.request["messages"], ensure_ascii=False)[:-1]
        assert json.dumps(cur.request["messages"], ensure_ascii=False).startswith(prev_json)
    turns = calls[1:]
    assert sum(c.cache_hit for c in turns) >= 0.99 * sum(c.theoretical_max_hit for c in turns)

    messages = calls[-1].request["messages"]
    assert "hook context: the release branch is frozen" in messages[2]["content"]
    results = [m["content"] for m in messages if m["role"] == "tool"]
    assert "needs approval" in results[0]
    assert results[1] == "over http"
    assert results[2] == "shell: blocked by a PreToolUse hook: no shell in this repository"
    assert results[3].endswith("[PostToolUse hook] read checked")
    assert results[5] == "42"
    assert any(m["role"] == "user" and "run the linter first" in m["content"] for m in messages)

    end = json.loads((root / "session_end.json").read_text())
    assert end["hook_event_name"] == "SessionEnd"
    assert end["session_id"] == report["session_id"]
    deadline = time.monotonic() + 10
    while alive_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive_with(marker) == []


def test_a_resumed_session_keeps_its_tools_and_restarts_its_servers(tmp_path: Path) -> None:
    import os

    root = make_git_repo(tmp_path / "repo", {"README.md": "hello\n"})
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "v4agent"
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text(
        f'[mcp.servers.local]\ncommand = "{sys.executable}"\nargs = ["{SERVER}"]\napprove = "allow"\n')
    env = {"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"}
    script = [ScriptedReply(tool_calls=[_call("mcp__local__add", a=1, b=1)]),
              ScriptedReply(tool_calls=[_call("mcp__local__add", a=2, b=2)]),
              ScriptedReply(tool_calls=[_call("finish", summary="done")])]
    with StandIn(replies=script) as server:
        first = run_cli("refactor", str(root), "add things", "--base-url", server.base_url, "--json", "--prime",
                        "never", "--max-turns", "1", env=env, timeout=300)
        assert first.returncode == 4, first.stderr[-2000:]  # the turn limit: resumable
        sid = json.loads(first.stdout)["session_id"]
        resumed = run_cli("refactor", str(root), "--resume", sid, "--base-url", server.base_url, "--json",
                          env=env, timeout=300)
        calls = list(server.calls)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.dumps(calls[-1].request["tools"]) == json.dumps(calls[0].request["tools"])
    results = [m["content"] for m in calls[-1].request["messages"] if m["role"] == "tool"]
    assert results == ["2", "4"]
