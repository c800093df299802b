"""Where no sandbox works: said once, and then every command, the tests included, needs approval.

The missing mechanism is simulated by pointing ``sandbox.bwrap`` at a path that does not exist (the user's
configuration, here through its environment variable). Chat's test runs go through the same gate and the
same sandbox, and its status line names it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from tests.conftest import make_git_repo, run_cli
from tests.sandbox.helpers import needs_bwrap
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

TEST_CMD = f"{sys.executable} -m pytest -q -p no:cacheprovider tests"
FILES = {"calc.py": "def add(a, b):\n    return a + b\n",
         "tests/test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"}
WARNING = "no sandbox for commands"


def _call(name: str, **args: Any) -> ScriptedToolCall:
    return ScriptedToolCall(name, json.dumps(args))


def _script() -> list[ScriptedReply]:
    return [ScriptedReply(tool_calls=[_call("run_tests")]),
            ScriptedReply(tool_calls=[_call("shell", command="echo hello")]),
            ScriptedReply(tool_calls=[_call("edit_file", path="calc.py", old_text="a + b", new_text="b + a")]),
            ScriptedReply(tool_calls=[_call("finish", summary="swapped")])]


def _refactor(root: Path, tmp_path: Path, *flags: str) -> tuple[Any, list[str]]:
    env = {"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off",
           "V4AGENT_SANDBOX_BWRAP": str(tmp_path / "missing" / "bwrap")}
    with StandIn(_script()) as server:
        done = run_cli("refactor", str(root), "swap", "--base-url", server.base_url, "--json", "--prime", "never",
                       "--test-cmd", TEST_CMD, *flags, env=env, timeout=300)
        results = [m["content"] for m in server.calls[-1].request["messages"] if m["role"] == "tool"]
    return done, results


def test_without_a_sandbox_headless_commands_and_tests_are_refused(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", FILES)
    done, results = _refactor(root, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count(WARNING) == 1
    assert "bubblewrap is not installed" in done.stderr
    assert "needs approval" in results[0]  # run_tests: the project's own command, refused all the same
    assert "no sandbox is available" in results[0]
    assert "needs approval" in results[1]
    assert "\nhello" not in results[1]
    tests = json.loads(done.stdout)["tests"]
    assert tests["status"] == "not run"
    assert "no sandbox is available" in tests["ran"]
    assert (root / "calc.py").read_text() == FILES["calc.py"].replace("a + b", "b + a")  # edits go ahead


def test_without_a_sandbox_yes_runs_unsandboxed_and_says_so(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", FILES)
    done, results = _refactor(root, tmp_path, "--yes")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count(WARNING) == 1
    assert "PASSED" in results[0]
    assert "ran without a sandbox (bubblewrap is not installed" in results[0]
    assert "ran without a sandbox" in results[1]
    assert "\nhello" in results[1]
    tests = json.loads(done.stdout)["tests"]
    assert tests["status"] == "pass"
    assert tests["ran"].startswith("at the end, ran without a sandbox")
    assert "unsandboxed" in done.stderr  # the progress status line


@needs_bwrap
def test_chat_runs_its_tests_in_the_sandbox_and_names_it(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", FILES)
    outside = tmp_path / "outside"
    outside.mkdir()
    test_cmd = f"env > envdump.txt; echo escaped > {outside}/marker; {TEST_CMD}"
    replies = [ScriptedReply(tool_calls=[_call("run_tests")]), ScriptedReply(content="The tests pass.")]
    env = {"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off", "V4AGENT_TEST_CMD": test_cmd,
           "STRIPE_KEY": "canary-stripe-value"}
    with StandIn(replies) as server:
        done = run_cli("chat", str(root), "--base-url", server.base_url, "--network", env=env,
                       input_text="run the tests\n")
        result = next(m["content"] for m in server.calls[1].request["messages"] if m["role"] == "tool")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "PASSED" in result  # headless, no --yes: contained project tests need no approval
    assert "sandboxed+net" in done.stderr  # the status line after the turn
    dump = (root / "envdump.txt").read_text()
    assert "canary-stripe-value" not in dump
    assert "sk-test" not in dump
    assert not (outside / "marker").exists()
    assert os.environ["HOME"] in dump  # the home is there, read-only
