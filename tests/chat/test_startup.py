"""`v4agent chat` shows its prompt before the repository is packed; the first message waits for the pack and
sends the same request bytes as a chat that packed first; leaving or Ctrl-C while it packs is clean.

The pack is held deterministically: `git` on PATH is a wrapper that blocks `git status` (the pack's discovery)
until the test creates a gate file, so "before the pack" is a fact, not a timing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.conftest import make_git_repo
from v4agent.agent.sessions.store import list_sessions
from v4agent.core.errors import ExitCode
from v4agent.testing.standin import ScriptedReply, StandIn

SAMPLE = {"app.py": "def f():\n    return 1\n", "README.md": "hello\n"}


def _gated_git(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose `git status` waits for the returned gate file to exist."""
    real = shutil.which("git")
    assert real is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gate = tmp_path / "gate"
    wrapper = bin_dir / "git"
    wrapper.write_text(f"""#!/bin/sh
for arg in "$@"; do
  if [ "$arg" = status ]; then
    while [ ! -e '{gate}' ]; do sleep 0.02; done
  fi
done
exec '{real}' "$@"
""")
    wrapper.chmod(0o755)
    env = dict(os.environ, DEEPSEEK_API_KEY="sk-test", V4AGENT_THINK="off", PATH=f"{bin_dir}:{os.environ['PATH']}")
    return env, gate


class _Chat:
    """A piped `v4agent chat` whose stdout and stderr are collected as they come."""

    def __init__(self, root: Path, base_url: str, env: dict[str, str], *extra: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "v4agent", "chat", str(root), "--base-url", base_url,
                                      *extra], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, text=True)
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=lambda s=stream, k=sink: k.extend(iter(s.readline, "")), daemon=True).start()

    def text(self) -> str:
        return "".join(self.out) + "".join(self.err)

    def wait_for(self, needle: str, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while needle not in self.text():
            assert time.monotonic() < end, f"{needle!r} not seen:\n{self.text()}"
            assert self.proc.poll() is None or needle in self.text(), f"exited early:\n{self.text()}"
            time.sleep(0.02)

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line)
        self.proc.stdin.flush()

    def end(self, timeout: float = 60) -> int:
        assert self.proc.stdin is not None
        if not self.proc.stdin.closed:
            self.proc.stdin.close()
        code = self.proc.wait(timeout=timeout)
        time.sleep(0.1)  # the reader threads take the last lines
        return code


def test_the_prompt_comes_before_the_pack_and_the_first_request_is_unchanged(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    env, gate = _gated_git(tmp_path)
    with StandIn(replies=[ScriptedReply(content="One."), ScriptedReply(content="Two.")]) as server:
        chat = _Chat(root, server.base_url, env)
        chat.wait_for("v4agent chat · session")  # the banner (the prompt's place when piped), git status held
        assert "packing the repository meanwhile" in chat.text()
        chat.send("what is here?\n")
        chat.wait_for("waiting for the repository's pack")
        time.sleep(0.3)
        assert not server.calls  # nothing sent while the pack is held
        gate.touch()
        chat.wait_for("One.")
        assert chat.end() == 0, chat.text()
        # The same repository, packed before the prompt (--format stream-json keeps the old order).
        packed_first = subprocess.run([sys.executable, "-m", "v4agent", "chat", str(root), "--base-url",
                                       server.base_url, "--format", "stream-json"], input="what is here?\n",
                                      env=env, capture_output=True, text=True, timeout=120)
        assert packed_first.returncode == 0, packed_first.stderr
        first, second = server.calls[0].request, server.calls[1].request
    assert first["messages"] == second["messages"]
    assert first["tools"] == second["tools"]
    assert len(list_sessions(root)) == 2


def test_leaving_while_it_packs_saves_nothing(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    env, gate = _gated_git(tmp_path)
    with StandIn(replies=[]) as server:
        chat = _Chat(root, server.base_url, env)
        chat.wait_for("v4agent chat · session")
        assert chat.proc.stdin is not None
        chat.proc.stdin.close()  # Ctrl-D / end of input before the pack is done
        time.sleep(0.3)
        assert chat.proc.poll() is None  # the pack finishes first (its caches stay whole)
        gate.touch()
        assert chat.end() == 0, chat.text()
        assert not server.calls
    assert "no turn was sent: nothing saved" in chat.text()
    assert "Traceback" not in chat.text()
    assert list_sessions(root) == []


def test_ctrl_c_while_the_first_message_waits_cancels_only_the_wait(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    env, gate = _gated_git(tmp_path)
    with StandIn(replies=[ScriptedReply(content="Answered.")]) as server:
        chat = _Chat(root, server.base_url, env)
        chat.wait_for("v4agent chat · session")
        chat.send("first\n")
        chat.wait_for("waiting for the repository's pack")
        chat.proc.send_signal(signal.SIGINT)
        chat.wait_for("not sent: the repository is still being packed")
        gate.touch()
        chat.send("second\n")
        chat.wait_for("Answered.")
        code = chat.end()
        calls = list(server.calls)
    assert code == ExitCode.INTERRUPTED, chat.text()  # a turn was cancelled: the chat says so in its status
    assert len(calls) == 1
    users = [m["content"] for m in calls[0].request["messages"] if m["role"] == "user"]
    assert users[-1] == "second"
    assert "first" not in users
    assert "Traceback" not in chat.text()
