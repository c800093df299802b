"""The pack build's collaborators, each on its own: cache keys, file reading, scans, counts, ranking, intake."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_git_repo
from v4agent.pack.options import PackError, PackOptions
from v4agent.pack.select.analyze import Analysis
from v4agent.pack.select.discover import Entry, git_blob_sha
from v4agent.pack.work.buildcache import BuildCache
from v4agent.pack.work.factcache import FactCache, FactKind, count_key, fact_key
from v4agent.pack.work.item import FileReader, Item
from v4agent.pack.work.packrun import PackRun

SECRET = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"


def test_fact_keys_keep_the_bytes_the_cache_stored_before_the_kinds_had_names() -> None:
    assert {kind.value for kind in FactKind} == {"a", "b", "k", "r", "s", "y"}
    for kind in FactKind:
        assert fact_key(kind, "src/m.py", "abc") == f"{kind.value}\0src/m.py\0abc"
    assert fact_key(FactKind.RANKING, "", "d1") == "r\0\0d1"
    assert count_key("deepseek-v4", "xml", "full", "m.py", "b") == "deepseek-v4\0xml\0full\0m.py\0b"


def test_a_fact_cache_keeps_facts_and_counts_across_opens(tmp_path: Path) -> None:
    cache = FactCache.open(tmp_path)
    cache.put_fact(fact_key(FactKind.SCAN, "m.py", "b"), "[]")
    cache.put_count("k", 7)
    cache.close()
    again = FactCache.open(tmp_path)
    try:
        assert again.fact(fact_key(FactKind.SCAN, "m.py", "b")) == "[]"
        assert again.fact(fact_key(FactKind.SYMBOLS, "m.py", "b")) is None
        assert again.count("k") == 7
    finally:
        again.close()


def test_the_build_cache_keys_counts_for_its_tokenizer_and_format() -> None:
    cache = BuildCache(FactCache(None), "o200k", "markdown")
    assert cache.count_key("skeleton", "m.py", "b") == count_key("o200k", "markdown", "skeleton", "m.py", "b")
    cache.put_fact(FactKind.SKELETON, "m.py", "b", "null")
    assert cache.store.fact(fact_key(FactKind.SKELETON, "m.py", "b")) == "null"
    assert cache.fact(FactKind.SKELETON, "m.py", "b") == "null"
    cache.prefetch(FactKind.ANALYSIS, [Entry("new.py", "file", blob=None)])  # no blob: nothing to look up


def _item(root: Path, path: str, text: str) -> Item:
    (root / path).write_text(text, encoding="utf-8")
    entry = Entry(path, "file", size=len(text))
    return Item(entry, git_blob_sha(text.encode()), Analysis(None, None), "python")


def test_the_reader_reads_once_and_refuses_a_file_changed_since_its_analysis(tmp_path: Path) -> None:
    reader = FileReader(tmp_path, 1000)
    item = _item(tmp_path, "m.py", "x = 1\n")
    assert reader.raw(item) == "x = 1\n"
    (tmp_path / "m.py").write_text("x = 2\n", encoding="utf-8")
    assert reader.raw(item) == "x = 1\n"  # read once
    changed = Item(item.entry, item.blob, item.analysis, item.lang)
    with pytest.raises(PackError, match="changed while it was being packed"):
        reader.raw(changed)


def test_scans_are_done_once_and_cached_by_content(tmp_path: Path) -> None:
    run = PackRun(tmp_path, PackOptions(), FactCache(None))
    item = _item(tmp_path, "m.py", f'TOKEN = "{SECRET}"\n')
    assert run.scans.cached(item) is None  # not scanned, not cached
    found = run.findings(item)
    assert found
    assert item.analysis.findings == found
    again = Item(item.entry, item.blob, Analysis(None, None), "python")
    assert run.scans.cached(again) == found  # from the cache, no scan
    run.scans.scanned(again, ())  # a known scan is not replaced
    assert again.analysis.findings == found


def test_counts_come_from_the_cache_without_loading_the_tokenizer(tmp_path: Path) -> None:
    store = FactCache(None)
    run = PackRun(tmp_path, PackOptions(), store)
    item = _item(tmp_path, "m.py", "def f():\n    return 1\n")
    counted = run.counts("full", [item], run.full_piece)
    assert counted["m.py"] > 0
    assert run.count_texts(["header", "header"]) == run.count_texts(["header", "header"])
    cold = PackRun(tmp_path, PackOptions(tokenizer="no-such-tokenizer"), store)  # it would fail to load
    cold.cache.tokenizer = "deepseek-v4"  # the same keys as the first run's
    assert cold.counts("full", [item], cold.full_piece) == counted
    assert cold.count_texts(["header"]) == run.count_texts(["header"])


def test_the_ranking_is_cached_by_content_and_focus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"core.py": "def core():\n    return 1\n",
             "a.py": "from core import core\n\ndef a():\n    return core()\n",
             "b.py": "from core import core\n\ndef b():\n    return core()\n"}
    root = make_git_repo(tmp_path / "repo", files)
    store = FactCache(None)
    run = PackRun(root, PackOptions(), store)
    items = [_item(root, path, text) for path, text in files.items()]
    order = run.ascending(items)
    assert sorted(order) == sorted(files)
    assert order[-1] == "core.py"
    assert set(run.ranking.edits) == set(files)  # the parse's skeleton edits, kept for the fit
    again = PackRun(root, PackOptions(), store)

    def no_parse(*args: object) -> list[object]:
        raise AssertionError("a cached order parses nothing")

    monkeypatch.setattr(again.workers.pool, "map", no_parse)
    assert again.ascending(items) == order
    assert PackRun(root, PackOptions(focus=("a.py",)), store).ascending(items)[-1] == "a.py"


@pytest.mark.parametrize("secrets", ["redact", "skip"])
def test_intake_keeps_what_the_options_allow(tmp_path: Path, secrets: str) -> None:
    files = {"ok.py": "x = 1\n", "big.py": "y = 2\n" * 100, "key.py": f'TOKEN = "{SECRET}"\n',
             "package-lock.json": "{}\n"}
    root = make_git_repo(tmp_path / "repo", files)
    run = PackRun(root, PackOptions(max_file_bytes=200, secrets=secrets), FactCache(None))
    entries = [Entry(path, "file", size=len(text)) for path, text in sorted(files.items())]
    advanced: list[int] = []
    items = run.analyse(entries, advanced.append)
    kept = {it.path for it in items}
    skipped = {s.path: s.reason for s in run.skipped}
    assert "ok.py" in kept
    assert "big.py" in skipped
    assert "package-lock.json" in skipped
    assert ("key.py" in kept) == (secrets == "redact")
    assert skipped.get("key.py", "").startswith("contains 1 secret") == (secrets == "skip")
    assert sum(advanced) == 2  # the files read: neither the lockfile nor the one over the size limit
