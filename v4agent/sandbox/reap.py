"""Waiting for a sandbox to end: its init process, and with it every process of its PID namespace.

bubblewrap's outer process exits as soon as the command does, while the sandbox's init (PID 1 inside) may
still be reaping a daemon the command left behind; ``--die-with-parent`` then kills that init, and the kernel
kills the rest of the namespace before the init itself is gone (pid_namespaces(7): "If the init process of a
PID namespace terminates, the kernel terminates all of the processes in the namespace via a SIGKILL signal").
So once the init is gone, nothing of the command runs. Its host PID comes from bwrap's ``--info-fd``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

__all__ = ["child_pid", "wait_ended"]

_FIRST_POLL_S = 0.0005  # the init is usually gone within a millisecond of bwrap: look again soon, then less often
_MAX_POLL_S = 0.02


def child_pid(fd: int) -> int | None:
    """The init's host PID from what bwrap wrote to its info file descriptor (read without blocking)."""
    os.set_blocking(fd, False)
    data = b""
    with contextlib.suppress(BlockingIOError, OSError):
        while chunk := os.read(fd, 4096):
            data += chunk
    try:
        pid = json.loads(data.decode("utf-8", "replace")).get("child-pid")
    except (ValueError, AttributeError):
        return None
    return pid if isinstance(pid, int) and pid > 1 else None


def _sandboxed_and_running(pid: int) -> bool:
    """True while ``pid`` is alive, not a zombie, and in another PID namespace than ours (so not a reused PID)."""
    proc = Path(f"/proc/{pid}")
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        theirs = os.readlink(proc / "ns" / "pid")
    except (OSError, IndexError):
        return False
    return state != "Z" and theirs != os.readlink("/proc/self/ns/pid")


def wait_ended(pid: int, timeout_s: float = 5.0) -> None:
    """Wait for the sandbox's init to end; past ``timeout_s`` kill it (which ends its namespace) and wait again."""
    deadline = time.monotonic() + timeout_s
    pause = _FIRST_POLL_S
    while _sandboxed_and_running(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + timeout_s
        time.sleep(pause)
        pause = min(pause * 2, _MAX_POLL_S)
