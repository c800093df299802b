"""Hooks with Claude Code's protocol: parsing entries, matchers, reading answers (pure), and real hook scripts
run in the real sandbox with the event's JSON on stdin."""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from v4agent.extend.hooks import Hooks, load_hooks
from v4agent.extend.hooks_config import HookSpec, matches, parse_hooks
from v4agent.extend.hooks_run import HookRun, parse_outcome
from v4agent.sandbox import containment, make_policy
from v4agent.tools.tool import ToolResult

needs_sandbox = pytest.mark.skipif(not containment(make_policy(Path.cwd())).available,
                                   reason="bubblewrap cannot start a sandbox here")


def _run(code: int, out: str = "", err: str = "", timed_out: bool = False) -> HookRun:
    return HookRun(code, out, err, timed_out, 0.1)


def test_entries_and_matchers() -> None:
    table = {
        "PreToolUse": [{"matcher": "Bash|Edit", "hooks": [{"type": "command", "command": "a.sh", "timeout": 5}]}],
        "Stop": [{"hooks": [{"type": "command", "command": "b.sh"}]}],
        "Notification": [{"hooks": [{"type": "command", "command": "c.sh"}]}],
        "PostToolUse": [{"matcher": "(", "hooks": [{"type": "command", "command": "d.sh"}]},
                        {"hooks": [{"type": "prompt", "prompt": "x"}]}],
    }
    specs, warnings = parse_hooks(table, "user", "config.toml")
    assert [(s.event, s.matcher, s.command, s.timeout_s) for s in specs] == [
        ("PreToolUse", "Bash|Edit", "a.sh", 5.0), ("Stop", "", "b.sh", 60.0)]
    assert len(warnings) == 3
    assert matches("Bash", "shell", "Bash")
    assert not matches("Bash", "shell")
    assert matches("mcp__.*", "mcp__srv__tool")
    assert not matches("Write", "write_file_x")  # a plain name matches exactly
    assert matches("*", "anything")
    assert matches("", "anything")


def test_answers_follow_the_protocol() -> None:
    blocked = parse_outcome("PreToolUse", _run(2, err="no rm here"), "g.sh")
    assert (blocked.block, blocked.feedback) == (True, "no rm here")
    failed = parse_outcome("PreToolUse", _run(1, err="jq: not found"), "g.sh")
    assert not failed.block  # exit 1 is a non-blocking error
    assert "exit 1" in failed.error
    deny = parse_outcome("PreToolUse", _run(0, out=json.dumps({"hookSpecificOutput": {
        "hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason": "policy"}})), "g")
    assert (deny.block, deny.feedback) == (True, "policy")
    stop = parse_outcome("Stop", _run(0, out='{"decision": "block", "reason": "tests still fail"}'), "s")
    assert (stop.block, stop.feedback) == (True, "tests still fail")
    halt = parse_outcome("PostToolUse", _run(0, out='{"continue": false, "stopReason": "enough"}'), "p")
    assert halt.halt == "enough"
    context = parse_outcome("SessionStart", _run(0, out="branch main, 3 open issues\n"), "s")
    assert context.context == "branch main, 3 open issues"
    refused = parse_outcome("UserPromptSubmit", _run(2, err="no secrets in prompts"), "u")
    assert (refused.block, refused.message, refused.feedback) == (True, "no secrets in prompts", "")
    slow = parse_outcome("Stop", _run(124, timed_out=True), "s")
    assert not slow.block
    assert "timed out" in slow.error
    leaked = parse_outcome("PreToolUse", _run(2, err="key ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"), "g")
    assert "ghp_a1B2" not in leaked.feedback  # stderr reaches the model redacted


_OPEN: list[Hooks] = []


@pytest.fixture(autouse=True)
def _close_hooks() -> Iterator[None]:
    yield  # each test's hook runners stop with it, as a session's do at its end
    while _OPEN:
        _OPEN.pop().close()


def _hooks(root: Path, specs: list[HookSpec], notices: list[str]) -> Hooks:
    hooks = Hooks(specs, root, policy=make_policy(root), notice=notices.append, session_id="s1",
                  transcript_path=str(root / ".v4agent" / "sessions" / "s1.jsonl"))
    hooks.environ = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "DEEPSEEK_API_KEY": "sk-canary"}
    _OPEN.append(hooks)
    return hooks


def _spec(event: str, command: str, matcher: str = "", scope: str = "user", timeout: float = 30) -> HookSpec:
    return HookSpec(event, matcher, command, timeout, scope, "test")  # type: ignore[arg-type]


GUARD = f"""{sys.executable} -c '
import json, sys
event = json.load(sys.stdin)
open("payload.json", "w").write(json.dumps(event))
if "rm -rf" in event["tool_input"].get("command", ""):
    print("no rm -rf, use git clean", file=sys.stderr)
    sys.exit(2)
'"""


@needs_sandbox
def test_a_pre_tool_hook_sees_the_event_and_blocks(tmp_path: Path) -> None:
    notices: list[str] = []
    hooks = _hooks(tmp_path, [_spec("PreToolUse", GUARD, "Bash")], notices)
    assert hooks.pre_tool("shell", json.dumps({"command": "ls"})) is None
    payload = json.loads((tmp_path / "payload.json").read_text())
    assert payload["hook_event_name"] == "PreToolUse"
    assert payload["tool_name"] == "shell"
    assert payload["tool_input"] == {"command": "ls"}
    assert payload["session_id"] == "s1"
    assert payload["cwd"] == str(tmp_path)
    assert payload["transcript_path"].endswith("s1.jsonl")
    assert hooks.pre_tool("shell", json.dumps({"command": "rm -rf /"})) == "no rm -rf, use git clean"
    assert hooks.pre_tool("read_file", json.dumps({"path": "x"})) is None  # the matcher does not select it
    assert notices == []


@needs_sandbox
def test_hooks_run_confined_and_time_out(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    outside = Path.home() / f"hook-escape-{secrets.token_hex(4)}"
    notices: list[str] = []
    spy = f'echo "$DEEPSEEK_API_KEY" > env.txt; echo "$CLAUDE_PROJECT_DIR" >> env.txt; echo x > {outside}; true'
    hooks = _hooks(root, [_spec("PostToolUse", spy), _spec("Stop", "sleep 30", timeout=1)], notices)
    said = hooks.post_tool("grep", '{"pattern": "x"}', ToolResult("found", True))
    assert said == ""
    assert not outside.exists()
    assert (root / "env.txt").read_text().split("\n")[:2] == ["", str(root)]
    assert hooks.stop("done", active=False) is None  # a hook that times out is reported, the session ends
    assert any("timed out" in n for n in notices)


@needs_sandbox
def test_post_tool_feedback_context_and_halt(tmp_path: Path) -> None:
    reply = json.dumps({"decision": "block", "reason": "lint failed: E501",
                        "hookSpecificOutput": {"hookEventName": "PostToolUse", "additionalContext": "ruff ran"}})
    halt = json.dumps({"continue": False, "stopReason": "budget policy"})
    notices: list[str] = []
    hooks = _hooks(tmp_path, [_spec("PostToolUse", f"echo '{reply}'", "Edit"),
                              _spec("PostToolUse", f"echo '{halt}'", "grep")], notices)
    said = hooks.post_tool("edit_file", '{"path": "a.py"}', ToolResult("edited", True))
    assert said == "lint failed: E501\nruff ran"
    assert hooks.halt == ""
    hooks.post_tool("grep", "{}", ToolResult("x", True))
    assert hooks.halt == "budget policy"


def test_a_failing_or_missing_hook_is_a_notice(tmp_path: Path) -> None:
    notices: list[str] = []
    hooks = _hooks(tmp_path, [_spec("SessionStart", "exit 7"), _spec("SessionStart", "/no/such/hook")], notices)
    assert hooks.session_start("startup") == ""
    assert len(notices) == 2
    assert "exit 7" in notices[0]


def test_project_hooks_load_only_when_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    (tmp_path / "xdg" / "v4agent").mkdir(parents=True)
    (tmp_path / "xdg" / "v4agent" / "config.toml").write_text(
        '[[hooks.Stop]]\nhooks = [{ type = "command", command = "user.sh" }]\n')
    root = tmp_path / "repo"
    root.mkdir()
    (root / ".v4agent.toml").write_text('[[hooks.PreToolUse]]\nmatcher = "*"\n'
                                        'hooks = [{ type = "command", command = "repo.sh" }]\n')
    assert [s.command for s in load_hooks(root, project_trusted=False)[0]] == ["user.sh"]
    assert [s.command for s in load_hooks(root, project_trusted=True)[0]] == ["user.sh", "repo.sh"]
