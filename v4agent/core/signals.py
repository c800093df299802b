"""SIGTERM and SIGHUP handled like Ctrl-C: the command stops where it is, cleans up, saves, and says why.

Inside ``stop_on_signals()`` the first SIGTERM or SIGHUP raises ``Terminated`` in the main thread. It is a
``KeyboardInterrupt``, so every place that already cleans up after Ctrl-C does the same for it: a running
command's process group is killed, the agent loop writes the session's end record, the front end reports and
exits with the interrupted status. ``received()`` tells a front end that keeps going after Ctrl-C (the chat
cancels one turn) that this time the whole command must end.

Once a termination signal has arrived, later ones (and Ctrl-C) are ignored until the block ends, so cleanup
runs to its end; a terminal that went away (SIGHUP) leaves stdout or stderr unwritable, so those are pointed
at /dev/null rather than failing every later write with a traceback.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from v4agent.core.errors import Interrupted

__all__ = ["TERMINATING", "Terminated", "interrupt_name", "interrupt_reason", "received", "stop_on_signals"]

TERMINATING = (signal.SIGTERM, signal.SIGHUP)
_BROKEN = select.POLLERR | select.POLLHUP | select.POLLNVAL


class Terminated(KeyboardInterrupt):
    """A termination signal arrived: cleaned up for like Ctrl-C, but the command then ends."""

    def __init__(self, signame: str) -> None:
        super().__init__(signame)
        self.signame = signame


@dataclass
class _Guard:
    owner: int  # the pid that installed the handlers; a forked worker inherits them but is not the command
    saved: dict[int, Any] = field(default_factory=dict)
    received: str | None = None


_guard: _Guard | None = None


def received() -> str | None:
    """The name of the termination signal that arrived inside ``stop_on_signals``, or None."""
    return _guard.received if _guard is not None else None


def interrupt_name(exc: BaseException) -> str:
    """What stopped the command: the signal's name for ``Terminated``, else Ctrl-C."""
    return exc.signame if isinstance(exc, Terminated) else "Ctrl-C"


def interrupt_reason(exc: BaseException) -> str:
    """A session's end reason after ``exc`` (a Ctrl-C or a termination signal) stopped it."""
    return f"interrupted ({interrupt_name(exc)}); resume with --resume"


def _stream_broken(fd: int) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & _BROKEN for _fd, events in poller.poll(0))


def _silence_closed_stdio() -> None:
    """Point stdout/stderr at /dev/null when nothing can read them any more (a closed pipe, a hung-up tty)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            fd = stream.fileno()
            if not _stream_broken(fd):
                continue
            null = os.open(os.devnull, os.O_WRONLY)
        except (AttributeError, OSError, ValueError):  # no real file descriptor (captured, closed): leave it
            continue
        try:
            os.dup2(null, fd)
        finally:
            os.close(null)


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """Cleanup after the first termination signal is under way: a repeated signal must not cut it short."""


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    guard = _guard
    if guard is None or os.getpid() != guard.owner:  # a forked worker: end the way the signal says
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    if guard.received is not None:
        return
    guard.received = signal.Signals(signum).name
    for sig in (signal.SIGINT, *TERMINATING):
        guard.saved.setdefault(sig, signal.getsignal(sig))
        signal.signal(sig, _ignore)
    _silence_closed_stdio()
    raise Terminated(guard.received)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP stop the block like Ctrl-C; the old handlers are back afterwards.

    A ``Terminated`` the block did not handle leaves it as ``Interrupted`` (the interrupted exit status, one
    line, no traceback), as does an OSError from writing to a terminal that went away. Outside the main
    thread, or nested in another one, the block runs unguarded.
    """
    global _guard
    if _guard is not None or threading.current_thread() is not threading.main_thread():
        yield
        return
    guard = _Guard(os.getpid())
    _guard = guard
    try:
        for sig in TERMINATING:
            guard.saved[sig] = signal.signal(sig, _on_signal)
        yield
    except Terminated as exc:
        raise Interrupted(f"stopped by {exc.signame}") from None
    except OSError:
        if guard.received is None:
            raise
        _silence_closed_stdio()
        raise Interrupted(f"stopped by {guard.received}") from None
    finally:
        for signum, old in guard.saved.items():
            with contextlib.suppress(TypeError, ValueError):
                signal.signal(signum, old)
        _guard = None
