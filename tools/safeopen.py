"""Open files beneath the repository without following a symbolic link at any component, and act through the fd.

A path is never resolved once and then used again by name: a link swapped in between (``renameat2`` with
``RENAME_EXCHANGE``) would redirect the second use. Instead:

- ``openat2(root_fd, path, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`` where the kernel has
  it (Linux 5.6+, called through ``syscall(2)``): openat2(2) says RESOLVE_NO_SYMLINKS "disallow[s] resolution
  of symbolic links during path resolution", at every component, and RESOLVE_BENEATH refuses any resolution
  that would leave the directory (``..`` or an absolute link: EXDEV).
- otherwise (ENOSYS: an older kernel, or a seccomp filter that does not know the call) one component at a time
  from the held directory fd with ``O_NOFOLLOW``; open(2): "If the trailing component (i.e., basename) of
  pathname is a symbolic link, then the open fails" (ELOOP, or ENOTDIR together with O_DIRECTORY). Each
  component is a single name, so no intermediate component is ever resolved by the kernel.

Everything after the open goes through the directory fd (``dir_fd=``, ``src_dir_fd=``/``dst_dir_fd=``): the
temp file of an atomic write is created and renamed inside the held directory, so a directory renamed or
replaced by a link afterwards cannot move the write elsewhere, and an existing file is never written in place
(a rename puts a new inode at the name; the old one, and any hard link to it, is left as it was).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from v4agent.core.tempfiles import write_temp

__all__ = ["LinkInPath", "NotADir", "open_dir", "openat2_available", "opened_root", "read_at", "replace_at",
           "stat_at", "unlink_at"]

# openat2(2): struct open_how and the RESOLVE_* flags (include/uapi/linux/openat2.h); the syscall number is
# 437 on every architecture (the unified table of calls added since 5.1).
_SYS_OPENAT2 = 437
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO planted in the tree must not hang the tool; it is refused after fstat instead.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_MAX_READ = 1 << 30


class LinkInPath(OSError):
    """A component of the path is a symbolic link: refused, never followed. ``rel`` is that component's path."""

    def __init__(self, rel: str) -> None:
        super().__init__(errno.ELOOP, "symbolic link in path", rel)
        self.rel = rel


class NotADir(OSError):
    """A component that should be a directory is something else. ``rel`` is that component's path."""

    def __init__(self, rel: str) -> None:
        super().__init__(errno.ENOTDIR, "not a directory", rel)
        self.rel = rel


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def _libc_syscall() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        call: Callable[..., int] = libc.syscall
    except (OSError, AttributeError):
        return None
    return call


_syscall: Callable[..., int] | None = _libc_syscall()
_openat2_state: bool | None = None  # None until the first call tells whether the kernel has openat2


def _openat2(dir_fd: int, rel: str, flags: int) -> int:
    if _syscall is None:
        raise OSError(errno.ENOSYS, "no syscall(2) here")
    how = _OpenHow(flags, 0, _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS)
    fd = _syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_long(dir_fd), ctypes.c_char_p(os.fsencode(rel)),
                  ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), rel)
    return int(fd)


def openat2_available(probe_fd: int) -> bool:
    """Whether openat2 works here: probed once per process, by opening ``.`` beneath directory ``probe_fd``."""
    global _openat2_state
    if _openat2_state is None:
        try:
            os.close(_openat2(probe_fd, ".", _DIR_FLAGS))
            _openat2_state = True
        except OSError as exc:
            # ENOSYS: no such call; EPERM: a seccomp filter's answer; EINVAL/E2BIG: a struct it does not take.
            if exc.errno not in (errno.ENOSYS, errno.EPERM, errno.EINVAL, errno.E2BIG):
                raise
            _openat2_state = False
    return _openat2_state


def _parts(rel: str) -> list[str]:
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):  # the caller normalises; a '..' here is a bug, never followed
        raise NotADir(rel)
    return parts


def _walk(root_fd: int, parts: list[str], *, create: bool) -> int:
    """The directory ``parts`` beneath ``root_fd``, one ``O_NOFOLLOW`` component at a time."""
    fd = os.dup(root_fd)
    try:
        for depth, name in enumerate(parts):
            try:
                nxt = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o777, dir_fd=fd)
                nxt = _open_component(fd, parts, depth)
            except OSError as exc:
                raise _why(fd, parts, depth, exc) from None
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_component(fd: int, parts: list[str], depth: int) -> int:
    try:
        return os.open(parts[depth], _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
    except OSError as exc:
        raise _why(fd, parts, depth, exc) from None


def _why(fd: int, parts: list[str], depth: int, exc: OSError) -> OSError:
    """The error for a component that would not open as a directory: a link, a non-directory, or ``exc``."""
    if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
        return exc
    rel = "/".join(parts[: depth + 1])
    info = stat_at(fd, parts[depth])
    return LinkInPath(rel) if info is not None and stat.S_ISLNK(info.st_mode) else NotADir(rel)


def _first_link(root_fd: int, parts: list[str]) -> OSError:
    """After openat2 refused a path: which component is a link (or not a directory), for the message."""
    try:
        os.close(_walk(root_fd, parts, create=False))
    except (LinkInPath, NotADir) as exc:
        return exc
    except OSError:
        pass
    return LinkInPath("/".join(parts))  # changed meanwhile: still a refusal, named by the whole path


def open_dir(root_fd: int, rel: str, *, create: bool = False) -> int:
    """An fd of directory ``rel`` beneath ``root_fd`` (``create``: missing directories are made); the caller
    closes it. Raises LinkInPath or NotADir naming the component at fault, FileNotFoundError when one is missing.
    """
    parts = _parts(rel)
    if not parts:
        return os.dup(root_fd)
    if openat2_available(root_fd):
        try:
            return _openat2(root_fd, "/".join(parts), _DIR_FLAGS)
        except FileNotFoundError:
            if not create:
                raise
        except OSError as exc:
            # openat2(2): EAGAIN means a concurrent rename made the kernel give up on a check; the walk is as safe.
            if exc.errno != errno.EAGAIN:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EXDEV):
                    raise
                raise _first_link(root_fd, parts) from None
    return _walk(root_fd, parts, create=create)


@contextlib.contextmanager
def opened_root(root: Path) -> Iterator[int]:
    """An fd of the repository root (itself resolved by the caller), closed on exit."""
    fd = os.open(root, _DIR_FLAGS)
    try:
        yield fd
    finally:
        os.close(fd)


def stat_at(dir_fd: int, name: str) -> os.stat_result | None:
    """``lstat`` of ``name`` in the directory (a link is described, not followed); None when it is absent."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def read_at(dir_fd: int, name: str,
            check: Callable[[os.stat_result], None] | None = None) -> tuple[bytes, os.stat_result]:
    """The bytes and fstat of regular file ``name`` in the directory, opened without following a link.

    ``check`` sees the fstat of the opened file (the file actually read, not a name looked up earlier) and
    may raise to refuse it. A link raises LinkInPath(name); a directory IsADirectoryError; anything else that
    is not a regular file (a FIFO, a device) OSError(EINVAL).
    """
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LinkInPath(name) from None
        raise
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", name)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", name)
        if check is not None:
            check(info)
        chunks: list[bytes] = []
        size = 0
        while size < _MAX_READ:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks), info
    finally:
        os.close(fd)


def replace_at(dir_fd: int, name: str, data: bytes, mode: int) -> None:
    """Atomically put ``data`` at ``name`` in the directory with permission bits ``mode``.

    The temp file is made in the held directory (unnamed while written where the filesystem allows, else with
    O_EXCL | O_NOFOLLOW: ``core.tempfiles``), fsync'd, renamed over ``name`` within that directory, and the
    directory fsync'd: readers see the old or the new file, never a torn one, and a kill leaves no temp file.
    """
    tmp = write_temp(dir_fd, name, data, mode)
    try:
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    with contextlib.suppress(OSError):  # a filesystem that refuses to fsync a directory is ignored
        os.fsync(dir_fd)


def unlink_at(dir_fd: int, name: str) -> None:
    """Remove the entry ``name`` from the directory (a link itself, never what it points to)."""
    os.unlink(name, dir_fd=dir_fd)
