"""One agent session per repository at a time: a lock on ``.v4agent/session.lock`` held for the whole command.

The lock is ``flock`` on a descriptor this process keeps open, so the kernel drops it when the process ends,
however it ends (``kill -9`` included): a crash never leaves a stale lock behind. The file holds who holds
the lock (pid, session id, command line, since when) for the message a second session gets. The file is
never removed: a second process could lock a new file of the same name while the first still held the old.

A process takes the lock once per repository; taking it again returns the same lock (a chat that switches
sessions keeps it), and ``note_session`` records which session it is now running.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import sys
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from v4agent.core.errors import UsageError
from v4agent.core.state import state_path
from v4agent.ui.visible import visible

__all__ = ["LOCK_FILE", "LockHolder", "SessionLock", "SessionLocked", "hold_session_lock", "note_session",
           "release_session_locks"]

LOCK_FILE = "session.lock"
_COMMAND_CHARS = 120
_READ_BYTES = 4096


@dataclass(frozen=True)
class LockHolder:
    """Who holds a repository's lock: the process, the session it runs, its command line, since when."""

    pid: int
    session_id: str
    command: str
    since: str  # local time, ISO 8601 to the second

    def describe(self) -> str:
        """``session ID (pid N, `command`, since TIME)``, safe to print."""
        who = f"session {self.session_id}" if self.session_id else "a session that is starting"
        return f"{who} (pid {self.pid}, `{visible(self.command)}`, since {self.since})"

    def to_json(self) -> str:
        """The lock file's content."""
        return json.dumps({"pid": self.pid, "session": self.session_id, "command": self.command,
                           "since": self.since}, ensure_ascii=False)

    @classmethod
    def from_bytes(cls, data: bytes) -> LockHolder:
        """Parse the lock file; an unreadable one (written by a holder that died mid-write) gives unknowns."""
        try:
            raw = json.loads(data.decode("utf-8"))
            return cls(int(raw["pid"]), str(raw["session"]), str(raw["command"]), str(raw["since"]))
        except (ValueError, KeyError, TypeError):
            return cls(0, "", "?", "?")


class SessionLocked(UsageError):
    """Another agent session is running on the repository (exit 2)."""

    def __init__(self, root: Path, holder: LockHolder) -> None:
        stop = f", or stop it (kill {holder.pid})" if holder.pid else ""
        super().__init__(f"another v4agent session is running on {root}: {holder.describe()}",
                         hint=f"one agent session per repository at a time: wait for it to end{stop}, then try again")
        self.holder = holder


@dataclass
class SessionLock:
    """The held lock of one repository: an open, locked descriptor and what the file says about us."""

    root: Path
    fd: int
    holder: LockHolder

    def note_session(self, session_id: str) -> None:
        """Record the session this process now runs (a new one, /clear, /resume)."""
        if session_id and session_id != self.holder.session_id:
            self.holder = replace(self.holder, session_id=session_id)
            _write(self.fd, self.holder)

    def release(self) -> None:
        """Unlock and close (the file stays); a later hold in this process takes the lock afresh."""
        if _held.get(self.root) is self:
            del _held[self.root]
        with contextlib.suppress(OSError):
            os.close(self.fd)  # closing the last descriptor of the open file releases the flock


_held: dict[Path, SessionLock] = {}


def _command_line() -> str:
    text = " ".join(shlex.quote(word) for word in ["v4agent", *sys.argv[1:]])
    return text if len(text) <= _COMMAND_CHARS else text[: _COMMAND_CHARS - 1] + "…"


def _write(fd: int, holder: LockHolder) -> None:
    data = holder.to_json().encode("utf-8")
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def hold_session_lock(root: Path, *, session_id: str = "", command: str | None = None) -> SessionLock:
    """Take the repository's session lock for the rest of this process; raises ``SessionLocked`` if held."""
    key = Path(root).resolve()
    held = _held.get(key)
    if held is not None:
        held.note_session(session_id)
        return held
    fd = os.open(state_path(key, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)  # not inherited by children
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = LockHolder.from_bytes(os.pread(fd, _READ_BYTES, 0))
        os.close(fd)
        raise SessionLocked(key, holder) from None
    except BaseException:
        os.close(fd)
        raise
    holder = LockHolder(os.getpid(), session_id, command if command is not None else _command_line(),
                        datetime.now().astimezone().isoformat(timespec="seconds"))
    try:
        _write(fd, holder)
    except BaseException:
        os.close(fd)
        raise
    lock = SessionLock(key, fd, holder)
    _held[key] = lock
    return lock


def note_session(root: Path, session_id: str) -> None:
    """Record in this process's lock of ``root`` (if it holds one) which session it runs."""
    held = _held.get(Path(root).resolve())
    if held is not None:
        held.note_session(session_id)


def release_session_locks() -> None:
    """Release every lock this process holds (the end of a command run in-process)."""
    for lock in list(_held.values()):
        lock.release()
