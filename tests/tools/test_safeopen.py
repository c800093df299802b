"""Opening beneath a directory with no link followed: openat2 where the kernel has it, the walk where it does not."""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from v4agent.tools import safeopen
from v4agent.tools.safeopen import LinkInPath, NotADir, open_dir, opened_root, read_at, replace_at


@pytest.fixture(params=["openat2", "fallback"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    monkeypatch.setattr(safeopen, "_openat2_state", None)
    calls: list[int] = []
    real = safeopen._syscall

    def spy(*args: object) -> int:
        calls.append(1)
        if request.param == "fallback" or real is None:
            ctypes.set_errno(errno.ENOSYS)  # what a kernel older than 5.6 answers
            return -1
        return real(*args)

    monkeypatch.setattr(safeopen, "_syscall", spy)
    with opened_root(tmp_path) as fd:
        available = safeopen.openat2_available(fd)
    if request.param == "openat2" and not available:
        pytest.skip("this kernel has no openat2")
    yield request.param
    assert calls  # the probe ran (and, with openat2, the opens went through it)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f.txt").write_text("inside\n")
    (root / "file.txt").write_text("x\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "f.txt").write_text("outside\n")
    os.symlink(tmp_path / "outside", root / "out")
    os.symlink("a", root / "inner")
    os.symlink("b/f.txt", root / "a" / "link.txt")
    return root


def test_probe_falls_back_on_enosys(mode: str, tree: Path) -> None:
    with opened_root(tree) as fd:
        assert safeopen.openat2_available(fd) == (mode == "openat2")


@pytest.mark.parametrize(("rel", "link"), [("out", "out"), ("out/x", "out"), ("inner/b", "inner")])
def test_a_link_at_any_component_is_refused(mode: str, tree: Path, rel: str, link: str) -> None:
    with opened_root(tree) as root_fd, pytest.raises(LinkInPath) as caught:
        open_dir(root_fd, rel)
    assert caught.value.rel == link


def test_directories_open_and_are_created(mode: str, tree: Path) -> None:
    with opened_root(tree) as root_fd:
        fd = open_dir(root_fd, "a/b")
        try:
            data, info = read_at(fd, "f.txt")
        finally:
            os.close(fd)
        assert data == b"inside\n"
        assert stat.S_ISREG(info.st_mode)
        with pytest.raises(FileNotFoundError):
            open_dir(root_fd, "new/dir")
        with pytest.raises(NotADir):
            open_dir(root_fd, "file.txt/x")
        os.close(open_dir(root_fd, "new/dir", create=True))
    assert (tree / "new" / "dir").is_dir()


def test_read_at_refuses_links_directories_and_fifos(mode: str, tree: Path) -> None:
    os.mkfifo(tree / "pipe")
    with opened_root(tree) as root_fd:
        fd = open_dir(root_fd, "a")
        try:
            with pytest.raises(LinkInPath):
                read_at(fd, "link.txt")
            with pytest.raises(IsADirectoryError):
                read_at(fd, "b")
        finally:
            os.close(fd)
        with pytest.raises(OSError, match="not a regular file"):
            read_at(root_fd, "pipe")  # opened without blocking, then refused


def test_replace_at_is_atomic_keeps_the_mode_and_leaves_no_temp_file(mode: str, tree: Path) -> None:
    (tree / "a" / "b" / "f.txt").chmod(0o750)
    with opened_root(tree) as root_fd:
        fd = open_dir(root_fd, "a/b")
        try:
            replace_at(fd, "f.txt", b"new\n", 0o750)
            os.link(tree / "a" / "b" / "f.txt", tree / "a" / "b" / "other.txt")
            replace_at(fd, "f.txt", b"newer\n", 0o644)  # a new inode: the other link keeps the old text
        finally:
            os.close(fd)
    assert (tree / "a" / "b" / "f.txt").read_text() == "newer\n"
    assert (tree / "a" / "b" / "other.txt").read_text() == "new\n"
    assert stat.S_IMODE((tree / "a" / "b" / "other.txt").stat().st_mode) == 0o750
    assert sorted(p.name for p in (tree / "a" / "b").iterdir()) == ["f.txt", "other.txt"]


def test_with_openat2_the_kernel_resolves_the_path(monkeypatch: pytest.MonkeyPatch, tree: Path) -> None:
    real = safeopen._syscall
    with opened_root(tree) as fd:
        if real is None or not safeopen.openat2_available(fd):
            pytest.skip("this kernel has no openat2")
    calls: list[bytes] = []

    def spy(number: object, dir_fd: object, path: ctypes.c_char_p, *rest: object) -> int:
        calls.append(path.value or b"")
        return real(number, dir_fd, path, *rest)

    monkeypatch.setattr(safeopen, "_syscall", spy)
    with opened_root(tree) as root_fd:
        os.close(open_dir(root_fd, "a/b"))
    assert calls == [b"a/b"]  # one call for the whole path, no walk
