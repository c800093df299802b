"""A kill -9 during an atomic write leaves no temp file in the repository, and a stale one is swept, carefully.

The writer is a real child process that stalls inside the write (its ``fsync`` is made slow) and is killed with
SIGKILL there. The old writer left ``.<name>.<hex>.tmp`` beside the target for good.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, make_git_repo, run_cli

_WRITER = """
import os, sys, time
from pathlib import Path
real_fsync = os.fsync
def slow_fsync(fd):
    sys.stdout.write("in the write\\n"); sys.stdout.flush(); time.sleep(60)
os.fsync = slow_fsync
root, how, named = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "named"
if named:
    import v4agent.core.tempfiles as tempfiles
    tempfiles._link_works = False  # as on a filesystem without O_TMPFILE
data = b"new content\\n" * 100_000
if how == "tool":
    from v4agent.tools.safeopen import opened_root, replace_at
    with opened_root(root) as fd:
        replace_at(fd, "target.txt", data, 0o644)
else:
    from v4agent.core.fsutil import atomic_write_bytes
    atomic_write_bytes(root / "target.txt", data)
"""


def _kill_mid_write(root: Path, how: str, named: bool = False) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(root), how, "named" if named else "unnamed"],
                            stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"in the write\n"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()


def _untracked(root: Path) -> list[str]:
    out = subprocess.run(["git", "-C", str(root), "ls-files", "--others", "--exclude-standard", "-z"],
                         capture_output=True, text=True, check=True).stdout
    return [p for p in out.split("\0") if p]


@pytest.mark.parametrize("how", ["tool", "core"])
def test_a_kill_mid_write_leaves_the_old_file_and_no_stray_after_the_next_start(tmp_path: Path, how: str) -> None:
    root = make_git_repo(tmp_path / "repo", {"target.txt": "old content\n"})
    _kill_mid_write(root, how)
    assert (root / "target.txt").read_text() == "old content\n"  # never torn
    # The next start (here an offline refactor: no key, but it still starts) sweeps what a kill left.
    run_cli("refactor", str(root), "a task", env={"DEEPSEEK_API_KEY": ""}, timeout=300)
    assert _untracked(root) == []


def test_an_unnamed_temp_file_leaves_nothing_at_all(tmp_path: Path) -> None:
    from v4agent.core import tempfiles

    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if getattr(os, "O_TMPFILE", None) is None or tempfiles._open_unnamed(fd) is None:
            pytest.skip("no O_TMPFILE on this filesystem")
    finally:
        os.close(fd)
    root = make_git_repo(tmp_path / "repo", {"target.txt": "old content\n"})
    _kill_mid_write(root, "tool")
    assert sorted(p.name for p in root.iterdir()) == [".git", "target.txt"]


def test_a_named_temp_file_of_a_killed_writer_is_swept(tmp_path: Path) -> None:
    from v4agent.core.tempfiles import TEMP_PATTERN, sweep_repository

    root = make_git_repo(tmp_path / "repo", {"target.txt": "old content\n"})
    _kill_mid_write(root, "tool", named=True)
    (stray,) = _untracked(root)
    assert TEMP_PATTERN.match(stray)
    assert stray.startswith(".target.txt.")
    assert sweep_repository(root) == [stray]
    assert _untracked(root) == []
    assert (root / "target.txt").read_text() == "old content\n"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_sweep_touches_only_stale_files_of_our_own_pattern(tmp_path: Path) -> None:
    from v4agent.core.tempfiles import sweep, sweep_repository

    root = make_git_repo(tmp_path / "repo", {"a.txt": "a\n", "sub/b.txt": "b\n"})
    dead = _dead_pid()
    live = subprocess.Popen(["sleep", "60"])
    try:
        stale = [f".a.txt.{dead}-0123abcd.tmp", f"sub/.b.txt.{dead}-89abcdef.tmp"]
        reused = f".a.txt.{live.pid}-00000000.tmp"  # written before that pid's process started: pid reused
        in_flight = [f".a.txt.{live.pid}-11111111.tmp", f".a.txt.{os.getpid()}-22222222.tmp"]
        not_ours = [".a.txt.tmp", f".a.txt.{dead}.tmp", f"a.txt.{dead}-0123abcd.tmp",
                    f".a.txt.{dead}-0123ABCD.tmp", f".a.txt.{dead}-0123abcd.tmp.bak", "notes.tmp"]
        for rel in [*stale, reused, *in_flight, *not_ours]:
            (root / rel).write_text("x")
        old = time.time() - 3600
        os.utime(root / reused, (old, old))
        (root / f".dir.{dead}-33333333.tmp").mkdir()  # a directory of that name is not a temp file
        (root / f".dir.{dead}-33333333.tmp" / "keep").write_text("k")
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / f".x.{dead}-44444444.tmp").write_text("outside")
        (root / "linked").symlink_to(outside)  # a link to a directory is never followed
        (root / f".link.{dead}-55555555.tmp").symlink_to(root / "a.txt")  # a link is not a temp file
        removed = sorted(sweep_repository(root))
        assert removed == sorted([*stale, reused])
        assert sweep(root, [f"linked/.x.{dead}-44444444.tmp", f"../outside/.x.{dead}-44444444.tmp"]) == []
        assert (outside / f".x.{dead}-44444444.tmp").exists()
        for rel in [*in_flight, *not_ours, f".dir.{dead}-33333333.tmp/keep"]:
            assert (root / rel).exists(), rel
        assert (root / "a.txt").read_text() == "a\n"
    finally:
        live.kill()
        live.wait()


def test_stale_temps_in_the_state_directory_are_swept(tmp_path: Path) -> None:
    from v4agent.core.tempfiles import sweep_repository

    root = make_git_repo(tmp_path / "repo", {"a.txt": "a\n"})
    blobs = root / ".v4agent" / "sessions" / "blobs"
    blobs.mkdir(parents=True)
    stray = blobs / f".abc.txt.{_dead_pid()}-0123abcd.tmp"
    stray.write_text("half a blob")
    assert sweep_repository(root) == [stray.relative_to(root).as_posix()]
    assert not stray.exists()


def test_a_long_name_gets_a_temp_name_within_name_max() -> None:
    from v4agent.core.tempfiles import TEMP_PATTERN, temp_name

    for target in ("x" * 255, "é" * 127, "a.py"):
        name = temp_name(target)
        assert len(os.fsencode(name)) <= 255
        assert TEMP_PATTERN.match(name)
