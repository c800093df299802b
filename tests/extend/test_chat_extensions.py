"""Instruction files, /memory, custom commands, /plan and stream-json in a piped `v4agent chat`, end to end."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

import jsonschema

from tests.conftest import REPO_ROOT, make_git_repo, run_cli
from v4agent.core.trust import trust_repository
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

SAMPLE = {
    "app.py": "def f():\n    return 1\n",
    "AGENTS.md": "Project rule ALPHA-RULE.\n",
    "web/AGENTS.md": "Web rule WEB-RULE.\n",
    ".v4agent/commands/explain.md": "Explain $ARGUMENTS in two sentences.\n",
}
SCHEMA = json.loads((REPO_ROOT / "docs" / "stream-json.schema.json").read_text())


def _env() -> dict[str, str]:
    return {"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"}


def _call(name: str, **args: Any) -> ScriptedToolCall:
    return ScriptedToolCall(name, json.dumps(args))


def _assert_extensions(calls: list[Any]) -> None:
    """Each request is the previous one plus what came after it: same tools, earlier messages byte-identical."""
    for before, after in itertools.pairwise(calls):
        assert after.request["tools"] == before.request["tools"]
        prev = before.request["messages"]
        assert json.dumps(after.request["messages"][: len(prev)]) == json.dumps(prev)
        assert after.cache_hit >= before.prompt_tokens - 64


def test_chat_memory_commands_and_plan_mode_keep_the_prefix(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    trust_repository(root)
    replies = [
        ScriptedReply(content="f returns one. That is all."),  # /explain app.py
        ScriptedReply(tool_calls=[_call("edit_file", path="app.py", old_text="return 1", new_text="return 2")]),
        ScriptedReply(content="Plan: change f to return 2."),
        ScriptedReply(tool_calls=[_call("edit_file", path="app.py", old_text="return 1", new_text="return 2")]),
        ScriptedReply(content="Done."),
    ]
    script = "/memory\n/explain app.py\n/plan\nmake f return 2\n/plan accept\n"
    with StandIn(replies=replies) as server:
        done = run_cli("chat", str(root), "--base-url", server.base_url, "--yes", env=_env(), input_text=script)
        calls = list(server.calls)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "AGENTS.md" in out
    assert "web/AGENTS.md" in out
    assert "tokens in the system prompt" in out
    assert "ALPHA-RULE" in calls[0].request["messages"][0]["content"]
    users = [m["content"] for m in calls[-1].request["messages"] if m["role"] == "user"][2:]
    assert users[0] == "Explain app.py in two sentences."
    assert users[1].startswith("(Plan mode is on.")
    assert users[1].endswith("make f return 2")
    assert users[2].startswith("(Plan mode is off")
    tools = [m["content"] for m in calls[2].request["messages"] if m["role"] == "tool"]
    assert "plan mode is on" in tools[-1]
    assert (root / "app.py").read_text() == "def f():\n    return 2\n"  # carried out after /plan accept
    _assert_extensions(calls)


def test_chat_untrusted_repository_ignores_project_commands(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    with StandIn(replies=[ScriptedReply(content="hi")]) as server:
        done = run_cli("chat", str(root), "--base-url", server.base_url, env=_env(), input_text="/explain x\n")
        calls = list(server.calls)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ignored 1 command(s)" in done.stderr
    assert "unknown command /explain" in done.stdout
    assert calls == []
    assert "Traceback" not in done.stderr


def test_chat_stream_json_lines_follow_the_schema(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    (Path(os.environ["XDG_CONFIG_HOME"]) / "v4agent").mkdir(parents=True)
    replies = [ScriptedReply(tool_calls=[_call("read_file", path="app.py")]), ScriptedReply(content="It is f.")]
    with StandIn(replies=replies) as server:
        done = run_cli("chat", str(root), "--base-url", server.base_url, "--output-format", "stream-json",
                       env=_env(), input_text="what is here?\n")
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    for line in lines:
        jsonschema.validate(line, SCHEMA)
    types = [line["type"] for line in lines]
    assert types[0] == "start"
    assert types[-1] == "end"
    assert {"call", "tool_start", "tool_result", "text", "turn_end"} <= set(types)
    assert [i["path"] for i in lines[0]["instructions"]] == ["AGENTS.md", "web/AGENTS.md"]
    assert next(line for line in lines if line["type"] == "turn_end")["answer"] == "It is f."
