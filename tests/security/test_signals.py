"""SIGTERM and SIGHUP end a session like Ctrl-C: the real CLI in a subprocess, against the loopback stand-in.

The scripted model runs a command that starts a child and waits; the signal comes while it runs. Afterwards:
the interrupted exit status, no process of the command's group alive (checked by pid), the session file ends
with an end record naming the signal, the completed call's ledger line is kept, and --resume finishes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chat.test_tty import Term
from tests.conftest import make_git_repo, run_cli
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

SAMPLE = {"app.py": "def greet(name):\n    return 'hello ' + name\n", "README.md": "# demo\n"}
INTERRUPTED = 5


def _env() -> dict[str, str]:
    # The command reports its pids to the test from outside the repository, which a sandbox forbids (and in
    # its PID namespace they would not be the host's): these tests are about signals, so the sandbox is off
    # (``--yes`` then runs the command unconfined); the sandbox's own kill of the whole tree is tested apart.
    return {**os.environ, "DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off", "COLUMNS": "160",
            "V4AGENT_SANDBOX_MODE": "off"}


def _command(pids: Path, *, ignore_term: bool) -> str:
    """A leader that starts a child and waits; with ``ignore_term`` both ignore SIGTERM (only SIGKILL works)."""
    trap = "trap '' TERM; " if ignore_term else ""
    return f"{trap}echo $$ > {pids}/leader.pid; sleep 600 & echo $! > {pids}/child.pid; wait"


def _model(command: str, done: ScriptedReply) -> Any:
    """First the long command; once the conversation holds a tool result (a resume), ``done``."""
    def handler(body: dict[str, Any]) -> ScriptedReply:
        if any(m.get("role") == "tool" for m in body["messages"]):
            return done
        return ScriptedReply(tool_calls=[ScriptedToolCall("shell", json.dumps({"command": command,
                                                                                "timeout_s": 900}))])
    return handler


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie holds nothing; its parent may be gone


def _read_pids(pids: Path, proc: subprocess.Popen[str], timeout: float = 120) -> list[int]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = [pids / "leader.pid", pids / "child.pid"]
        if all(p.exists() and p.read_text().strip() for p in found):
            return [int(p.read_text()) for p in found]
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.05)
    raise AssertionError("the command never started")


@contextlib.contextmanager
def _spawned(args: list[str], pids: Path, *, stdin: bool = False) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-m", "v4agent", *args], env=_env(), text=True,
                            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        yield proc
    finally:  # whatever failed, leave nothing running
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        for name in ("leader.pid", "child.pid"):
            with contextlib.suppress(OSError, ValueError):
                os.kill(int((pids / name).read_text()), signal.SIGKILL)


def _session(root: Path) -> tuple[str, list[dict[str, Any]]]:
    (path,) = (root / ".v4agent" / "sessions").glob("*.jsonl")
    return path.stem, [json.loads(line) for line in path.read_text().splitlines()]


def _check_stopped(root: Path, pid_list: list[int], signame: str, code: int, err: str) -> str:
    assert code == INTERRUPTED, err[-3000:]
    assert "Traceback" not in err
    assert [pid for pid in pid_list if _alive(pid)] == []
    sid, records = _session(root)
    end = records[-1]
    assert end["type"] == "end"
    assert end["status"] == "interrupted"
    assert signame in end["reason"]
    calls = [r for r in records if r["type"] == "call"]
    ledger = [json.loads(line) for line in (root / ".v4agent" / "ledger.jsonl").read_text().splitlines()]
    assert len(calls) == 1  # the call that chose the command completed...
    assert [row["session_id"] for row in ledger] == [sid]  # ...and its ledger line is kept
    return sid


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_a_refactor_like_ctrl_c(tmp_path: Path, sig: signal.Signals) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    pids = tmp_path / "pids"
    pids.mkdir()
    finish = ScriptedReply(tool_calls=[ScriptedToolCall("finish", json.dumps({"summary": "resumed and done"}))])
    flags = ["--prime", "never", "--yes", "--test-cmd", "true"]
    with StandIn(handler=_model(_command(pids, ignore_term=False), finish)) as server:
        args = ["refactor", str(root), "run the long thing", "--base-url", server.base_url, *flags]
        with _spawned(args, pids) as proc:
            pid_list = _read_pids(pids, proc)
            if sig == signal.SIGHUP:
                assert proc.stdout is not None
                proc.stdout.close()  # the terminal went away: the report cannot be written
            proc.send_signal(sig)
            err = proc.communicate(timeout=60)[1]
        sid = _check_stopped(root, pid_list, sig.name, proc.returncode, err)
        resumed = run_cli("refactor", str(root), "--resume", sid, "--base-url", server.base_url, "--json", *flags,
                          env=_env())
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout)["summary"] == "resumed and done"


def test_sigterm_ends_a_chat_and_resume_continues_it(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    pids = tmp_path / "pids"
    pids.mkdir()
    answer = ScriptedReply(content="The long thing was stopped; nothing else to do.")
    with StandIn(handler=_model(_command(pids, ignore_term=False), answer)) as server:
        args = ["chat", str(root), "--base-url", server.base_url, "--yes"]
        with _spawned(args, pids, stdin=True) as proc:
            assert proc.stdin is not None
            proc.stdin.write("run the long thing\n")
            proc.stdin.flush()  # stdin stays open: the chat would wait for more
            pid_list = _read_pids(pids, proc)
            proc.send_signal(signal.SIGTERM)
            err = proc.communicate(timeout=60)[1]
        sid = _check_stopped(root, pid_list, "SIGTERM", proc.returncode, err)
        assert f"chat --resume {sid}" in err
        resumed = run_cli("chat", str(root), "--resume", sid, "--base-url", server.base_url, "--yes",
                          input_text="what happened?\n", env=_env())
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "nothing else to do" in resumed.stdout


def test_a_second_signal_during_cleanup_leaves_no_traceback(tmp_path: Path) -> None:
    """The command ignores SIGTERM, so the cleanup waits out its grace before SIGKILL: signals sent then are
    ignored, the cleanup finishes, and the exit is the ordinary interrupted one."""
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    pids = tmp_path / "pids"
    pids.mkdir()
    with StandIn(handler=_model(_command(pids, ignore_term=True), ScriptedReply(content="unused"))) as server:
        args = ["refactor", str(root), "run the long thing", "--base-url", server.base_url, "--prime", "never",
                "--yes", "--test-cmd", "true"]
        with _spawned(args, pids) as proc:
            pid_list = _read_pids(pids, proc)
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)  # the group got SIGTERM and ignores it: the grace period before SIGKILL runs
            for second in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
                if proc.poll() is None:
                    proc.send_signal(second)
            err = proc.communicate(timeout=60)[1]
    _check_stopped(root, pid_list, "SIGTERM", proc.returncode, err)


def test_sigterm_at_the_chat_prompt_ends_it_cleanly(tmp_path: Path) -> None:
    """On a terminal, waiting at the prompt (prompt-toolkit's event loop): the chat ends, no traceback."""
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    env = {k: v for k, v in _env().items() if k not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    with StandIn(replies=[ScriptedReply(content="hello there")]) as server:
        term = Term(["chat", str(root), "--base-url", server.base_url], env)
        try:
            term.wait(r"you>")
            term.send("hi\r")
            term.wait(r"hello there")
            term.wait_count(r"you>", 2)
            term.child.kill(signal.SIGTERM)
            term.wait(r"error: stopped by SIGTERM")
            assert term.close() == INTERRUPTED
        finally:
            if term.child.isalive():
                term.child.terminate(force=True)
    assert "Traceback" not in term.text()
    assert "chat --resume" in term.text()
