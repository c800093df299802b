"""The inotify watch past the per-user watch limit: no watch (every file's lstat instead), the same deltas, and
one notice per process. The limit is lowered through the ``watch_limit`` seam, never the real sysctl."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from tests.conftest import make_git_repo
from v4agent.pack import PackOptions, Snapshot
from v4agent.pack import watch as watch_module
from v4agent.pack.watch import DirWatch, watch_limit

TREE = {"a.py": "A = 1\n", "pkg/b.py": "B = 2\n", "pkg/sub/c.py": "C = 3\n", "docs/d.md": "# d\n"}


def _inotify_available() -> bool:
    probe = DirWatch.start([])
    if probe is None:
        return False
    probe.close()
    return True


pytestmark = pytest.mark.skipif(not _inotify_available(), reason="inotify is not available here")


@pytest.fixture
def notices(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    said: list[str] = []
    monkeypatch.setattr(watch_module, "_said", set())
    monkeypatch.setattr(watch_module, "report", said.append)
    return said


def test_the_real_limit_is_read() -> None:
    limit = watch_limit()
    assert limit is not None
    assert limit > 0


def test_under_the_limit_the_repository_is_watched(tmp_path: Path, notices: list[str]) -> None:
    snap = Snapshot.build(make_git_repo(tmp_path / "repo", TREE), PackOptions())
    assert snap._watch is not None
    assert notices == []
    snap.close()


def test_past_the_limit_no_watch_same_delta_one_notice(tmp_path: Path, notices: list[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_git_repo(tmp_path / "repo", TREE)
    monkeypatch.setattr(watch_module, "watch_limit", lambda: 5)  # 4 directories > three quarters of 5
    first = Snapshot.build(root, PackOptions())
    second = Snapshot.build(root, PackOptions())
    assert first._watch is None
    assert second._watch is None
    assert len(notices) == 1  # said once per process, not per snapshot
    assert "4 directories" in notices[0]
    assert "max_user_watches" in notices[0]
    (root / "pkg/sub/c.py").write_text("C = 'edited'\n")
    (root / "pkg/new.py").write_text("N = 1\n")
    block = first.delta()
    assert block.paths == ("pkg/new.py", "pkg/sub/c.py")
    assert "'edited'" in block.text


def test_enospc_from_the_kernel_degrades_the_same_way(tmp_path: Path, notices: list[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Other watchers used the limit up: add_watch fails with ENOSPC (inotify_add_watch(2)) part way."""
    from inotify_simple import INotify

    real_add = INotify.add_watch
    added: list[int] = []

    def add_watch(self: INotify, path: str, mask: int) -> int:
        if added:
            raise OSError(errno.ENOSPC, "No space left on device")
        added.append(1)
        return int(real_add(self, path, mask))

    monkeypatch.setattr(INotify, "add_watch", add_watch)
    root = make_git_repo(tmp_path / "repo", TREE)
    snap = Snapshot.build(root, PackOptions())
    assert snap._watch is None
    assert len(notices) == 1
    (root / "a.py").write_text("A = 'edited'\n")
    assert snap.delta().paths == ("a.py",)


def test_the_notice_reaches_stderr_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(watch_module, "_said", set())
    monkeypatch.setattr(watch_module, "watch_limit", lambda: 2)
    root = make_git_repo(tmp_path / "repo", TREE)
    Snapshot.build(root, PackOptions())
    Snapshot.build(root, PackOptions())
    err = capsys.readouterr().err
    assert err.count("inotify watch limit") == 1
