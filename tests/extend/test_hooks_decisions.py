"""PreToolUse decisions as Claude Code defines them (https://code.claude.com/docs/en/hooks, "PreToolUse decision
control"): allow, ask, deny, permissionDecisionReason, updatedInput and the deprecated approve/block spelling;
read as pure functions, then through the real CLI, the stand-in and real hook scripts in the sandbox."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_git_repo, run_cli
from tests.extend.conftest import alive_with
from v4agent.extend.hooks_gate import gate_call, new_arguments
from v4agent.extend.hooks_run import HookOutcome, HookRun, parse_outcome
from v4agent.sandbox import containment, make_policy
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn
from v4agent.tools.approval import Answer, ApprovalRequest
from v4agent.tools.tool import ToolContext

needs_sandbox = pytest.mark.skipif(not containment(make_policy(Path.cwd())).available,
                                   reason="bubblewrap cannot start a sandbox here")


def _answer(out: dict[str, Any]) -> HookOutcome:
    return parse_outcome("PreToolUse", HookRun(0, json.dumps(out), "", False, 0.1), "h")


def _specific(**fields: Any) -> HookOutcome:
    return _answer({"hookSpecificOutput": {"hookEventName": "PreToolUse", **fields}})


def test_decisions_are_read_as_documented() -> None:
    allow = _specific(permissionDecision="allow", permissionDecisionReason="lint is safe")
    assert (allow.block, allow.decision, allow.reason) == (False, "allow", "lint is safe")
    ask = _specific(permissionDecision="ask", permissionDecisionReason="touches the network")
    assert (ask.block, ask.decision, ask.reason, ask.feedback) == (False, "ask", "touches the network", "")
    deny = _specific(permissionDecision="deny", permissionDecisionReason="policy")
    assert (deny.block, deny.decision, deny.feedback) == (True, "deny", "policy")
    changed = _specific(permissionDecision="allow", updatedInput={"command": "ls -la"})
    assert changed.updated_input == {"command": "ls -la"}
    assert _specific(updatedInput=["not", "an", "object"]).updated_input is None
    assert _specific(permissionDecision="defer").decision == ""  # claude -p only: not supported, no decision
    # the deprecated top-level spelling: approve is allow, block is deny; the new field wins over it
    old = _answer({"decision": "approve", "reason": "old style"})
    assert (old.decision, old.reason) == ("allow", "old style")
    old_block = _answer({"decision": "block", "reason": "no"})
    assert (old_block.block, old_block.feedback) == (True, "no")
    both = _answer({"decision": "block", "hookSpecificOutput": {"permissionDecision": "allow"}})
    assert (both.block, both.decision) == (False, "allow")
    exit2 = parse_outcome("PreToolUse", HookRun(2, "", "stop", False, 0.1), "h")
    assert (exit2.block, exit2.decision) == (True, "deny")


def test_the_strictest_decision_wins_and_the_later_input() -> None:
    allow = _specific(permissionDecision="allow", updatedInput={"command": "a"})
    ask = _specific(permissionDecision="ask", permissionDecisionReason="why")
    deny = _specific(permissionDecision="deny", permissionDecisionReason="no")
    assert allow.merge(ask).decision == "ask"
    assert ask.merge(allow).decision == "ask"
    assert ask.merge(allow).reason == "why"
    assert allow.merge(deny).merge(ask).decision == "deny"
    assert allow.merge(deny).block
    assert HookOutcome().merge(allow).updated_input == {"command": "a"}
    assert allow.merge(_specific(updatedInput={"command": "b"})).updated_input == {"command": "b"}


def test_a_changed_file_path_becomes_the_tool_path(tmp_path: Path) -> None:
    args = json.dumps({"path": "src/a.py", "content": "x"})
    sent = {"path": "src/a.py", "file_path": str(tmp_path / "src/a.py"), "content": "y"}
    assert json.loads(new_arguments(tmp_path, args, sent)) == {"path": "src/a.py", "content": "y"}
    moved = {**sent, "file_path": str(tmp_path / "src/b.py")}
    assert json.loads(new_arguments(tmp_path, args, moved))["path"] == "src/b.py"
    outside = {**sent, "file_path": "/etc/passwd"}
    assert json.loads(new_arguments(tmp_path, args, outside))["path"] == "/etc/passwd"  # the tool refuses it
    assert new_arguments(tmp_path, "not json", {"raw_arguments": "still not"}) == "still not"


def _ctx(root: Path, *, approve: str = "ask", asked: list[ApprovalRequest] | None = None,
         answer: Answer = "yes", mode: str = "auto") -> ToolContext:
    def ask(request: ApprovalRequest) -> Answer:
        assert asked is not None
        asked.append(request)
        return answer
    return ToolContext(root, approve=approve, ask=None if asked is None else ask,  # type: ignore[arg-type]
                       sandbox=make_policy(root, mode=mode))  # type: ignore[arg-type]


def test_ask_forces_the_question_and_headless_follows_the_policy(tmp_path: Path) -> None:
    ask = _specific(permissionDecision="ask", permissionDecisionReason="it pushes",
                    updatedInput={"command": "git push --dry-run"})
    asked: list[ApprovalRequest] = []
    notices: list[str] = []
    args = json.dumps({"command": "git push"})
    gate = gate_call(_ctx(tmp_path, approve="yes", asked=asked), "shell", args, ask, confined=True, mcp=False,
                     notice=notices.append)
    assert gate.refused is None
    assert gate.preapproved  # the user said yes: no second question
    assert len(asked) == 1  # asked although --approve yes
    assert asked[0].summary == 'shell {"command": "git push --dry-run"}'  # the input as it will run
    assert "it pushes" in asked[0].detail
    assert json.loads(gate.arguments) == {"command": "git push --dry-run"}
    declined = gate_call(_ctx(tmp_path, asked=[], answer="no"), "shell", args, ask, confined=True, mcp=False,
                         notice=notices.append)
    assert declined.refused is not None
    assert "declined" in declined.refused
    headless = gate_call(_ctx(tmp_path), "shell", args, ask, confined=True, mcp=False, notice=notices.append)
    assert headless.refused is not None
    assert "needs approval" in headless.refused
    assert "no terminal to ask" in notices[-1]
    assert "refuses it" in notices[-1]
    assert gate_call(_ctx(tmp_path, approve="yes"), "shell", args, ask, confined=True, mcp=False,
                     notice=notices.append).refused is None
    assert "lets it run" in notices[-1]


def test_allow_skips_the_question_only_where_the_call_is_confined(tmp_path: Path) -> None:
    allow = _specific(permissionDecision="allow")
    notices: list[str] = []
    args = json.dumps({"command": "make"})
    assert gate_call(_ctx(tmp_path), "shell", args, allow, confined=True, mcp=False, notice=notices.append).preapproved
    assert notices == []
    loose = gate_call(_ctx(tmp_path), "shell", args, allow, confined=False, mcp=False, notice=notices.append)
    assert not loose.preapproved
    assert "outside the sandbox" in notices[0]


# --- end to end: the real CLI, the stand-in, real hook scripts in the sandbox ----------------------------------

GUARD = f"""{sys.executable} -c '
import json, sys
event = json.load(sys.stdin)
tool, given = event["tool_name"], dict(event["tool_input"])
command = given.get("command", "")
if tool == "write_file":
    given["file_path"] = given["file_path"].replace("draft.txt", "notes.txt")
    said = {{"permissionDecision": "allow", "updatedInput": given}}
elif command == "echo lint ok":
    said = {{"permissionDecision": "allow", "permissionDecisionReason": "lint is harmless"}}
elif command.startswith("rm -rf"):
    said = {{"permissionDecision": "allow", "updatedInput": {{"command": "echo cleaned safely"}}}}
elif command.startswith("curl"):
    said = {{"permissionDecision": "ask", "permissionDecisionReason": "it reaches the network"}}
elif command == "echo old style":
    print(json.dumps({{"decision": "approve", "reason": "the old spelling"}}))
    sys.exit(0)
else:
    sys.exit(0)
print(json.dumps({{"hookSpecificOutput": {{"hookEventName": "PreToolUse", **said}}}}))
'"""


def _call(name: str, **args: Any) -> ScriptedToolCall:
    return ScriptedToolCall(name, json.dumps(args))


@needs_sandbox
def test_decisions_end_to_end_through_the_cli(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"README.md": "hello\n"})
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "v4agent"
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text(
        f'[[hooks.PreToolUse]]\nmatcher = "Bash|Write"\nhooks = [{{ type = "command", command = {json.dumps(GUARD)} }}]\n')
    script = [
        ScriptedReply(tool_calls=[_call("shell", command="echo plain")]),  # no decision: headless refuses it
        ScriptedReply(tool_calls=[_call("shell", command="echo lint ok")]),  # allow: runs without a question
        ScriptedReply(tool_calls=[_call("shell", command="rm -rf build")]),  # allow + a new input
        ScriptedReply(tool_calls=[_call("shell", command="curl example.com")]),  # ask: no terminal, refused
        ScriptedReply(tool_calls=[_call("shell", command="echo old style")]),  # decision: approve
        ScriptedReply(tool_calls=[_call("write_file", path="draft.txt", content="kept\n")]),  # file_path moved
        ScriptedReply(tool_calls=[_call("finish", summary="done")]),
    ]
    with StandIn(replies=script) as server:
        done = run_cli("refactor", str(root), "tidy up", "--base-url", server.base_url, "--json", "--prime", "never",
                       env={"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"}, timeout=300)
        calls = list(server.calls)
    assert done.returncode == 0, done.stderr[-3000:]
    results = [m["content"] for m in calls[-1].request["messages"] if m["role"] == "tool"]
    assert "needs approval" in results[0]
    assert "lint ok" in results[1]
    assert "needs approval" not in results[1]
    assert results[2].startswith('[PreToolUse hook changed the input to: {"command": "echo cleaned safely"}]')
    assert "cleaned safely" in results[2].split("\n", 1)[1]
    assert "needs approval" in results[3]
    assert "a PreToolUse hook asked for confirmation" in results[3]
    assert "old style" in results[4]
    assert "needs approval" not in results[4]
    assert results[5].startswith("[PreToolUse hook changed the input to:")
    assert (root / "notes.txt").read_text() == "kept\n"
    assert not (root / "draft.txt").exists()
    assert "changed the input of shell" in done.stderr  # shown to the user
    assert "no terminal to ask on" in done.stderr
    sid = json.loads(done.stdout)["session_id"]
    recorded = next((root / ".v4agent").rglob(f"{sid}*.jsonl")).read_text()
    assert "PreToolUse hook changed the input to:" in recorded  # and kept in the session
    assert alive_with(f"v4agent-hook-runner:user:{root.resolve()}") == []  # the runner ended with the session


def test_without_a_sandbox_a_hooks_allow_does_not_skip_the_question(tmp_path: Path) -> None:
    from v4agent.extend.hooks import Hooks
    from v4agent.extend.hooks_config import HookSpec
    from v4agent.extend.hooks_session import Extensions
    from v4agent.tools.registry import run_tool

    allow = json.dumps({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow"}})
    notices: list[str] = []
    ctx = _ctx(tmp_path, mode="off")  # no sandbox, no terminal: every command needs approval
    hooks = Hooks([HookSpec("PreToolUse", "Bash", f"echo '{allow}'", 10, "user", "test")], tmp_path,
                  policy=ctx.sandbox, notice=notices.append)
    ext = Extensions(ctx, None, hooks)
    run = ext.runner(lambda name, arguments: run_tool(ctx, name, arguments))
    try:
        result = run("shell", json.dumps({"command": "touch ran.txt"}))
    finally:
        ext.close()
    assert not result.ok
    assert "needs approval" in result.content
    assert not (tmp_path / "ran.txt").exists()
    assert any("outside the sandbox" in n for n in notices)


ASK = """echo '{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "ask", \
"permissionDecisionReason": "it writes outside src"}}'"""


@needs_sandbox
def test_ask_on_a_terminal_asks_even_under_yes(tmp_path: Path) -> None:
    import pexpect

    root = make_git_repo(tmp_path / "repo", {"README.md": "hello\n"})
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "v4agent"
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text(
        f'[[hooks.PreToolUse]]\nmatcher = "Bash"\nhooks = [{{ type = "command", command = {json.dumps(ASK)} }}]\n')
    script = [ScriptedReply(tool_calls=[_call("shell", command="echo first > first.txt")]),
              ScriptedReply(tool_calls=[_call("shell", command="echo second > second.txt")]),
              ScriptedReply(tool_calls=[_call("finish", summary="done")])]
    env = dict(os.environ, DEEPSEEK_API_KEY="sk-test", V4AGENT_THINK="off", COLUMNS="120")
    with StandIn(replies=script) as server:
        child = pexpect.spawn(sys.executable, ["-m", "v4agent", "refactor", str(root), "write two files",
                                               "--base-url", server.base_url, "--prime", "never", "--yes",
                                               "--test-cmd", "true"], env=env, dimensions=(40, 120),
                              encoding="utf-8", timeout=120)
        for answer in ("yes", "no"):
            child.expect("it writes outside src")
            child.expect("allow\\?")
            child.sendline(answer)
        child.expect(pexpect.EOF)
        child.close()
        calls = list(server.calls)
    results = [m["content"] for m in calls[-1].request["messages"] if m["role"] == "tool"]
    assert (root / "first.txt").exists()  # yes: it ran, with no second question
    assert not (root / "second.txt").exists()  # no: refused although --yes
    assert "declined it at a PreToolUse hook's request" in results[1]
