"""Shared by the sandbox tests: skip what needs a working bubblewrap where there is none, and say why."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from v4agent.sandbox import detect

_FOUND = detect()
needs_bwrap = pytest.mark.skipif(not _FOUND.available, reason=f"no sandbox here: {_FOUND.reason}")


def processes_with(marker: str) -> list[int]:
    """Host processes whose command line carries ``marker``; they and their groups are killed, so none is left."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    for pid in found:
        with contextlib.suppress(OSError):
            group = os.getpgid(pid)
            if group != os.getpgid(0):  # a daemon's own group holds its children (the `sleep` under its `sh`)
                os.killpg(group, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
    return found
