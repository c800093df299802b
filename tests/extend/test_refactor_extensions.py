"""Instruction files, custom commands, plan mode and stream-json in `v4agent refactor`, end to end.

The real CLI in a subprocess against the loopback stand-in; real git; the requests the stand-in received are
the evidence (what reached the model, and that each request extends the one before byte for byte).
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

from tests.conftest import make_git_repo, run_cli
from v4agent.core.trust import trust_repository
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

SAMPLE = {
    "app.py": "def f():\n    return 1\n",
    "AGENTS.md": "# Conventions\nAlways use tabs-for-nothing style marker ALPHA-RULE.\n",
    "CLAUDE.md": "ignored when AGENTS.md exists: BETA-RULE\n",
    "pkg/sub/CLAUDE.md": "Nested rule GAMMA-RULE for pkg/sub.\n",
    "pkg/mod.py": "X = 1\n",
}


def _env(home: Path | None = None) -> dict[str, str]:
    env = {"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"}
    return env


def _call(name: str, **args: Any) -> ScriptedToolCall:
    return ScriptedToolCall(name, json.dumps(args))


def _system(call: Any) -> str:
    return str(call.request["messages"][0]["content"])


def test_instruction_files_reach_the_model_in_the_system_message(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    user_dir = Path(os.environ["XDG_CONFIG_HOME"]) / "v4agent"
    user_dir.mkdir(parents=True)
    (user_dir / "AGENTS.md").write_text("User rule DELTA-RULE.\n")
    replies = [ScriptedReply(tool_calls=[_call("finish", summary="done")])]
    with StandIn(replies=replies) as server:
        done = run_cli("refactor", str(root), "look around", "--base-url", server.base_url, "--prime", "never",
                       "--json", env=_env(), timeout=300)
        calls = list(server.calls)
    assert done.returncode == 0, done.stderr[-3000:]
    system = _system(calls[0])
    assert system.startswith("You are v4agent")
    for marker in ("ALPHA-RULE", "GAMMA-RULE", "DELTA-RULE"):
        assert marker in system
    assert "BETA-RULE" not in system  # CLAUDE.md only where a directory has no AGENTS.md
    assert "the files under pkg/sub/" in system  # a nested file is shown with its scope
    assert "not trusted by the user" in system  # an untrusted repository's files are its data
    # The stable block: the instructions sit before the pack, in the first message.
    assert "The repository, packed" in calls[0].request["messages"][1]["content"]


def test_trusted_repository_frames_its_files_as_instructions(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    trust_repository(root)
    replies = [ScriptedReply(tool_calls=[_call("finish", summary="done")])]
    with StandIn(replies=replies) as server:
        done = run_cli("refactor", str(root), "look", "--base-url", server.base_url, "--prime", "never",
                       env=_env(), timeout=300)
        calls = list(server.calls)
    assert done.returncode == 0, done.stderr[-3000:]
    system = _system(calls[0])
    assert "The user trusts this repository" in system
    assert "not trusted" not in system


def test_resume_keeps_the_recorded_instructions(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    replies = [ScriptedReply(content="thinking about it"), ScriptedReply(content="still")]  # ends without finish
    with StandIn(replies=[*replies, ScriptedReply(tool_calls=[_call("finish", summary="ok")])]) as server:
        first = run_cli("refactor", str(root), "task", "--base-url", server.base_url, "--prime", "never", "--json",
                        env=_env(), timeout=300)
        assert first.returncode == 0, first.stderr[-3000:]
        sid = json.loads(first.stdout)["session_id"]
        (root / "AGENTS.md").write_text("Changed: OMEGA-RULE\n")
        again = run_cli("refactor", str(root), "--resume", sid, "--base-url", server.base_url, "--allow-dirty",
                        "--json", env=_env(), timeout=300)
        calls = list(server.calls)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "ALPHA-RULE" in _system(calls[-1])
    assert "OMEGA-RULE" not in _system(calls[-1])
    prev = calls[-2].request["messages"]
    assert calls[-1].request["messages"][: len(prev)] == prev


def test_custom_command_expands_in_a_trusted_repository_only(tmp_path: Path) -> None:
    files = {**SAMPLE, ".v4agent/commands/fixit.md": "---\ndescription: Fix one thing\n---\nPlease fix $ARGUMENTS now.\n"}
    root = make_git_repo(tmp_path / "repo", files)
    with StandIn(replies=[ScriptedReply(tool_calls=[_call("finish", summary="done")])]) as server:
        refused = run_cli("refactor", str(root), "the bug", "--command", "fixit", "--base-url", server.base_url,
                          "--prime", "never", env=_env(), timeout=300)
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "not trusted" in refused.stderr
    assert "no custom command 'fixit'" in refused.stderr
    assert "Traceback" not in refused.stderr
    trusted = run_cli("trust", str(root), env=_env())  # the CLI trusts a repository with only command files
    assert trusted.returncode == 0, trusted.stderr
    assert ".v4agent/commands/fixit.md (a custom command prompt)" in trusted.stdout
    with StandIn(replies=[ScriptedReply(tool_calls=[_call("finish", summary="done")])]) as server:
        done = run_cli("refactor", str(root), "the parser bug", "--command", "fixit", "--base-url",
                       server.base_url, "--prime", "never", "--json", env=_env(), timeout=300)
        calls = list(server.calls)
    assert done.returncode == 0, done.stderr[-3000:]
    task = calls[0].request["messages"][2]["content"]
    assert task == "Task:\nPlease fix the parser bug now."


def test_user_command_from_the_config_directory(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    commands = Path(os.environ["XDG_CONFIG_HOME"]) / "v4agent" / "commands"
    commands.mkdir(parents=True)
    (commands / "review.md").write_text("Review the code for bugs.\n")
    with StandIn(replies=[ScriptedReply(tool_calls=[_call("finish", summary="done")])]) as server:
        done = run_cli("refactor", str(root), "focus on app.py", "--command", "review", "--base-url",
                       server.base_url, "--prime", "never", env=_env(), timeout=300)
        calls = list(server.calls)
    assert done.returncode == 0, done.stderr[-3000:]
    assert calls[0].request["messages"][2]["content"] == "Task:\nReview the code for bugs.\n\nfocus on app.py"


def _assert_extensions(calls: list[Any]) -> None:
    """Each request is the previous one plus what came after it: same tools, earlier messages byte-identical."""
    for before, after in itertools.pairwise(calls):
        assert after.request["tools"] == before.request["tools"]
        prev = before.request["messages"]
        assert json.dumps(after.request["messages"][: len(prev)]) == json.dumps(prev)
        assert after.cache_hit >= before.prompt_tokens - 64  # it hit all of the previous request


def test_plan_then_act_refuses_writes_then_acts_with_the_prefix_intact(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    replies = [
        ScriptedReply(tool_calls=[_call("read_file", path="app.py")]),
        ScriptedReply(tool_calls=[_call("write_file", path="app.py", content="broken\n")]),
        ScriptedReply(tool_calls=[_call("shell", command="touch made")]),
        ScriptedReply(tool_calls=[_call("finish", summary="1. change f to return 2 in app.py")]),
        ScriptedReply(tool_calls=[_call("edit_file", path="app.py", old_text="return 1", new_text="return 2")]),
        ScriptedReply(tool_calls=[_call("finish", summary="changed f")]),
    ]
    with StandIn(replies=replies) as server:
        done = run_cli("refactor", str(root), "make f return 2", "--plan-then-act", "--base-url", server.base_url,
                       "--prime", "never", "--yes", "--json", "--test-cmd", "true", env=_env(), timeout=300)
        calls = list(server.calls)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["plan"] == "1. change f to return 2 in app.py"
    assert report["summary"] == "changed f"
    assert (root / "app.py").read_text() == "def f():\n    return 2\n"
    assert not (root / "made").exists()
    results = [m["content"] for m in calls[3].request["messages"] if m["role"] == "tool"]
    assert "plan mode is on" in results[1]
    assert "plan mode is on" in results[2]
    users = [m["content"] for m in calls[-1].request["messages"] if m["role"] == "user"]
    assert users[2].startswith("(Plan mode is on.")
    assert users[3].startswith("(Plan mode is off")
    _assert_extensions(calls)


def test_plan_prints_the_plan_and_changes_nothing(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    replies = [
        ScriptedReply(tool_calls=[_call("edit_file", path="app.py", old_text="return 1", new_text="return 2")]),
        ScriptedReply(tool_calls=[_call("finish", summary="Step 1: edit app.py")]),
    ]
    with StandIn(replies=replies) as server:
        done = run_cli("refactor", str(root), "make f return 2", "--plan", "--base-url", server.base_url,
                       "--prime", "never", "--yes", env=_env(), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Step 1: edit app.py" in done.stdout
    assert (root / "app.py").read_text() == SAMPLE["app.py"]
    assert "no changes" in done.stdout


def test_stream_json_lines_parse_and_follow_the_schema(tmp_path: Path) -> None:
    import jsonschema

    from tests.conftest import REPO_ROOT

    schema = json.loads((REPO_ROOT / "docs" / "stream-json.schema.json").read_text())
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    replies = [
        ScriptedReply(content="ready"),  # priming
        ScriptedReply(content="Looking.", tool_calls=[_call("edit_file", path="app.py", old_text="return 1",
                                                            new_text="return 2")]),
        ScriptedReply(tool_calls=[_call("finish", summary="f returns 2")]),
    ]
    with StandIn(replies=replies) as server:
        done = run_cli("refactor", str(root), "make f return 2", "--base-url", server.base_url, "--prime", "always",
                       "--yes", "--format", "stream-json", "--test-cmd", "true", env=_env(), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    for line in lines:
        jsonschema.validate(line, schema)
    types = [line["type"] for line in lines]
    assert types[0] == "start"
    assert types[-1] == "end"
    start, end = lines[0], lines[-1]
    assert start["front"] == "refactor"
    assert start["pack"]["tokens"] > 0
    assert [i["path"] for i in start["instructions"]] == ["AGENTS.md", "pkg/sub/CLAUDE.md"]
    calls = [line for line in lines if line["type"] == "call"]
    assert [c["kind"] for c in calls] == ["prime", "turn", "turn"]
    assert calls[-1]["billed_hit"] >= calls[-1]["expected_hit"] - 64  # expected vs billed, side by side
    assert [t for t in types if t.startswith("tool_")][:2] == ["tool_start", "tool_result"]
    assert any(line["type"] == "text" and line["text"] for line in lines)
    assert end["status"] == "finished"
    assert end["tests"]["status"] == "pass"
    assert "+    return 2" in end["diff"]
    assert end["cost"]


def test_json_is_unchanged_and_format_json_is_its_alias(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    with StandIn(replies=[ScriptedReply(tool_calls=[_call("finish", summary="x")])] * 2) as server:
        done = run_cli("refactor", str(root), "t", "--base-url", server.base_url, "--prime", "never",
                       "--format", "json", env=_env(), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert "plan" not in report
    assert report["status"] == "finished"
    bad = run_cli("refactor", str(root), "t", "--format", "yaml", env=_env())
    assert bad.returncode == 2
    assert "--format must be text, json or stream-json" in bad.stderr
