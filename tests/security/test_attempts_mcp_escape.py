"""A repository's MCP server runs, per attempt, in the sandbox of that attempt's worktree: a tool that writes
files cannot reach the user's tree (by an absolute path or one that climbs out) nor another attempt's worktree.

The real CLI, a real stdio MCP server shipped in the (trusted) repository's ``.mcp.json``
(tests/extend/mcp_server.py, its ``write`` tool), bubblewrap, the stand-in. (A user's own servers run outside the
sandbox by design: they are the user's code, like the user's shell.)
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

from tests.conftest import make_git_repo, run_cli
from tests.extend.conftest import SERVER
from tests.refactor.test_attempts_sessions import needs_sandbox
from v4agent.core.trust import trust_repository
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

FILES = {"calc.py": "def add(a, b):\n    return a + b\n", "README.md": "calc\n"}


def _call(name: str, **args: Any) -> ScriptedToolCall:
    return ScriptedToolCall(name, json.dumps(args))


@needs_sandbox
def test_an_attempts_mcp_server_cannot_write_outside_its_worktree(tmp_path: Path) -> None:
    mcp = {"mcpServers": {"local": {"command": sys.executable, "args": ["mcp_server.py"]}}}
    root = make_git_repo(tmp_path / "repo", {**FILES, "mcp_server.py": SERVER.read_text(),
                                             ".mcp.json": json.dumps(mcp)})
    trust_repository(root)
    results: list[str] = []
    lock = threading.Lock()

    def model(body: dict[str, Any]) -> ScriptedReply:
        messages = body["messages"]
        if len(messages) == 2:
            return ScriptedReply(content="ready")
        for m in messages:
            if m["role"] == "tool":
                with lock:
                    results.append(str(m.get("content", "")))
        step = sum(m["role"] == "assistant" for m in messages)
        other = "2" if "Strategy for this attempt: a" in str(messages[2].get("content")) else "1"
        attacks = [
            _call("mcp__local__write", path=str(root / "calc.py"), text="pwned = 1\n"),
            _call("mcp__local__write", path="../../../../README.md", text="pwned\n"),
            _call("mcp__local__write", path=f"../{other}/calc.py", text="pwned = 2\n"),
            _call("mcp__local__write", path=str(root / ".git" / "hooks" / "pre-commit"), text="pwned\n"),
        ]
        if step < len(attacks):
            return ScriptedReply(tool_calls=[attacks[step]])
        return ScriptedReply(tool_calls=[_call("finish", summary="tried")])

    with StandIn(handler=model) as server:
        done = run_cli("refactor", str(root), "escape", "--attempts", "2", "--strategies", "a;b", "--base-url",
                       server.base_url, "--yes", "--json", "--prime", "always", "--select", "tests",
                       env={"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"}, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    report = json.loads(done.stdout)
    group = root / ".v4agent" / "attempts" / report["group"]
    diffs = {a["number"]: (group / a["diff_file"]).read_text() for a in report["attempts"]}
    assert diffs == {1: "", 2: ""}, (diffs, results)  # nothing landed in any worktree either
    assert "mcp__local__write" in {t["function"]["name"] for t in server.calls[0].request["tools"]}
    assert (root / "calc.py").read_text() == FILES["calc.py"]
    assert (root / "README.md").read_text() == FILES["README.md"]
    assert not (root / ".git" / "hooks" / "pre-commit").exists()
    # Every attack reached the server and was answered; a write it reports done landed, at most, in the
    # sandbox's own throwaway directories (the files above are the evidence that nothing real changed).
    assert len([r for r in results if "written" in r or "failed" in r]) >= 8
