"""A full disk under a run: a clear message, no traceback, no torn record, and the session resumes afterwards;
and outputs the user names (``-o``) written as a shell redirect would.

The disk is made full for real: the ledger is a ``/dev/full`` node (every write fails with ENOSPC), and a
write that fails part-way comes from the kernel's file-size limit (RLIMIT_FSIZE), not from a mocked ``write``.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from tests.conftest import make_git_repo, run_cli
from v4agent.core.fsutil import append_line_durably, write_output
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")

FILES = {"app.py": "def greet(name):\n    return 'hi ' + name\n", "README.md": "# app\n"}


def test_a_failed_append_raises_with_the_path_and_leaves_the_file_whole(tmp_path: Path) -> None:
    full = tmp_path / "ledger.jsonl"
    full.symlink_to("/dev/full")
    with pytest.raises(OSError, match=r"\[Errno 28\]") as caught:
        append_line_durably(full, '{"a": 1}')
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.filename == str(full)


def test_a_write_cut_short_by_the_disk_is_taken_back(tmp_path: Path) -> None:
    """The kernel lets a write through up to the file-size limit, then fails it: the torn tail is cut off,
    so the records before it and those appended once there is room again all read back."""
    path = tmp_path / "session.jsonl"
    script = textwrap.dedent(f"""
        import json, resource, signal, sys
        from pathlib import Path
        from v4agent.core.fsutil import append_line_durably, write_output
        path = Path({str(path)!r})
        append_line_durably(path, json.dumps({{"n": 1}}))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (path.stat().st_size + 10, resource.RLIM_INFINITY))
        try:
            append_line_durably(path, json.dumps({{"n": 2, "pad": "x" * 100}}))
        except OSError as exc:
            print(exc.errno, exc.filename)
            sys.exit(0)
        sys.exit("the write did not fail")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(errno.EFBIG), str(path)]
    append_line_durably(path, json.dumps({"n": 3}))
    assert [json.loads(line)["n"] for line in path.read_text(encoding="utf-8").splitlines()] == [1, 3]


def test_refactor_on_a_full_disk_stops_with_a_message_and_resumes_once_there_is_room(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", FILES)
    state = root / ".v4agent"
    state.mkdir()
    # A node of the full device itself: v4agent refuses a symlink in its state directory (a repository could
    # commit one to send its writes elsewhere), and making a device node takes root.
    try:
        os.mknod(state / "ledger.jsonl", stat.S_IFCHR | 0o666, os.stat("/dev/full").st_rdev)
    except PermissionError:
        pytest.skip("making a device node needs root")
    replies = [ScriptedReply(tool_calls=[ScriptedToolCall("read_file", '{"path": "app.py"}')]),
               ScriptedReply(tool_calls=[ScriptedToolCall("read_file", '{"path": "app.py"}')]),
               ScriptedReply(tool_calls=[ScriptedToolCall("finish", '{"summary": "looked"}')])]
    env = {"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"}
    with StandIn(replies) as server:
        stopped = run_cli("refactor", str(root), "look", "--base-url", server.base_url, "--prime", "never",
                          "--yes", "--test-cmd", "true", env=env)
        assert stopped.returncode == 1, stopped.stderr
        assert "Traceback" not in stopped.stderr + stopped.stdout
        assert "No space left on device" in stopped.stdout
        assert "ledger.jsonl" in stopped.stdout
        assert len(server.calls) == 1  # no call after the one that could not be recorded
        (session,) = json.loads(run_cli("sessions", "-C", str(root), "--json").stdout)
        (state / "ledger.jsonl").unlink()
        resumed = run_cli("refactor", str(root), "--resume", session["id"], "--base-url", server.base_url,
                          "--yes", "--json", "--test-cmd", "true", env=env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads(resumed.stdout)["summary"] == "looked"


# --- outputs the user names (-o) ----------------------------------------------------------------------------


def test_an_output_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    target = tmp_path / "real.xml"
    target.write_text("old", encoding="utf-8")
    link = tmp_path / "out.xml"
    link.symlink_to(target)
    write_output(link, "new")
    assert link.is_symlink()
    assert target.read_text(encoding="utf-8") == "new"
    write_output(tmp_path / "fresh" / "pack.xml", "made")  # a new file, its directory created
    assert (tmp_path / "fresh" / "pack.xml").read_text(encoding="utf-8") == "made"


def test_an_output_to_a_pipe_is_written_into_it_not_renamed_over_it(tmp_path: Path) -> None:
    """``-o /dev/stdout`` or ``/dev/null``: an atomic rename would put a regular file where the node was
    (as root, in place of the system's /dev/null). A named pipe shows it without touching /dev."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text(encoding="utf-8")))
    reader.start()
    write_output(fifo, "packed text")
    reader.join(timeout=10)
    assert received == ["packed text"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_pack_to_a_full_device_says_so_and_leaves_the_device_alone(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", FILES)
    out = tmp_path / "out.xml"
    out.symlink_to("/dev/full")
    done = run_cli("pack", str(root), "-o", str(out))
    assert done.returncode == 2
    assert "No space left on device" in done.stderr
    assert "Traceback" not in done.stderr
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    assert out.is_symlink()
