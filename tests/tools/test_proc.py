"""Commands run in their own process group; a timeout kills the whole group, stubborn children included."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests.conftest import make_git_repo
from v4agent.sandbox import make_policy
from v4agent.tools.proc import clip_output, run_command
from v4agent.tools.registry import ToolContext, run_tool


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes; /proc tells them apart.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


def test_sleep_is_killed_at_timeout(tmp_path: Path) -> None:
    start = time.monotonic()
    result = run_command("echo started; sleep 100", tmp_path, timeout_s=0.5)
    assert result.timed_out
    assert result.returncode == 124
    assert "started" in result.output
    assert time.monotonic() - start < 10


def test_child_ignoring_sigterm_is_killed_with_its_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    script = (
        "trap '' TERM; "
        f"(trap '' TERM; sleep 100 & echo $! >> {pidfile}; wait) & echo $! >> {pidfile}; "
        f"echo $$ >> {pidfile}; wait"
    )
    start = time.monotonic()
    result = run_command(script, tmp_path, timeout_s=0.5)
    assert result.timed_out
    assert time.monotonic() - start < 10
    pids = [int(p) for p in pidfile.read_text().split()]
    assert len(pids) == 3
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in pids if _alive(p)]


def test_shell_tool_timeout_and_background_leftovers(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.txt": "a\n"})
    # Unsandboxed: the process group alone has to do it (tests/sandbox covers the sandboxed case).
    ctx = ToolContext(root, approve="yes", sandbox=make_policy(root, mode="off"))
    result = run_tool(ctx, "shell", json.dumps({"command": "sleep 100", "timeout_s": 0.3}))
    assert not result.ok
    assert "timed out after 0.3s" in result.content
    # A background child left behind by a command that exits is not left running either.
    pidfile = tmp_path / "bg.pid"
    result = run_tool(ctx, "shell", json.dumps({"command": f"sleep 100 & echo $! > {pidfile}; echo done"}))
    assert result.ok
    assert "done" in result.content
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def test_clip_output_keeps_head_tail_and_failure() -> None:
    lines = [f"test_{i} PASSED" for i in range(3000)]
    lines[1500] = "=================================== FAILURES ==================================="
    lines[1501] = "E   AssertionError: the needle"
    text = "\n".join(lines) + "\n"
    clipped = clip_output(text)
    assert len(clipped) < len(text) / 3
    assert clipped.startswith("test_0 PASSED")
    assert "test_2999 PASSED" in clipped
    assert "AssertionError: the needle" in clipped
    assert "lines (" in clipped
    assert "cut" in clipped
    assert clip_output("short\n") == "short\n"
