"""Durable file writes: every file v4agent writes goes through here."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from v4agent.core.tempfiles import write_temp


def atomic_write_bytes(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` so that readers see either the old or the new file, never a torn one.

    The temp file lives in the same directory (rename is only atomic within a filesystem), is fsync'd
    before the rename, and the directory is fsync'd after it so the rename survives a crash. It has no name
    while written where the filesystem allows, and a kill leaves none behind (``core.tempfiles`` states the
    rule). The path itself is replaced: a symlink there becomes a file (what restoring a repository's file
    needs); for a file the user names, use ``write_output``.
    """
    path = Path(path)
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    if mode is None and path.exists():
        mode = path.stat().st_mode & 0o7777
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        tmp_name = write_temp(dir_fd, path.name, data, mode)
        try:
            os.replace(tmp_name, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name, dir_fd=dir_fd)
            raise
        with contextlib.suppress(OSError):  # a filesystem that refuses to fsync a directory is ignored
            os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_output(path: Path, text: str) -> None:
    """Write an output file the user named (``-o``) as a shell redirect would, but atomically where it can.

    A symlink is followed and kept. A device or a pipe (``-o /dev/stdout``, ``/dev/null``) is written in
    place: renaming over it would replace the device node itself (as root, the system's ``/dev/null``).
    """
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    try:
        kind: int | None = path.stat().st_mode
    except FileNotFoundError:
        kind = None
    data = text.encode("utf-8")
    if kind is None or stat.S_ISREG(kind):
        atomic_write_bytes(path, data)
        return
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        with contextlib.suppress(OSError):  # devices and pipes may not support fsync
            os.fsync(handle.fileno())


def atomic_write_text(path: Path, text: str, *, encoding: str = "utf-8", mode: int | None = None) -> None:
    """Write ``text`` atomically, encoded with ``encoding``."""
    atomic_write_bytes(path, text.encode(encoding), mode=mode)


def fsync_directory(directory: Path) -> None:
    """fsync a directory so a rename in it survives a crash; a filesystem that refuses is ignored."""
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def append_line_durably(path: Path, line: str) -> None:
    """Append one line (a JSON record) and fsync, so a crash loses at most the line in flight.

    A write that fails part-way (a full disk) is cut back off the file before the error goes up: a torn line
    in the middle of a file would make every later record of it unreadable once space is freed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data = memoryview((line.rstrip("\n") + "\n").encode("utf-8"))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        written = 0
        try:
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        except OSError as exc:
            # Cut only our own bytes: another process appending meanwhile (two sessions share the ledger)
            # shows as a different size, and its line must stay.
            with contextlib.suppress(OSError):
                if 0 < written < len(data) and os.fstat(fd).st_size == size + written:
                    os.ftruncate(fd, size)
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
    finally:
        os.close(fd)
