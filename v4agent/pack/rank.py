"""Rank files by a symbol-reference graph (personalised PageRank), so that over budget the least
central files degrade first.

File A links to file B when A refers to names B defines; each shared name adds an IDF-like weight split
across all files defining it, so ubiquitous names (``save``, ``render``) barely move anything.  A ``focus``
(paths, globs or terms) tilts the random surfer's restart distribution toward the matching files.
Everything here is pure and deterministic: ties break by path.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from operator import mul, sub

from v4agent.pack.symbols import FileSymbols, language_for

__all__ = ["focus_weights", "order_by_rank", "rank_files"]

DAMPING = 0.85
# Share of the restart mass kept uniform when a focus matches, so unrelated files still get some rank.
_UNFOCUSED_SHARE = 0.15
# Names defined in more files than this say little about which file is meant; skip them (also bounds edges).
_MAX_DEFINERS = 40
_MAX_ITERATIONS = 100
# L1 change per iteration; 1e-6 already leaves the order of the top few hundred files settled.
_TOLERANCE = 1e-6


def rank_files(symbols: Mapping[str, FileSymbols], focus: Sequence[str] = ()) -> dict[str, float]:
    """PageRank-style score per file (sums to 1), keyed by path in descending score, ties by path."""
    paths = sorted(symbols)
    n = len(paths)
    if n == 0:
        return {}
    index = {p: i for i, p in enumerate(paths)}
    incoming, out_weight = _graph(paths, symbols, index)
    restart = _restart(paths, symbols, focus)
    ranks = _pagerank(incoming, out_weight, restart)
    total = math.fsum(ranks) or 1.0
    scores = {p: ranks[i] / total for i, p in enumerate(paths)}
    return {p: scores[p] for p in order_by_rank(scores)}


def order_by_rank(scores: Mapping[str, float]) -> list[str]:
    """Paths from highest to lowest score; equal scores in path order."""
    return sorted(scores, key=lambda p: (-scores[p], p))


def focus_weights(paths: Sequence[str], symbols: Mapping[str, FileSymbols], focus: Sequence[str]) -> dict[str, float]:
    """How strongly each path matches the focus (0 = not at all); only matching paths are returned.

    A focus item matches a file when it is the file's path, a directory above it, a glob matching it
    (``*``, ``?``, ``[``), or a term the file defines (full weight); a term occurring in the path
    (case-insensitive) gives half weight.
    """
    items = [f.strip().replace("\\", "/").removeprefix("./") for f in focus]
    items = [f for f in items if f]
    weights: dict[str, float] = {}
    for path in paths:
        defines = set(symbols[path].defines) if path in symbols else set()
        best = 0.0
        for item in items:
            best = max(best, _match(path, defines, item))
        if best > 0:
            weights[path] = best
    return weights


def _match(path: str, defines: set[str], item: str) -> float:
    stem = item.rstrip("/")
    if path == stem or path.startswith(stem + "/") or item in defines:
        return 1.0
    if any(c in item for c in "*?[") and (fnmatchcase(path, item) or fnmatchcase(path, "*/" + item)):
        return 1.0
    return 0.5 if item.lower() in path.lower() else 0.0


def _graph(
    paths: list[str], symbols: Mapping[str, FileSymbols], index: Mapping[str, int]
) -> tuple[list[tuple[list[int], list[float]]], list[float]]:
    """Incoming weighted edges per node, and each node's total outgoing weight."""
    # Names only link files of one language family (a Python call does not reach a JS function).
    families = [_family(p) for p in paths]
    definers: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, path in enumerate(paths):
        for name in symbols[path].defines:
            definers[families[i], name].append(i)
    n = len(paths)
    edges: list[dict[int, float]] = [{} for _ in range(n)]  # edges[src][dst] = weight
    for src, path in enumerate(paths):
        out, family = edges[src], families[src]
        for name in symbols[path].references:
            targets = definers.get((family, name))
            if not targets or len(targets) > _MAX_DEFINERS:
                continue
            # IDF-like: a name defined once is a strong link; one defined in many files, a weak one.
            share = math.log(1.0 + n / len(targets)) / len(targets)
            for dst in targets:
                if dst != src:
                    out[dst] = out.get(dst, 0.0) + share
    incoming: list[tuple[list[int], list[float]]] = [([], []) for _ in range(n)]
    out_weight = [0.0] * n
    for src in range(n):
        for dst, w in sorted(edges[src].items()):
            incoming[dst][0].append(src)
            incoming[dst][1].append(w)
        out_weight[src] = math.fsum(edges[src].values())
    return incoming, out_weight


_FAMILIES = {"typescript": "javascript", "tsx": "javascript", "cpp": "c"}


def _family(path: str) -> str:
    lang = language_for(path) or ""
    return _FAMILIES.get(lang, lang)


def _restart(paths: list[str], symbols: Mapping[str, FileSymbols], focus: Sequence[str]) -> list[float]:
    n = len(paths)
    uniform = [1.0 / n] * n
    matched = focus_weights(paths, symbols, focus) if focus else {}
    if not matched:
        return uniform
    total = math.fsum(matched.values())
    return [
        _UNFOCUSED_SHARE * u + (1 - _UNFOCUSED_SHARE) * matched.get(p, 0.0) / total
        for u, p in zip(uniform, paths, strict=True)
    ]


def _pagerank(incoming: list[tuple[list[int], list[float]]], out_weight: list[float], restart: list[float]) -> list[float]:
    n = len(restart)
    ranks = list(restart)
    dangling_nodes = [i for i in range(n) if out_weight[i] == 0]
    inverse_out = [1.0 / w if w > 0 else 0.0 for w in out_weight]
    linked = [(i, srcs, weights) for i, (srcs, weights) in enumerate(incoming) if srcs]
    for _ in range(_MAX_ITERATIONS):
        flow = list(map(mul, ranks, inverse_out))
        # Mass at files with no outgoing links (and the damping remainder) restarts per `restart`.
        base = (1 - DAMPING) + DAMPING * math.fsum(ranks[i] for i in dangling_nodes)
        new = [base * r for r in restart]
        for i, srcs, weights in linked:
            new[i] += DAMPING * sum(map(mul, map(flow.__getitem__, srcs), weights))
        delta = math.fsum(map(abs, map(sub, new, ranks)))
        ranks = new
        if delta < _TOLERANCE:
            break
    return ranks
