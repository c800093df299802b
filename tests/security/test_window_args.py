"""Hostile tool-call arguments through the real CLI: a tool error the model can act on, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import make_git_repo, run_cli
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

_FINISH = ScriptedReply(tool_calls=[ScriptedToolCall("finish", json.dumps({"summary": "stopped"}))])


@pytest.mark.parametrize(("arguments", "message"), [
    ("[" * 200_000, "nest deeper than 32 levels"),
    ('{"path": "a.py", "content": "x", "n": 1' + "0" * 10_000 + "}", "the limit is 64"),
])
def test_hostile_arguments_get_a_tool_error_and_the_run_goes_on(tmp_path: Path, arguments: str,
                                                                message: str) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    # Served whole (finish_reason set): a server may send what the model's output limit would have cut.
    script = [ScriptedReply(tool_calls=[ScriptedToolCall("write_file", arguments)], finish_reason="tool_calls"),
              _FINISH]
    with StandIn(replies=script) as server:
        done = run_cli("refactor", str(root), "write a file", "--base-url", server.base_url, "--yes", "--json",
                       "--prime", "never", env={"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"},
                       timeout=300)
        calls = list(server.calls)
    assert "Traceback" not in done.stderr
    assert "RecursionError" not in done.stderr + done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    (result,) = [m for m in calls[1].request["messages"] if m["role"] == "tool"]
    assert result["content"].startswith("write_file: bad arguments: ")
    assert message in result["content"]
    assert (root / "a.py").read_text() == "x = 1\n"
