"""Durable file writes: every file v4agent writes goes through here."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from v4agent.core.tempfiles import StreamedTemp, write_temp


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


class OutputStream:
    """``write_output`` for text that comes in pieces: what ``write`` is given goes to the file as it comes (a
    temp file beside a regular one, renamed over it by ``commit``; a device or pipe in place). Nothing is
    opened before the first ``write``, and ``discard`` (or an exception in a ``with`` block) leaves an existing
    file as it was."""

    _BUFFER = 1 << 20  # bytes gathered per write call

    def __init__(self, path: Path) -> None:
        path = Path(path)
        self._path = path.resolve() if path.is_symlink() else path
        self._temp: StreamedTemp | None = None
        self._dir_fd = self._fd = -1
        self._mode: int | None = None
        self._buffer: list[bytes] = []
        self._buffered = 0

    def write(self, text: str) -> None:
        """Append ``text`` (UTF-8)."""
        data = text.encode("utf-8")
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= self._BUFFER:
            self._flush()

    def commit(self) -> None:
        """Make what was written the file's content (an empty file when nothing was)."""
        self._flush(force=True)
        if self._temp is not None:
            name = self._temp.finish(self._mode)
            self._temp = None
            try:
                os.replace(name, self._path.name, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=self._dir_fd)
                raise
            with contextlib.suppress(OSError):
                os.fsync(self._dir_fd)
        elif self._fd >= 0:
            with contextlib.suppress(OSError):  # devices and pipes may not support fsync
                os.fsync(self._fd)
        self._close()

    def discard(self) -> None:
        """Drop what was written: an existing regular file keeps its old content."""
        if self._temp is not None:
            self._temp.abort()
            self._temp = None
        self._buffer.clear()
        self._close()

    def __enter__(self) -> OutputStream:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()

    def _flush(self, force: bool = False) -> None:
        if not (self._buffer or force):
            return
        if self._temp is None and self._fd < 0:
            self._open()
        data = b"".join(self._buffer)
        self._buffer.clear()
        self._buffered = 0
        if self._temp is not None:
            self._temp.write(data)
            return
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def _open(self) -> None:
        try:
            kind: int | None = self._path.stat().st_mode
        except FileNotFoundError:
            kind = None
        if kind is not None and not stat.S_ISREG(kind):  # a device or a pipe: written in place, never renamed over
            self._fd = os.open(self._path, os.O_WRONLY | os.O_CLOEXEC)
            return
        directory = self._path.parent
        directory.mkdir(parents=True, exist_ok=True)
        self._mode = None if kind is None else kind & 0o7777
        self._dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._temp = StreamedTemp(self._dir_fd, self._path.name)

    def _close(self) -> None:
        for fd in (self._fd, self._dir_fd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._dir_fd = -1


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
