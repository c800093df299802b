"""A whole-tree pack holds each file's text once at the end (its piece), not also the text it was read as: the
peak of Python allocations stays near two copies of the output (the pieces, then the joined text)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from tests.conftest import make_git_repo
from v4agent.pack import PackOptions, Snapshot


def test_whole_tree_pack_peak_is_about_two_copies_of_its_text(tmp_path: Path) -> None:
    line = "value = compute(alpha, beta, gamma)  # a plain line of code\n"
    files = {f"pkg{i % 4}/m{i}.txt": f"# file {i}\n" + line * 2000 for i in range(40)}  # ~4.8 MB in all
    root = make_git_repo(tmp_path / "repo", files)
    Snapshot.build(root, PackOptions(tokenizer="o200k", budget=None), track_changes=False)  # warm: imports, caches
    tracemalloc.start()
    try:
        snap = Snapshot.build(root, PackOptions(tokenizer="o200k", budget=None), track_changes=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = len(snap.text)
    assert size > sum(map(len, files.values()))
    assert peak < 2.5 * size, f"peak {peak:,} bytes for a {size:,}-byte pack"
