"""A 20-turn piped `v4agent chat` with two real MCP servers (stdio and HTTP) and hooks, through the stand-in:
every request extends the one before byte for byte, and the billed hits stay at >= 99% of the ideal."""

from __future__ import annotations

import itertools
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import make_git_repo, run_cli
from tests.extend.conftest import SERVER, alive_with, http_server
from tests.extend.test_extend_e2e import needs_sandbox
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

TURNS = 20


def _reply(request: dict[str, Any]) -> ScriptedReply:
    messages = request["messages"]
    if len(messages) <= 2:
        return ScriptedReply(content="ready")
    last = messages[-1]
    if last["role"] == "user":
        turn = sum(1 for m in messages[2:] if m["role"] == "user")
        if turn % 2:
            return ScriptedReply(tool_calls=[ScriptedToolCall("mcp__web__add", json.dumps({"a": turn, "b": 1}))])
        return ScriptedReply(tool_calls=[ScriptedToolCall("mcp__local__echo", json.dumps({"text": f"t{turn}"}))])
    return ScriptedReply(content=f"done: {last['content'][:40]}")


def _configure(marker: str, url: str) -> None:
    """Two MCP servers (stdio, HTTP) and two hooks in the user's config."""
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "v4agent"
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text(f"""
[mcp.servers.local]
command = "/bin/sh"
args = ["-c", 'exec "$0" "$1" "{marker}"', "{sys.executable}", "{SERVER}"]
approve = "allow"

[mcp.servers.web]
type = "http"
url = "{url}"
approve = "allow"

[[hooks.UserPromptSubmit]]
hooks = [{{ type = "command", command = "echo 'hook: mind the style guide'" }}]

[[hooks.PostToolUse]]
matcher = "mcp__.*"
hooks = [{{ type = "command", command = "cat >> mcp-calls.jsonl; echo >> mcp-calls.jsonl" }}]
""")


def _chat_turns(root: Path, web: Any, lines: str) -> list[Any]:
    """Pipe ``lines`` into `v4agent chat` against the stand-in; the calls after the opening one (stops ``web``)."""
    try:
        with StandIn(handler=_reply) as server:
            done = run_cli("chat", str(root), "--base-url", server.base_url, input_text=lines, timeout=600,
                           env={"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"})
            calls = list(server.calls)
    finally:
        web.terminate()
        web.wait(timeout=10)
    assert done.returncode == 0, done.stderr[-3000:]
    turns = [c for c in calls if len(c.request["messages"]) > 2]
    assert len(turns) == 2 * TURNS
    return turns


def _assert_exact_extensions(turns: list[Any]) -> None:
    """Every request extends the one before byte for byte, and the billed hits are >= 99% of the ideal."""
    for prev, cur in itertools.pairwise(turns):
        assert json.dumps(cur.request["tools"]) == json.dumps(prev.request["tools"])
        prev_json = json.dumps(prev.request["messages"], ensure_ascii=False)[:-1]
        assert json.dumps(cur.request["messages"], ensure_ascii=False).startswith(prev_json)
    assert sum(c.cache_hit for c in turns) >= 0.99 * sum(c.theoretical_max_hit for c in turns)


@needs_sandbox
def test_twenty_turns_with_mcp_and_hooks_stay_cache_exact(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"README.md": "hello\n"})
    marker = f"--v4agent-chat-{secrets.token_hex(6)}"
    web, url = http_server("web")
    _configure(marker, url)
    lines = "".join(f"question {i}\n" for i in range(1, TURNS + 1))
    turns = _chat_turns(root, web, lines)
    _assert_exact_extensions(turns)
    messages = turns[-1].request["messages"]
    users = [m["content"] for m in messages if m["role"] == "user"][1:]
    assert all(u.endswith("hook: mind the style guide") for u in users[1:])
    results = [m["content"] for m in messages if m["role"] == "tool"]
    assert results[:2] == ["t2", "4"]  # the chat's opening message counts as the first user message

    logged = [json.loads(line) for line in (root / "mcp-calls.jsonl").read_text().splitlines() if line.strip()]
    assert len(logged) == TURNS
    assert logged[1]["tool_name"] == "mcp__web__add"
    assert logged[1]["tool_response"]["output"] == "4"
    deadline = time.monotonic() + 10
    while alive_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive_with(marker) == []


@needs_sandbox
def test_a_plan_mode_switch_among_mcp_and_hooks_keeps_every_request_an_extension(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"README.md": "hello\n"})
    marker = f"--v4agent-chat-{secrets.token_hex(6)}"
    web, url = http_server("web")
    _configure(marker, url)
    plan_on, plan_off = 9, 13  # questions 9..12 are asked in plan mode
    lines = ""
    for i in range(1, TURNS + 1):
        lines += "/plan on\n" if i == plan_on else "/plan off\n" if i == plan_off else ""
        lines += f"question {i}\n"
    turns = _chat_turns(root, web, lines)
    _assert_exact_extensions(turns)  # a plan switch travels in a message: tools and prefix unchanged
    messages = turns[-1].request["messages"]
    results = [m["content"] for m in messages if m["role"] == "tool"]
    refused = [r for r in results if "refused: plan mode is on" in r]
    assert len(refused) == plan_off - plan_on  # neither MCP server marks its tools read-only
    assert not any("refused" in r for r in results[-3:])  # every tool works again after /plan off
    users = [m["content"] for m in messages if m["role"] == "user"]
    assert sum("Plan mode is on" in u for u in users) == 1
    assert sum("Plan mode is off" in u for u in users) == 1
