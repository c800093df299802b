"""A refactor whose first model call fails inside the loop (401, 500, no connection) leaves no session, no start
ref and no branch behind; a run with one billed call before the failure keeps its session (issue 27)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path

from tests.conftest import make_git_repo, run_cli
from v4agent.agent.sessions.store import list_sessions
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

SAMPLE = {"calc.py": "def add(a, b):\n    return a - b\n"}
ARGS = ("--yes", "--prime", "never", "--think", "off", "--test-cmd", "true")


def _refs(root: Path) -> str:
    return subprocess.run(["git", "-C", str(root), "for-each-ref", "refs/v4agent/"], capture_output=True,
                          text=True, check=True).stdout


def _branches(root: Path) -> list[str]:
    out = subprocess.run(["git", "-C", str(root), "branch", "--format=%(refname:short)"], capture_output=True,
                         text=True, check=True).stdout
    return out.split()


def _assert_nothing_kept(root: Path, done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr
    assert list_sessions(root) == []
    assert _refs(root) == ""
    assert re.search(r"session \d{8}-", done.stdout) is None  # the report names no session that is not there
    listed = run_cli("sessions", str(root))
    assert listed.returncode == 0, listed.stderr


def test_a_refused_key_on_the_first_call_keeps_no_session(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    with StandIn(replies=[ScriptedReply(content="never sent")], api_key="sk-right") as server:
        done = run_cli("refactor", str(root), "fix add", "--base-url", server.base_url, "--branch", "fix-add",
                       *ARGS, env={"DEEPSEEK_API_KEY": "sk-wrong"}, timeout=300)
    assert done.returncode == 6, done.stderr[-2000:]  # the key refused: exit 6, as documented
    assert "401" in done.stdout
    assert "no call was billed: no session was kept" in done.stdout
    _assert_nothing_kept(root, done)
    assert _branches(root) == ["main"]  # --branch made one; the run left nothing on it, so it is gone


def test_a_server_error_on_the_first_call_keeps_no_session_and_json_says_so(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    with StandIn(replies=[]) as server:  # no script and no echo: every call answers 500 (retried, then failed)
        done = run_cli("refactor", str(root), "fix add", "--base-url", server.base_url, "--format", "json", *ARGS,
                       env={"DEEPSEEK_API_KEY": "sk-test"}, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["status"] == "failed"
    assert report["session_id"] is None
    _assert_nothing_kept(root, done)


def test_no_connection_keeps_no_session(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = run_cli("refactor", str(root), "fix add", "--base-url", f"http://127.0.0.1:{port}", *ARGS,
                   env={"DEEPSEEK_API_KEY": "sk-test"}, timeout=300)
    assert done.returncode == 6, done.stderr[-2000:]
    _assert_nothing_kept(root, done)


def test_a_run_with_one_billed_call_keeps_its_session(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    first = ScriptedReply(content="Reading.", tool_calls=[ScriptedToolCall("read_file", '{"path": "calc.py"}')])
    with StandIn(replies=[first]) as server:  # one reply, then 500 on the second call
        done = run_cli("refactor", str(root), "fix add", "--base-url", server.base_url, *ARGS,
                       env={"DEEPSEEK_API_KEY": "sk-test"}, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    sessions = list_sessions(root)
    assert len(sessions) == 1
    assert f"session {sessions[0].session_id};" in done.stdout
    assert sessions[0].session_id in _refs(root)
