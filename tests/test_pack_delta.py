"""Snapshot.delta's change detection: size or mtime, new files in new directories, edits plus additions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import make_git_repo
from v4agent.pack import PackOptions, Snapshot
from v4agent.tokenizer import get_tokenizer


def test_same_mtime_other_size_is_a_change(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.py": "A = 1\n", "b.py": "B = 2\n"})
    snap = Snapshot.build(root, PackOptions())
    before = os.lstat(root / "a.py")
    (root / "a.py").write_text("A = 12345\n")
    os.utime(root / "a.py", ns=(before.st_atime_ns, before.st_mtime_ns))  # an edit within one clock tick
    assert snap.delta().paths == ("a.py",)


def test_edit_and_additions_in_one_block(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"pkg/a.py": "A = 1\n", "pkg/b.py": "B = 2\n"})
    snap = Snapshot.build(root, PackOptions(fmt="markdown"))
    (root / "pkg/a.py").write_text("A = 'edited'\n")
    (root / "pkg/sub/deep").mkdir(parents=True)
    (root / "pkg/sub/deep/c.py").write_text("C = 'added'\n")
    (root / "top.py").write_text("T = 'added'\n")
    block = snap.delta()
    assert block.paths == ("pkg/a.py", "pkg/sub/deep/c.py", "top.py")
    assert block.text.index("pkg/a.py") < block.text.index("pkg/sub/deep/c.py") < block.text.index("top.py")
    assert "'edited'" in block.text and "C = 'added'" in block.text and "T = 'added'" in block.text
    assert block.tokens == get_tokenizer().count(block.text)


def test_a_one_shot_pack_is_the_same_text_and_refuses_a_delta(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.py": "A = 1\n", "docs/b.md": "# B\n"})
    tracked = Snapshot.build(root, PackOptions())
    once = Snapshot.build(root, PackOptions(), track_changes=False)
    assert once.text == tracked.text and once.files == tracked.files and once.token_count == tracked.token_count
    (root / "a.py").write_text("A = 2\n")
    assert tracked.delta().paths == ("a.py",)
    with pytest.raises(ValueError, match="track_changes=False"):
        once.delta()
