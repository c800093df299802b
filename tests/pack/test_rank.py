"""Ranking: PageRank over the symbol graph, with IDF weights, focus and deterministic ties."""

from __future__ import annotations

import math
import random

import pytest

from v4agent.pack.rank import pagerank as rank_module
from v4agent.pack.rank.pagerank import focus_weights, order_by_rank, rank_files
from v4agent.pack.rank.symbols import FileSymbols, extract_symbols


def fs(defines: tuple[str, ...] = (), references: tuple[str, ...] = ()) -> FileSymbols:
    return FileSymbols(tuple(sorted(defines)), tuple(sorted(references)))


def test_empty() -> None:
    assert rank_files({}) == {}


def test_hub_ranks_first_and_scores_sum_to_one() -> None:
    symbols = {
        "core/models.py": fs(("Model", "Field")),
        "app/a.py": fs(("view_a",), ("Model", "Field")),
        "app/b.py": fs(("view_b",), ("Model",)),
        "app/c.py": fs(("view_c",), ("Field", "view_a")),
        "docs/readme.md": fs(),
    }
    ranks = rank_files(symbols)
    assert set(ranks) == set(symbols)
    assert math.isclose(sum(ranks.values()), 1.0, rel_tol=1e-9)
    assert next(iter(ranks)) == "core/models.py"
    # a file that only refers to others gets no more than the restart share
    assert ranks["app/a.py"] > ranks["app/b.py"]
    # the returned dict is ordered by descending score
    values = list(ranks.values())
    assert values == sorted(values, reverse=True)


def test_ties_break_by_path_and_input_order_does_not_matter() -> None:
    names = ["z.txt", "a.txt", "m/b.txt", "m/a.txt"]
    ranks = rank_files({n: fs() for n in names})
    assert list(ranks) == sorted(names)
    assert all(math.isclose(v, 0.25) for v in ranks.values())
    symbols = {
        "x.py": fs(("Alpha",), ("Beta",)),
        "y.py": fs(("Beta",), ("Alpha",)),
        "w.py": fs((), ("Alpha", "Beta")),
    }
    forward = rank_files(symbols)
    backward = rank_files(dict(reversed(list(symbols.items()))))
    assert list(forward) == list(backward) == ["x.py", "y.py", "w.py"]
    assert forward == backward


def test_common_names_weigh_less_than_unique_ones() -> None:
    symbols = {
        "caller.py": fs((), ("save", "UniqueThing")),
        "unique.py": fs(("UniqueThing",)),
        "lonely.py": fs(),
        **{f"common{i}.py": fs(("save",)) for i in range(5)},
    }
    ranks = rank_files(symbols)
    # what each file gains over an unlinked one is its share of the caller's links
    floor = ranks["lonely.py"]
    assert ranks["common0.py"] > floor
    assert ranks["unique.py"] - floor > 5 * (ranks["common0.py"] - floor)


def test_names_do_not_link_across_languages() -> None:
    symbols = {
        "server.py": fs((), ("renderChart",)),
        "static/chart.js": fs(("renderChart",)),
        "static/app.ts": fs((), ("renderChart",)),
        "other.py": fs(),
    }
    ranks = rank_files(symbols)
    # only the TypeScript caller (same family) lifts the JS file above the unlinked ones
    assert ranks["static/chart.js"] > ranks["other.py"]
    assert ranks["server.py"] == pytest.approx(ranks["other.py"])
    alone = rank_files({k: v for k, v in symbols.items() if k != "static/app.ts"})
    assert alone["static/chart.js"] == pytest.approx(alone["other.py"])


@pytest.mark.parametrize("focus", [("pkg/feature.py",), ("pkg/feature.py/",), ("./pkg",), ("pkg/*.py",), ("feature.py",),
                                   ("FeatureFlag",), ("FEATURE",)])
def test_focus_lifts_matching_files(focus: tuple[str, ...]) -> None:
    symbols = {
        "core/base.py": fs(("Base",)),
        "pkg/feature.py": fs(("FeatureFlag",), ("Base",)),
        "app/a.py": fs((), ("Base",)),
        "app/b.py": fs((), ("Base",)),
    }
    plain = rank_files(symbols)
    focused = rank_files(symbols, focus)
    assert focused["pkg/feature.py"] > plain["pkg/feature.py"]
    assert next(iter(focused)) == "pkg/feature.py"
    assert math.isclose(sum(focused.values()), 1.0, rel_tol=1e-9)


def test_focus_without_match_changes_nothing() -> None:
    symbols = {"a.py": fs(("Alpha",)), "b.py": fs((), ("Alpha",))}
    assert rank_files(symbols, ("nothing-matches-this",)) == rank_files(symbols)
    assert rank_files(symbols, ("", "  ")) == rank_files(symbols)


def test_focus_weights() -> None:
    symbols = {"src/auth/login.py": fs(("LoginView",)), "src/db.py": fs(("Session",)), "README.md": fs()}
    paths = sorted(symbols)
    assert focus_weights(paths, symbols, ["src/auth"]) == {"src/auth/login.py": 1.0}
    assert focus_weights(paths, symbols, ["Session"]) == {"src/db.py": 1.0}
    assert focus_weights(paths, symbols, ["*.md"]) == {"README.md": 1.0}
    assert focus_weights(paths, symbols, ["login"]) == {"src/auth/login.py": 0.5}


def test_order_by_rank() -> None:
    assert order_by_rank({"b": 0.5, "a": 0.5, "c": 0.9}) == ["c", "a", "b"]


def test_real_sources_end_to_end() -> None:
    sources = {
        "shop/models.py": "class Product:\n    def price_with_tax(self): ...\nclass Order:\n    pass\n",
        "shop/views.py": "from shop.models import Product, Order\ndef list_products():\n    return Product()\n",
        "shop/api.py": "from shop.models import Order\ndef create_order():\n    return Order()\n",
        "shop/cart.py": "from shop.models import Product\ndef total(p):\n    return p.price_with_tax()\n",
        "scripts/seed.py": "def seed_data():\n    print('hi')\n",
    }
    symbols = {path: extract_symbols(path, text) for path, text in sources.items()}
    ranks = rank_files(symbols)
    assert next(iter(ranks)) == "shop/models.py"
    assert ranks["shop/models.py"] > 2 * ranks["scripts/seed.py"]


def _graph_by_loops(paths: list[str], symbols: dict[str, FileSymbols]) -> tuple[tuple[list[int], list[int],
                                                                                     list[float]], list[float]]:
    """The graph as plain loops: every definer of every referenced name, the shares added in reference order."""
    n = len(paths)
    family = [rank_module._family(p) for p in paths]
    definers: dict[tuple[str, str], list[int]] = {}
    for i, p in enumerate(paths):
        for name in symbols[p].defines:
            definers.setdefault((family[i], name), []).append(i)
    edges: tuple[list[int], list[int], list[float]] = ([], [], [])
    out_weight = [0.0] * n
    for src, p in enumerate(paths):
        out: dict[int, float] = {}
        for name in symbols[p].references:
            targets = definers.get((family[src], name), [])
            if 0 < len(targets) <= rank_module._MAX_DEFINERS:
                share = math.log(1.0 + n / len(targets)) / len(targets)
                for dst in targets:
                    if dst != src:
                        out[dst] = out.get(dst, 0.0) + share
        for dst in sorted(out):
            edges[0].append(src)
            edges[1].append(dst)
            edges[2].append(out[dst])
        out_weight[src] = math.fsum(out.values())
    return edges, out_weight


@pytest.mark.parametrize("seed", range(6))
def test_the_graph_is_the_same_bits_as_plain_loops(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    if seed % 2:
        monkeypatch.setattr(rank_module, "_MAX_DEFINERS", 3)  # names over the cap link nothing
    rng = random.Random(seed)
    names = [f"name{i}" for i in range(60)]
    exts = [".py", ".py", ".js", ".go", ".txt"]
    symbols = {}
    for i in range(rng.randrange(1, 120)):
        symbols[f"f{i:03}{rng.choice(exts)}"] = FileSymbols(
            tuple(sorted(set(rng.sample(names, rng.randrange(0, 6))))),
            tuple(sorted(set(rng.sample(names, rng.randrange(0, 25))))))
    paths = sorted(symbols)
    edges, out_weight = rank_module._graph(paths, symbols)
    assert (tuple(a.tolist() for a in edges), out_weight) == _graph_by_loops(paths, symbols)


def _graph_by_reference(paths: list[str], symbols: dict[str, FileSymbols]) -> dict[tuple[int, int], float]:
    """The graph's rule, one reference at a time: each linking name adds its share to every (source, definer)
    edge, in the source's reference order."""
    families = [rank_module._family(p) for p in paths]
    definers: dict[tuple[str, str], list[int]] = {}
    for i, p in enumerate(paths):
        for name in symbols[p].defines:
            definers.setdefault((families[i], name), []).append(i)
    n, edges = len(paths), {}
    for i, p in enumerate(paths):
        for name in symbols[p].references:
            found = definers.get((families[i], name))
            if not found or len(found) > rank_module._MAX_DEFINERS:
                continue
            for j in found:
                if j != i:
                    edges[i, j] = edges.get((i, j), 0.0) + math.log(1.0 + n / len(found)) / len(found)
    return edges


@pytest.mark.parametrize("seed", range(4))
def test_the_graph_has_the_same_bits_as_the_rule_one_reference_at_a_time(seed: int) -> None:
    rng = random.Random(seed)
    names = [f"n{k}" for k in range(60)] + ["common"]
    exts = [".py", ".js", ".ts", ".c", ".h", ".go", ".txt"]
    symbols: dict[str, FileSymbols] = {}
    for i in range(300):
        defines = tuple(rng.choice(names) for _ in range(rng.randint(0, 6))) + (("common",) if i % 2 else ())
        references = tuple(rng.choice(names) for _ in range(rng.randint(0, 30)))  # repeats, in no order
        symbols[f"d{i % 7}/f{i:03}{rng.choice(exts)}"] = FileSymbols(defines, references)
    paths = sorted(symbols)
    (sources, destinations, weights), out_weight = rank_module._graph(paths, symbols)
    expected = _graph_by_reference(paths, symbols)
    got = dict(zip(zip(sources.tolist(), destinations.tolist(), strict=True), weights.tolist(), strict=True))
    assert list(got) == sorted(expected)
    assert got == expected  # exact floats: the same adds in the same order
    assert out_weight == [math.fsum(w for (s, _), w in expected.items() if s == i) for i in range(len(paths))]


@pytest.mark.parametrize("seed", range(3))
def test_the_quick_convergence_check_agrees_with_the_exact_sum(seed: int) -> None:
    import numpy as np

    rng = random.Random(seed)
    for _ in range(300):
        terms = np.asarray([rng.random() * 10.0 ** -rng.randint(5, 12) for _ in range(rng.randint(0, 3000))])
        exact = math.fsum(terms.tolist())
        # Limits at, just around and far from the exact sum: the answer is always fsum's.
        for limit in (exact, math.nextafter(exact, 0.0), math.nextafter(exact, 1.0), exact * (1 + 1e-7),
                      exact * (1 - 1e-7), exact * 2, exact / 2, 1e-6):
            assert rank_module._below(terms, limit) == (exact < limit)


@pytest.mark.parametrize("high", [50, 1 << 20, 1 << 45])  # the last: no room to pack the position, a stable argsort
def test_grouping_is_a_stable_sort_whatever_the_key_size(high: int) -> None:
    import numpy as np

    rng = np.random.default_rng(high)
    keys = rng.integers(0, high, size=5000).astype(np.intp)
    keys[::7] = keys[0]  # many equal keys: their order must be kept
    distinct, where, order = rank_module._grouped(keys)
    assert order.tolist() == np.argsort(keys, kind="stable").tolist()
    assert distinct.tolist() == np.unique(keys).tolist()
    assert distinct[where].tolist() == keys[order].tolist()


def test_a_file_that_only_refers_to_its_own_names_links_nothing() -> None:
    scores = rank_module.rank_files({"a.py": FileSymbols(("foo_bar",), ("foo_bar",)), "b.py": FileSymbols()})
    assert list(scores) == ["a.py", "b.py"]
    assert scores["a.py"] == scores["b.py"] == 0.5
