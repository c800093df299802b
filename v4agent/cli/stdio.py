"""Standard streams that were closed by the caller (`v4agent chat . <&-`) become /dev/null, never a traceback.

Python sets ``sys.stdin`` (or stdout, stderr) to None when its descriptor is closed at start-up, and every
``isatty()`` or ``write()`` on it then fails. Worse, the next file the process opens takes the free descriptor
0, 1 or 2, so a child process would read or write that file as its standard stream. ``guard()`` fills each free
descriptor with /dev/null first, then gives Python a stream for it, and remembers which were closed so that a
command that must write its result to stdout can refuse with a clear message instead of writing nowhere.
"""

from __future__ import annotations

import io
import os
import sys

__all__ = ["closed", "guard"]

_closed: set[str] = set()


def _descriptor_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def guard() -> None:
    """Give every closed standard descriptor /dev/null and every None ``sys`` stream a real one."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        if not _descriptor_open(fd):
            # the lowest free descriptor is this one: /dev/null takes it before any other file can
            got = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
            if got != fd:  # a lower one was free after all; keep the streams as they are
                os.close(got)
            _closed.add(name)
        if getattr(sys, name) is None:
            _closed.add(name)
            mode = "r" if fd == 0 else "w"
            try:
                stream = open(fd, mode, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
            except OSError:
                stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
            setattr(sys, name, stream)


def closed(name: str) -> bool:
    """Whether the caller started v4agent with this standard stream ("stdin", "stdout", "stderr") closed."""
    return name in _closed
