"""Issue 27 against the stand-in model: the failing tests named in the report, `finished (tests failing)`,
`sessions show --transcript`, `chat --resume` reprinting the last turns, no session left by an empty chat,
`/think off` meaning what `--think off` means, and `v4agent demo` end to end."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.conftest import make_git_repo, run_cli
from v4agent.agent.sessions.store import list_sessions
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

SAMPLE = {
    "calc.py": "def add(a, b):\n    return a - b\n",
    "tests/__init__.py": "",
    "tests/test_calc.py": "import unittest\n\nfrom calc import add\n\n\nclass AddTest(unittest.TestCase):\n"
                          "    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n",
}
TEST_CMD = f"{sys.executable} -m unittest discover -q -s tests -t ."


def _env() -> dict[str, str]:
    return {"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"}


def _call(name: str, **args: Any) -> ScriptedToolCall:
    return ScriptedToolCall(name, json.dumps(args))


def test_failing_tests_are_named_and_the_session_says_so(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    replies = [ScriptedReply(content="Running the tests.", tool_calls=[_call("run_tests")]),
               ScriptedReply(tool_calls=[_call("finish", summary="Looked; left it.")])] * 2
    with StandIn(replies=replies) as server:
        done = run_cli("refactor", str(root), "look at add", "--base-url", server.base_url, "--yes",
                       "--prime", "never", "--test-cmd", TEST_CMD, env=_env(), timeout=300)
        as_json = run_cli("refactor", str(root), "look again", "--base-url", server.base_url, "--yes",
                          "--no-prime", "--test-cmd", TEST_CMD, "--format", "json", env=_env(), timeout=300)
    assert done.returncode == 3, done.stderr[-2000:]
    assert "status: finished (tests failing)" in done.stdout
    assert "✗ tests.test_calc.AddTest.test_add  AssertionError: -1 != 5" in done.stdout
    assert as_json.returncode == 3, as_json.stderr[-2000:]
    report = json.loads(as_json.stdout)
    assert report["tests"]["failures"] == [{"name": "tests.test_calc.AddTest.test_add",
                                            "excerpt": "AssertionError: -1 != 5"}]
    listed = run_cli("sessions", str(root))
    assert listed.stdout.count("finished (tests failing)") == 2
    sid = list_sessions(root)[0].session_id  # the first, "look at add"
    shown = run_cli("sessions", "show", sid, str(root), "--transcript")
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "[system prompt," in out
    assert "[the packed repository," in out
    assert "you:\n  Task:\n  look at add" in out
    assert "model:\n  Running the tests." in out
    assert "  ▶ run_tests" in out
    assert "AssertionError: -1 != 5" in out  # the tool result
    assert '  ▶ finish summary="Looked; left it."' in out


def test_chat_resume_reprints_the_last_turns_and_an_empty_chat_leaves_no_session(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    replies = [ScriptedReply(content="The add function subtracts."), ScriptedReply(content="Still there.")]
    with StandIn(replies=replies) as server:
        empty = run_cli("chat", str(root), "--base-url", server.base_url, env=_env(), input_text="")
        assert empty.returncode == 0, empty.stderr
        assert "no turn was sent: nothing saved" in empty.stderr
        assert list_sessions(root) == []
        first = run_cli("chat", str(root), "--base-url", server.base_url, env=_env(), input_text="what is wrong?\n")
        assert first.returncode == 0, first.stderr
        resumed = run_cli("chat", str(root), "--resume", "--base-url", server.base_url, env=_env(),
                          input_text="and now?\n")
        assert resumed.returncode == 0, resumed.stderr
    before_new_turn = resumed.stdout.split("Still there.")[0]
    assert "you:\n  what is wrong?" in before_new_turn
    assert "model:\n  The add function subtracts." in before_new_turn
    assert len(list_sessions(root)) == 1


def test_think_off_in_the_chat_turns_thinking_off_as_the_flag_does(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    with StandIn(replies=[ScriptedReply(content="ok")]) as server:
        done = run_cli("chat", str(root), "--base-url", server.base_url, "--think", "high",
                       env={"DEEPSEEK_API_KEY": "sk-test"}, input_text="/think off\n/think\n/think hide\n")
    assert done.returncode == 0, done.stderr
    assert "thinking effort now off" in done.stdout
    assert "thinking effort off; thinking text" in done.stdout
    assert "thinking text hidden (the effort stays off" in done.stdout


def test_demo_runs_the_whole_flow_offline_with_no_key(tmp_path: Path) -> None:
    done = run_cli("demo", env={"DEEPSEEK_API_KEY": "", "HOME": str(tmp_path)}, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out, err = done.stdout, done.stderr
    assert "Traceback" not in out + err
    assert "a scripted stand-in model at http://127.0.0.1:" in err
    assert "✗ tests FAIL" in err  # the model ran the tests before the fix ...
    assert "+    return sum(price * quantity for price, quantity in items)" in out
    assert "status: finished (the model called finish)" in out
    assert "tests pass" in out
    assert "cost" in out
    assert "It is a tiny shop" in out  # the chat turn
    assert "demo: done." in err
