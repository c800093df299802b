"""A cache opened with no fact stored skips every lookup, and still answers what this run stored."""

from __future__ import annotations

from pathlib import Path

from v4agent.pack.work.factcache import FactCache, FactKind, fact_key


def test_a_cold_cache_answers_this_runs_facts_and_the_next_run_finds_them(tmp_path: Path) -> None:
    key, other = fact_key(FactKind.SYMBOLS, "a.py", "1" * 40), fact_key(FactKind.SYMBOLS, "b.py", "2" * 40)
    cold = FactCache.open(tmp_path)
    cold.prefetch([key, other])
    assert cold.fact(key) is None
    cold.put_fact(key, "stored")
    assert cold.fact(key) == "stored"
    assert cold.fact(other) is None
    cold.close()
    warm = FactCache.open(tmp_path)
    warm.prefetch([key, other])
    assert warm.fact(key) == "stored"
    assert warm.fact(other) is None
    warm.close()


def test_fact_keys_are_the_letter_path_and_blob() -> None:
    for kind in FactKind:
        key = fact_key(kind, "dir/a b.py", "f" * 40)
        assert key == f"{kind.value}\0dir/a b.py\0{'f' * 40}"
        assert type(key) is str
