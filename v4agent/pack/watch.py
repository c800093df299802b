"""Which paths of a repository were touched since a moment: the kernel's inotify events on its directories.

``Snapshot.delta`` uses this to look only at the files named by an event instead of calling ``lstat`` on every
file and directory of the repository, which in a large one takes longer than the rest of a delta.
Anything that breaks the mapping from watch to directory (a watched directory moved, the event queue
overflowing) loses track for good, and the caller checks everything again, as it does where inotify is not
available (not Linux, or the watch limit reached). A repository with more directories than three quarters
of the per-user watch limit (``fs.inotify.max_user_watches``; a quarter is left to editors and other
watchers) is not watched at all, and the process says so once: a partial watch would miss changes.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from v4agent.ui.console import warn

__all__ = ["DirWatch", "watch_limit"]

_LIMIT_FILE = Path("/proc/sys/fs/inotify/max_user_watches")
_said: set[str] = set()  # notices already given in this process
report: Callable[[str], None] = warn  # where the once-per-process notice goes (a seam for tests)


def watch_limit() -> int | None:
    """The per-user inotify watch limit (inotify(7): /proc/sys/fs/inotify/max_user_watches); None: unknown."""
    try:
        return int(_LIMIT_FILE.read_text().strip())
    except (OSError, ValueError):
        return None


def _say_once(key: str, message: str) -> None:
    if key not in _said:
        _said.add(key)
        report(message)


def _over_limit(dirs: int, limit: int | None) -> None:
    shown = f"{limit:,}" if limit is not None else "reached"
    _say_once("limit", f"the repository has {dirs:,} directories, more than v4agent takes of the inotify watch "
              f"limit ({shown}, fs.inotify.max_user_watches; it uses at most three quarters): each change check "
              "reads every file's status instead (slower per turn). Raise it with: sudo sysctl "
              "fs.inotify.max_user_watches=524288")

# inotify(7) event bits (the kernel's ABI): what changes a directory's entries or a file's content or metadata.
_MODIFY, _ATTRIB, _CLOSE_WRITE = 0x2, 0x4, 0x8
_MOVED_FROM, _MOVED_TO, _CREATE, _DELETE = 0x40, 0x80, 0x100, 0x200
_DELETE_SELF, _MOVE_SELF, _UNMOUNT, _Q_OVERFLOW = 0x400, 0x800, 0x2000, 0x4000
_ONLYDIR, _DONT_FOLLOW, _EXCL_UNLINK, _ISDIR = 0x01000000, 0x02000000, 0x04000000, 0x40000000
_WATCH = (_MODIFY | _ATTRIB | _CLOSE_WRITE | _MOVED_FROM | _MOVED_TO | _CREATE | _DELETE | _DELETE_SELF
          | _MOVE_SELF | _ONLYDIR | _DONT_FOLLOW | _EXCL_UNLINK)
_LOST = _Q_OVERFLOW | _UNMOUNT | _MOVE_SELF  # events missed, or a watched directory is elsewhere now


class DirWatch:
    """inotify watches on a set of directories; ``touched`` gives every path named by an event since ``start``."""

    def __init__(self, notify: Any, dirs: dict[int, str]) -> None:
        self._notify = notify
        self._dirs = dirs  # watch descriptor -> directory, relative to the root ("" for the root)
        self._paths: set[str] = set()
        self._lost = False

    @classmethod
    def start(cls, dirs: Sequence[tuple[str, str]]) -> DirWatch | None:
        """Watch these (relative, absolute) directories; None where inotify is unavailable or refuses one."""
        if not sys.platform.startswith("linux"):
            return None
        limit = watch_limit()
        if limit is not None and len(dirs) > limit * 3 // 4:
            _over_limit(len(dirs), limit)
            return None
        try:
            from inotify_simple import INotify
        except ImportError:
            return None
        try:
            notify = INotify(nonblocking=True)
        except OSError:  # no inotify here, or the per-user instance limit reached
            return None
        watched: dict[int, str] = {}
        try:
            for rel, full in dirs:
                watched[notify.add_watch(full, _WATCH)] = rel
        except OSError as exc:  # the watch limit (ENOSPC: other watchers took it), or a directory gone already
            notify.close()
            if exc.errno == errno.ENOSPC:
                _over_limit(len(dirs), limit)
            return None
        return cls(notify, watched)

    def touched(self) -> set[str] | None:
        """Paths (relative to the root) named by an event since ``start``, cumulative; None once track is lost
        (then every file must be checked). A new directory shows as its own path, not as the files in it."""
        if self._lost:
            return None
        try:
            events = self._notify.read(timeout=0)
        except OSError:
            events = None
        if events is None or any(e.mask & _LOST or e.mask & (_ISDIR | _MOVED_FROM) == _ISDIR | _MOVED_FROM
                                 for e in events):
            self.close()
            self._lost = True
            return None
        for event in events:
            rel = self._dirs.get(event.wd)
            if rel is not None and event.name:  # no name: the watched directory itself (deleted: its files were)
                self._paths.add(f"{rel}/{event.name}" if rel else event.name)
        return self._paths

    def close(self) -> None:
        """Close the inotify descriptor, which ends every watch (safe to call again)."""
        if not self._notify.closed:
            self._notify.close()
