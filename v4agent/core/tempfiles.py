"""Temp files of atomic writes: written unnamed where the system allows, named by pid otherwise, swept when stale.

An atomic write puts its bytes in a temp file in the target's directory, then renames it over the target. The rule
that keeps those temp files out of the repository:

- Where Linux has ``O_TMPFILE`` (ext4, xfs, btrfs, tmpfs...), the temp file has no name while it is written and
  fsync'd: it is linked into the directory (``linkat`` through ``/proc/self/fd``) only once complete, right
  before the rename. A kill during the write leaves nothing behind.
- Elsewhere (and in the instant between that link and the rename) it is named ``.<target>.<pid>-<8 hex>.tmp``,
  the pid being the writing process's.
- At the start of a run ``sweep_repository`` removes such files when they are stale: no process has that pid
  any more, or the process that has it now started after the file was last written (the pid was reused). Only
  names of exactly that pattern are touched, and only regular files. It looks at the files git lists as
  untracked (not ignored) and at the state directory ``.v4agent/``: a stray in an ignored directory stays
  until a sweep of that directory (``sweep``) is asked for.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from v4agent.core.git import GitError, run_git

__all__ = ["TEMP_PATTERN", "StreamedTemp", "is_stale", "sweep", "sweep_repository", "temp_name", "write_temp"]

TEMP_PATTERN = re.compile(r"\A\.(?P<target>.+)\.(?P<pid>[0-9]{1,10})-[0-9a-f]{8}\.tmp\Z", re.DOTALL)
_NAME_MAX = 255
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_STATE_DIR = ".v4agent"  # core.state.STATE_DIR_NAME; not imported: state's checks are not needed for a sweep
_SLACK_S = 1.0  # start times from /proc are in clock ticks on a whole-second boot time
_link_works = hasattr(os, "O_TMPFILE")  # until linking through /proc/self/fd fails once


def temp_name(target: str) -> str:
    """The temp name for an atomic write of ``target`` by this process; a long target is cut to fit NAME_MAX."""
    tail = f".{os.getpid()}-{secrets.token_hex(4)}.tmp"
    room = _NAME_MAX - 1 - len(tail)
    raw = os.fsencode(target)
    stem = target if len(raw) <= room else os.fsdecode(raw[:room])
    while len(os.fsencode(stem)) > room:  # a cut inside a multi-byte character can grow when re-encoded
        stem = stem[:-1]
    return f".{stem}{tail}"


def _fill(fd: int, data: bytes, mode: int | None) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    if mode is not None:
        os.fchmod(fd, mode)
    os.fsync(fd)


def _open_unnamed(dir_fd: int, access: int = os.O_WRONLY) -> int | None:
    """An unnamed file in the directory (``O_TMPFILE``), or None where the filesystem has no such thing."""
    try:
        return os.open(".", os.O_TMPFILE | access | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
    except OSError as exc:
        # open(2) names EOPNOTSUPP (the filesystem), EISDIR (a kernel without O_TMPFILE reads it as O_DIRECTORY)
        # and EINVAL; a sandbox may refuse it otherwise. A full or read-only disk is the same for a named file.
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            raise
        return None


def _link(fd: int, dir_fd: int, name: str) -> bool:
    """Give the unnamed file ``fd`` the name ``name`` in the directory; False where that cannot be done here."""
    global _link_works
    try:
        os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=dir_fd)  # linkat(2) with AT_SYMLINK_FOLLOW
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            raise
        _link_works = False  # no /proc, or a sandbox that refuses it: named temp files from now on
        return False
    return True


def write_temp(dir_fd: int, target: str, data: bytes, mode: int | None = None) -> str:
    """Write ``data`` (fsync'd, with permission bits ``mode`` when given, else 0600) to a new temp file in the
    directory and return its name, for the caller to rename over ``target`` (or unlink on failure).

    The name is made with O_EXCL | O_NOFOLLOW (or by a link, which never replaces): nothing existing is written.
    """
    name = temp_name(target)
    if _link_works:
        fd = _open_unnamed(dir_fd)
        if fd is not None:
            try:
                _fill(fd, data, mode)
                if _link(fd, dir_fd, name):
                    return name
            finally:
                os.close(fd)
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
    try:
        try:
            _fill(fd, data, mode)
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=dir_fd)
        raise
    return name


class StreamedTemp:
    """``write_temp`` for data that comes in pieces (a pack streamed file by file): unnamed while written where
    the system allows, given its temp name by ``finish`` for the caller's rename; ``abort`` leaves nothing."""

    def __init__(self, dir_fd: int, target: str) -> None:
        self._dir_fd, self.name = dir_fd, temp_name(target)
        fd = _open_unnamed(dir_fd, os.O_RDWR) if _link_works else None  # read back should the link fail
        self._unnamed = fd is not None
        self.fd = fd if fd is not None else _open_named(dir_fd, self.name)

    def write(self, data: bytes) -> None:
        """Append ``data``."""
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def finish(self, mode: int | None = None) -> str:
        """fsync the file (permission bits ``mode`` when given, else 0600), name it, close it; returns the name."""
        if mode is not None:
            os.fchmod(self.fd, mode)
        os.fsync(self.fd)
        if self._unnamed and not _link(self.fd, self._dir_fd, self.name):
            self._copy_to_named(mode)  # no /proc here: the bytes already written go into a named file
        self._unnamed = False
        os.close(self.fd)
        self.fd = -1
        return self.name

    def abort(self) -> None:
        """Close and remove the temp file (an unnamed one vanishes with its descriptor)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if not self._unnamed:
            with contextlib.suppress(OSError):
                os.unlink(self.name, dir_fd=self._dir_fd)

    def _copy_to_named(self, mode: int | None) -> None:
        named = _open_named(self._dir_fd, self.name)
        try:
            try:
                offset = 0
                while chunk := os.pread(self.fd, 1 << 20, offset):
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(named, view):]
                    offset += len(chunk)
                if mode is not None:
                    os.fchmod(named, mode)
                os.fsync(named)
            finally:
                os.close(named)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(self.name, dir_fd=self._dir_fd)
            raise


def _open_named(dir_fd: int, name: str) -> int:
    return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)


# --- stale ones ----------------------------------------------------------------------------------------------


def _boot_time() -> float | None:
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _started_at(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds), or None when /proc cannot say."""
    boot = _boot_time()
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        ticks = int(text[text.rindex(")") + 2:].split()[19])  # proc(5): field 22, starttime; the name may hold spaces
    except (OSError, ValueError, IndexError):
        return None
    return None if boot is None else boot + ticks / os.sysconf("SC_CLK_TCK")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    except (OverflowError, OSError):
        return False
    return True


def is_stale(name: str, mtime: float) -> bool:
    """Whether ``name`` is one of our temp files whose writer is gone: its pid is free, or taken by a process
    that started after the file was last written (``mtime``)."""
    match = TEMP_PATTERN.match(name)
    if match is None:
        return False
    pid = int(match["pid"])
    if pid == os.getpid():
        return False  # this process's own write, perhaps in flight on another thread
    if pid <= 0 or not _alive(pid):
        return True
    started = _started_at(pid)
    return started is not None and started > mtime + _SLACK_S


def _open_parent(root_fd: int, parts: list[str]) -> int:
    """The directory ``parts`` beneath ``root_fd``, one ``O_NOFOLLOW`` component at a time (never a link)."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def _remove_if_stale(root_fd: int, rel: str) -> bool:
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or ".." in parts or TEMP_PATTERN.match(parts[-1]) is None:
        return False
    try:
        dir_fd = _open_parent(root_fd, parts[:-1])
    except OSError:
        return False
    try:
        info = os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)
        if not stat.S_ISREG(info.st_mode) or not is_stale(parts[-1], info.st_mtime):
            return False
        os.unlink(parts[-1], dir_fd=dir_fd)
        return True
    except OSError:
        return False
    finally:
        os.close(dir_fd)


def sweep(root: Path, rels: Iterable[str]) -> list[str]:
    """Remove the stale temp files among ``rels`` (paths relative to ``root``); returns those removed."""
    removed: list[str] = []
    try:
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return removed
    try:
        removed.extend(rel for rel in rels if _remove_if_stale(root_fd, rel))
    finally:
        os.close(root_fd)
    return removed


def _temps_under(root: Path, top: str) -> Iterator[str]:
    """Names matching the temp pattern beneath ``root/top`` (no link followed), relative to ``root``."""
    for directory, subdirs, files in os.walk(root / top, followlinks=False):
        subdirs.sort()
        base = Path(directory).relative_to(root).as_posix()
        yield from (f"{base}/{name}" for name in files if TEMP_PATTERN.match(name))


def sweep_repository(root: Path) -> list[str]:
    """Remove the stale temp files a killed run left in the repository's untracked files and its state
    directory; returns their paths. Never raises: a sweep that cannot look leaves things as they are."""
    try:
        listed = run_git(root, "ls-files", "--others", "--exclude-standard", "-z", "--", ".").split(b"\0")
        untracked = [os.fsdecode(raw) for raw in listed if raw]
    except (GitError, OSError):
        untracked = []
    candidates = [rel for rel in untracked if TEMP_PATTERN.match(rel.rsplit("/", 1)[-1])]
    with contextlib.suppress(OSError):
        candidates.extend(_temps_under(Path(root), _STATE_DIR))
    return sweep(Path(root), candidates)
