"""One agent session per repository: a second refactor or chat is refused with the holder's id, `undo` waits
for the session to end, and a holder killed with SIGKILL leaves no stale lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_git_repo, run_cli
from v4agent.agent.sessions.lock import SessionLocked, hold_session_lock, note_session, release_session_locks
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

SAMPLE = {"app.py": "def greet(name):\n    return 'hello ' + name\n"}
USAGE = 2
FLAGS = ("--prime", "never", "--yes", "--test-cmd", "true")


def _env() -> dict[str, str]:
    return {"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"}


def _other_process_holds(root: Path) -> subprocess.CompletedProcess[str]:
    code = ("import sys; from pathlib import Path; from v4agent.agent.sessions.lock import hold_session_lock\n"
            "hold_session_lock(Path(sys.argv[1]), session_id='other', command='probe')\n")
    return subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, timeout=60)


def test_the_lock_in_process(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    try:
        lock = hold_session_lock(root, command="v4agent chat .")
        assert hold_session_lock(root) is lock  # taken once per process: a chat switching sessions keeps it
        note_session(root, "20260101-000000-abcdef")
        written = json.loads((root / ".v4agent" / "session.lock").read_text())
        assert written["pid"] == os.getpid()
        assert written["session"] == "20260101-000000-abcdef"
        assert written["command"] == "v4agent chat ."
        refused = _other_process_holds(root)
        assert refused.returncode != 0
        assert "SessionLocked" in refused.stderr
        assert "session 20260101-000000-abcdef" in refused.stderr
        assert f"pid {os.getpid()}" in refused.stderr
    finally:
        release_session_locks()
    assert _other_process_holds(root).returncode == 0  # released: free again
    assert (root / ".v4agent" / "session.lock").exists()  # never removed


def test_the_holder_message_writes_out_escapes(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    (root / ".v4agent").mkdir()
    (root / ".v4agent" / "session.lock").write_text(json.dumps(
        {"pid": 1, "session": "s1", "command": "v4agent refactor . '\x1b[2Kx'", "since": "2026-01-01T00:00:00"}))
    import fcntl

    with (root / ".v4agent" / "session.lock").open("r") as held:
        fcntl.flock(held, fcntl.LOCK_SH)
        with pytest.raises(SessionLocked) as raised:
            hold_session_lock(root)
    message = str(raised.value)
    assert "session s1 (pid 1, `v4agent refactor . '\\x1b[2Kx'`, since 2026-01-01T00:00:00)" in message
    assert "\x1b" not in message


def test_a_second_session_is_refused_and_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    release = threading.Event()
    held: list[int] = []
    finish = ScriptedReply(tool_calls=[ScriptedToolCall("finish", json.dumps({"summary": "done"}))])

    def handler(body: dict[str, Any]) -> ScriptedReply:
        if not held:  # the first session's first call: hold it, the session keeps running
            held.append(1)
            release.wait(60)
        return finish

    with StandIn(handler=handler) as server:
        first = subprocess.Popen([sys.executable, "-m", "v4agent", "refactor", str(root), "take your time",
                                  "--base-url", server.base_url, *FLAGS], env={**os.environ, **_env()},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            end = time.monotonic() + 120
            while not held and time.monotonic() < end:
                assert first.poll() is None
                time.sleep(0.05)
            (session,) = (root / ".v4agent" / "sessions").glob("*.jsonl")
            sid = session.stem

            second = run_cli("refactor", str(root), "another task", "--base-url", server.base_url, *FLAGS,
                             env=_env())
            assert second.returncode == USAGE, second.stderr[-2000:]
            assert f"session {sid} (pid {first.pid}," in second.stderr
            assert "refactor" in second.stderr
            assert "since " in second.stderr
            chat = run_cli("chat", str(root), "--base-url", server.base_url, env=_env(), input_text="hi\n")
            assert chat.returncode == USAGE
            assert f"session {sid}" in chat.stderr
            undo = run_cli("undo", str(root))
            assert undo.returncode == USAGE
            assert f"cannot undo while session {sid}" in undo.stderr
            assert run_cli("sessions", "-C", str(root)).returncode == 0  # reading is not refused
            assert len(list((root / ".v4agent" / "sessions").glob("*.jsonl"))) == 1  # nothing was started
        finally:
            first.send_signal(signal.SIGKILL)  # no cleanup at all: the kernel drops the lock
            first.wait(30)
            release.set()

        after = run_cli("refactor", str(root), "another task", "--base-url", server.base_url, *FLAGS, "--json",
                        env=_env())
    assert after.returncode == 0, after.stderr[-2000:]
    assert json.loads(after.stdout)["summary"] == "done"
    assert run_cli("undo", str(root)).returncode == 0
