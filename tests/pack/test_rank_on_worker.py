"""After a survey on the workers, the PageRank runs on a worker forked with the symbols in its memory, while the
main process counts the tree: the pack must be the very one the main process ranks itself."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from tests.conftest import make_git_repo
from tests.pack.test_pool import _sources
from v4agent.pack import PackOptions, Snapshot
from v4agent.pack.rank import pagerank as pagerank_module
from v4agent.pack.rank.symbols import FileSymbols
from v4agent.pack.work import packrun as packrun_module
from v4agent.pack.work import ranking as ranking_module
from v4agent.pack.work.item import Item
from v4agent.pack.work.pool import FilePool


def _recording_ranks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pids that ran ``rank_files`` in this process (a forked worker appends to its own copy of the list)."""
    pids: list[int] = []
    rank_files = pagerank_module.rank_files

    def recording(symbols: Mapping[str, FileSymbols], focus: Sequence[str] = ()) -> dict[str, float]:
        pids.append(os.getpid())
        return rank_files(symbols, focus)

    monkeypatch.setattr(pagerank_module, "rank_files", recording)
    return pids


def test_a_worker_ranks_while_the_tree_is_counted_and_the_pack_is_the_same(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    if not FilePool().parallel:
        pytest.skip("the ranking runs on a worker: needs two cores and fork")
    root = make_git_repo(tmp_path / "one", _sources(60))
    copy = tmp_path / "two"
    shutil.copytree(root, copy)
    options = PackOptions(budget=1500)
    events: list[str] = []
    count_texts, ascending = packrun_module.PackRun.count_texts, packrun_module.PackRun.ascending

    def counting(self: packrun_module.PackRun, texts: list[str]) -> list[int]:
        events.append("count tree, ranking on a worker" if self.ranking.started else "count tree")
        return count_texts(self, texts)

    def ranked(self: packrun_module.PackRun, items: list[Item]) -> list[str]:
        events.append("ranked")
        return ascending(self, items)

    monkeypatch.setattr(packrun_module.PackRun, "count_texts", counting)
    monkeypatch.setattr(packrun_module.PackRun, "ascending", ranked)
    in_main = _recording_ranks(monkeypatch)
    on_worker = Snapshot.build(root, options, track_changes=False)
    assert events[:2] == ["count tree, ranking on a worker", "ranked"]
    assert in_main == []  # ranked, but not here
    assert not ranking_module._INHERITED  # nothing left behind for later forks

    monkeypatch.setattr(ranking_module.Ranking, "start", lambda self, items, idle: None)
    events.clear()
    inline = Snapshot.build(copy, options, track_changes=False)
    assert in_main == [os.getpid()]
    assert events[:1] == ["ranked"]
    assert on_worker.text == inline.text
    assert [(f.path, f.mode, f.tokens) for f in on_worker.files] == [(f.path, f.mode, f.tokens) for f in inline.files]


def test_a_cached_ranking_starts_no_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second cold build of the same contents (the survey's facts gone, the ranking cached) ranks nowhere."""
    root = make_git_repo(tmp_path / "repo", _sources(60))
    first = Snapshot.build(root, PackOptions(budget=1500), track_changes=False)
    in_main = _recording_ranks(monkeypatch)
    started: list[bool] = []
    start = ranking_module.Ranking.start

    def spying(self: ranking_module.Ranking, items: list[Item], idle: bool) -> None:
        start(self, items, idle)
        started.append(self.started)

    monkeypatch.setattr(ranking_module.Ranking, "start", spying)
    again = Snapshot.build(root, PackOptions(budget=1500, tokenizer="o200k"), track_changes=False)
    assert in_main == []
    assert started == [False]
    assert [f.path for f in again.files] == [f.path for f in first.files]


def test_a_ranking_that_still_holds_is_found_once_and_ranks_nowhere(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file edited inside a comment (new contents, the same symbols): the survey runs again, the last
    ranking holds, and the pack is the one a fresh ranking gives."""
    if not FilePool().parallel:
        pytest.skip("the survey runs on workers: needs two cores and fork")
    root = make_git_repo(tmp_path / "one", _sources(60))
    Snapshot.build(root, PackOptions(budget=1500), track_changes=False)
    for path in root.joinpath("pkg").glob("*.py"):
        path.write_text(path.read_text() + "# touched\n")
    fresh = tmp_path / "two"
    shutil.copytree(root, fresh, ignore=shutil.ignore_patterns(".v4agent"))
    reuses: list[int] = []
    same_symbols = ranking_module.Ranking._same_symbols

    def counting(self: ranking_module.Ranking, items: list[Item], focus: str) -> list[str] | None:
        found = same_symbols(self, items, focus)
        reuses.append(found is not None)
        return found

    monkeypatch.setattr(ranking_module.Ranking, "_same_symbols", counting)
    in_main = _recording_ranks(monkeypatch)
    reused = Snapshot.build(root, PackOptions(budget=1500), track_changes=False)
    assert reuses == [True]  # asked by ``start`` only: ``ascending`` took its answer
    assert in_main == []
    reuses.clear()
    monkeypatch.setattr(ranking_module.Ranking, "start", lambda self, items, idle: None)
    assert Snapshot.build(fresh, PackOptions(budget=1500), track_changes=False).text == reused.text
    assert in_main == [os.getpid()]
