"""Stop a child's whole process group, children that ignore SIGTERM included.

Every child v4agent starts (a tool's command, a vLLM engine) runs in a group of its own, so stopping its
group reaches whatever it spawned.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any


def group_alive(pgid: int) -> bool:
    """True while a live process of the group exists; zombies do not count (they hold no resources)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop_group(pgid: int, leader: subprocess.Popen[Any] | None = None, *, grace_s: float = 2.0) -> None:
    """SIGTERM the group, wait up to ``grace_s`` (reaping the leader), then SIGKILL what is left and reap."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and group_alive(pgid):
        if leader is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                leader.wait(timeout=0.05)
        else:
            time.sleep(0.05)
    if group_alive(pgid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    if leader is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            leader.wait(timeout=5)
    end = time.monotonic() + 5
    while time.monotonic() < end and group_alive(pgid):
        time.sleep(0.05)
