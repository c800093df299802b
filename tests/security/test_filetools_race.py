"""A directory swapped with a link to outside, over and over, while the model reads and writes through it.

The swapping thread exchanges ``repo/d`` (a real directory) and ``repo/swap`` (a symlink to a directory
outside) with renameat2(RENAME_EXCHANGE), or with plain renames where that call is missing. 300 write_file and
300 read_file calls go through the real dispatcher meanwhile: none may write outside or read the outside
canary, with openat2 and with the per-component fallback that a kernel without it gets.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import make_git_repo
from v4agent.tools import safeopen
from v4agent.tools.registry import ToolContext, run_tool

CALLS = 300
CANARY = "CANARY-outside-the-repository"
_RENAME_EXCHANGE = 2  # renameat2(2)
_AT_FDCWD = -100


def _exchange() -> Callable[[str, str], None] | None:
    """renameat2(RENAME_EXCHANGE) through libc, or None where libc or the kernel lacks it."""
    try:
        call = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None

    def exchange(a: str, b: str) -> None:
        if call(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))

    return exchange


class Swapper(threading.Thread):
    """Keeps exchanging a real directory and a symlink to outside until stopped."""

    def __init__(self, real: Path, link: Path) -> None:
        super().__init__(daemon=True)
        self.real, self.link = str(real), str(link)
        self.hold = self.real + ".hold"
        self.stop = threading.Event()
        self.swaps = 0
        self.exchange = _exchange()

    def _step(self) -> None:
        if self.exchange is not None:
            try:
                self.exchange(self.real, self.link)
                return
            except OSError as exc:
                if exc.errno not in (errno.ENOSYS, errno.EINVAL):
                    raise
                self.exchange = None
        # Without RENAME_EXCHANGE: the link takes the directory's name for a moment, then they swap back.
        os.rename(self.real, self.hold)
        os.rename(self.link, self.real)
        os.rename(self.real, self.link)
        os.rename(self.hold, self.real)

    def run(self) -> None:
        while not self.stop.is_set():
            self._step()
            self.swaps += 1


@pytest.fixture(params=["openat2", "fallback"])
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Run the test with openat2 (skipped where the kernel lacks it) or with a kernel that answers ENOSYS."""
    monkeypatch.setattr(safeopen, "_openat2_state", None)
    if request.param == "fallback":
        def enosys(*_args: object) -> int:
            ctypes.set_errno(errno.ENOSYS)
            return -1

        monkeypatch.setattr(safeopen, "_syscall", enosys)
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        available = safeopen.openat2_available(fd)
    finally:
        os.close(fd)
    if request.param == "openat2" and not available:
        pytest.skip("this kernel has no openat2")
    assert available == (request.param == "openat2")
    return str(request.param)


@pytest.fixture
def arena(tmp_path: Path) -> Iterator[tuple[Path, Path, Swapper]]:
    repo = make_git_repo(tmp_path / "repo", {"d/f.txt": "inside\n", "README.md": "# r\n"})
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f.txt").write_text(CANARY + "\n")
    os.symlink(outside, repo / "swap")
    swapper = Swapper(repo / "d", repo / "swap")
    swapper.start()
    try:
        yield repo, outside, swapper
    finally:
        swapper.stop.set()
        swapper.join(timeout=30)
    assert not swapper.is_alive()


def test_no_write_or_read_escapes_while_a_link_is_swapped_in(resolver: str,
                                                            arena: tuple[Path, Path, Swapper]) -> None:
    repo, outside, swapper = arena
    ctx = ToolContext(repo, approve="yes")
    leaked: list[str] = []
    outcomes = {"ok": 0, "refused": 0}
    for i in range(CALLS):
        write = run_tool(ctx, "write_file", json.dumps({"path": "d/w.txt", "content": f"written {i}\n"}))
        read = run_tool(ctx, "read_file", json.dumps({"path": "d/f.txt"}))
        if CANARY in read.content:
            leaked.append(read.content)
        for result in (write, read):
            outcomes["ok" if result.ok else "refused"] += 1
    swapper.stop.set()
    swapper.join(timeout=30)
    assert swapper.swaps > 0
    assert sorted(p.name for p in outside.iterdir()) == ["f.txt"]  # no write, no temp file left outside
    assert (outside / "f.txt").read_text() == CANARY + "\n"
    assert leaked == []
    assert sum(outcomes.values()) == 2 * CALLS


def _swap_once(real: Path, link: Path) -> None:
    """Give the directory's name to the link and the link's name to the directory."""
    hold = real.with_name(real.name + ".hold")
    os.rename(real, hold)
    os.rename(link, real)
    os.rename(hold, link)


@pytest.mark.parametrize(("tool", "args"), [
    ("write_file", {"path": "d/f.txt", "content": "changed\n"}),
    ("edit_file", {"path": "d/f.txt", "old_text": "inside", "new_text": "changed"}),
    ("delete_file", {"path": "d/f.txt"}),
])
def test_a_swap_while_the_user_approves_cannot_move_the_change(resolver: str, tmp_path: Path, tool: str,
                                                               args: dict[str, str]) -> None:
    """The widest window there is, hit every time: the link is swapped in while the approval prompt waits."""
    repo = make_git_repo(tmp_path / "repo", {"d/f.txt": "inside\n"})
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f.txt").write_text(CANARY + "\n")
    os.symlink(outside, repo / "swap")

    def ask(request: object) -> str:
        _swap_once(repo / "d", repo / "swap")
        return "yes"

    result = run_tool(ToolContext(repo, ask=ask), tool, json.dumps(args))  # type: ignore[arg-type]
    assert result.ok, result.content
    assert (repo / "d").is_symlink()  # the swap happened
    assert sorted(p.name for p in outside.iterdir()) == ["f.txt"]
    assert (outside / "f.txt").read_text() == CANARY + "\n"
    moved = repo / "swap" / "f.txt"  # the real directory, under the link's old name: the change landed there
    assert not moved.exists() if tool == "delete_file" else moved.read_text() == "changed\n"
