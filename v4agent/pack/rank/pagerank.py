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
from itertools import chain, count, repeat

import numpy as np
import numpy.typing as npt

from v4agent.pack.rank.symbols import FileSymbols, language_for

__all__ = ["focus_weights", "order_by_rank", "rank_files"]

DAMPING = 0.85
# Share of the restart mass kept uniform when a focus matches, so unrelated files still get some rank.
_UNFOCUSED_SHARE = 0.15
# Names defined in more files than this say little about which file is meant; skip them (also bounds edges).
_MAX_DEFINERS = 40
_MAX_ITERATIONS = 100
# L1 change per iteration; 1e-6 already leaves the order of the top few hundred files settled.
_TOLERANCE = 1e-6

# sources, destinations, weights (by source, then destination)
_Edges = tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.float64]]


def rank_files(symbols: Mapping[str, FileSymbols], focus: Sequence[str] = ()) -> dict[str, float]:
    """PageRank-style score per file (sums to 1), keyed by path in descending score, ties by path."""
    paths = sorted(symbols)
    n = len(paths)
    if n == 0:
        return {}
    edges, out_weight = _graph(paths, symbols)
    restart = _restart(paths, symbols, focus)
    ranks = _pagerank(edges, out_weight, restart)
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


def _graph(paths: list[str], symbols: Mapping[str, FileSymbols]) -> tuple[_Edges, list[float]]:
    """Weighted edges (source, destination, weight), ordered by source then destination, and each node's total
    outgoing weight. Each edge's weight is the sum of its names' shares, added in reference order (the same
    bits whichever way it is computed)."""
    # Names only link files of one language family (a Python call does not reach a JS function).
    families = [_family(p) for p in paths]
    n = len(paths)
    # Each name that links (defined in at most _MAX_DEFINERS files of its family) gets an id, its definers a run
    # in one flat array, and an IDF-like share: a name defined once is a strong link, one defined in many a weak
    # one. The share depends only on how many files define the name: one value per count.
    by_count = np.asarray([0.0] + [math.log(1.0 + n / c) / c for c in range(1, _MAX_DEFINERS + 1)])
    nodes_of: dict[str, list[int]] = defaultdict(list)
    for node, family in enumerate(families):
        nodes_of[family].append(node)
    runs: list[_Runs] = []
    ref_src_parts: list[npt.NDArray[np.intp]] = []
    ref_id_parts: list[npt.NDArray[np.intp]] = []
    linked_so_far = targets_so_far = 0
    for nodes in nodes_of.values():
        family_runs = _definer_runs(nodes, [symbols[paths[node]].defines for node in nodes], by_count)
        if family_runs is None:
            continue
        index, link_id, found_runs = family_runs
        runs.append((found_runs[0] + targets_so_far, *found_runs[1:]))
        # Every reference of these files in order (a file's own order is what the edge sums keep), looked up at
        # C speed; -1 for a name that does not link.
        refs = [symbols[paths[node]].references for node in nodes]
        name_ids = np.fromiter(map(index.get, chain.from_iterable(refs), repeat(len(index))), dtype=np.intp,
                               count=sum(map(len, refs)))
        found_ids = link_id[name_ids]
        src = np.repeat(np.asarray(nodes, dtype=np.intp), [len(r) for r in refs])
        links = found_ids >= 0
        ref_src_parts.append(src[links])
        ref_id_parts.append(found_ids[links] + linked_so_far)
        linked_so_far += len(found_runs[0])
        targets_so_far += len(found_runs[3])
    if not ref_src_parts or not sum(map(len, ref_src_parts)):
        return _no_edges(n)
    ref_src = np.concatenate(ref_src_parts)
    chosen = np.concatenate(ref_id_parts)
    del ref_src_parts, ref_id_parts
    run_first, run_size, run_share, targets = (np.concatenate([r[k] for r in runs]) for k in range(4))
    # Every (reference, definer) pair in reference order, then one edge per (source, destination). Arrays, never
    # Python lists, past this point, each dropped once used: at 100k files there are millions of edges.
    first = run_first[chosen]
    sizes = run_size[chosen]
    weight = np.repeat(run_share[chosen], sizes)
    del chosen, run_first, run_size, run_share
    # Node ids and positions in 32 bits where they fit (half the memory of the pair arrays; the same values).
    small = np.int32 if max(n, len(targets), int(sizes.sum())) < 2**31 else np.intp
    from_node = np.repeat(np.asarray(ref_src, dtype=small), sizes)
    del ref_src
    ends = np.cumsum(sizes)
    picks = np.repeat((first - (ends - sizes)).astype(small), sizes)
    picks += np.arange(int(ends[-1]), dtype=small)
    del first, sizes, ends
    to_node = targets.astype(small)[picks]
    del picks, targets
    keep = from_node != to_node
    keys: npt.NDArray[np.intp] = from_node.astype(np.intp)
    keys *= n
    keys += to_node
    del from_node, to_node
    keys = keys[keep]
    weight = weight[keep]
    del keep
    pairs, where, order = _grouped(keys)
    del keys
    # Sequential adds, each pair's in reference order (float64 already: with weights, bincount sums in float64).
    summed = np.bincount(where, weights=weight[order], minlength=len(pairs)).astype(np.float64, copy=False)
    del where, weight, order
    sources = pairs // n
    destinations = pairs % n
    del pairs
    out_weight = [0.0] * n
    bounds = np.searchsorted(sources, np.arange(n + 1)).tolist()
    for node in range(n):
        if bounds[node] < bounds[node + 1]:
            out_weight[node] = math.fsum(summed[bounds[node]:bounds[node + 1]].tolist())
    return (sources, destinations, summed), out_weight


# Per family: each linking name's first position in its run of definers, the run's length, the name's share, and
# the definers (file ids) of every linking name, run after run.
_Runs = tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.float64], npt.NDArray[np.intp]]


def _definer_runs(nodes: list[int], defines: list[tuple[str, ...]],
                  by_count: npt.NDArray[np.float64]) -> tuple[dict[str, int], npt.NDArray[np.intp], _Runs] | None:
    """One family's names: an id per name defined (first definition first), each id's link id (-1: defined in
    too many files to link; one more entry, -1, for a name no file defines), and the runs of the linking names'
    definers in file order. None when the family defines nothing."""
    total = sum(map(len, defines))
    if not total:
        return None
    flat = chain.from_iterable(defines)
    index = dict(zip(dict.fromkeys(chain.from_iterable(defines)), count()))
    name_ids = np.fromiter(map(index.__getitem__, flat), dtype=np.intp, count=total)
    owners = np.repeat(np.asarray(nodes, dtype=np.intp), [len(d) for d in defines])
    counts = np.bincount(name_ids, minlength=len(index))  # definers per name, as listed (a repeat counts twice)
    _, _, order = _grouped(name_ids)  # by name id, each name's definers in file order
    linking = counts <= _MAX_DEFINERS
    link_id = np.full(len(index) + 1, -1, dtype=np.intp)
    link_id[:-1][linking] = np.arange(int(linking.sum()), dtype=np.intp)
    run_size = counts[linking].astype(np.intp)
    run_first = np.cumsum(run_size) - run_size
    targets = owners[order][linking[name_ids[order]]]
    return index, link_id, (run_first, run_size, by_count[run_size], targets)


def _grouped(keys: npt.NDArray[np.intp]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """The distinct keys ascending, and a stable sort of ``keys``: the order (positions into ``keys``, equal keys
    in their given order) and each sorted key's index among the distinct ones."""
    index_bits = max(1, (len(keys) - 1).bit_length())
    if int(keys.max(initial=0)).bit_length() + index_bits <= 62:  # (no keys: every link was a file's own)
        # Key and position in one integer, all distinct: a plain sort (vectorised, far faster than a stable argsort)
        # gives the stable order.
        packed = (keys << index_bits) | np.arange(len(keys), dtype=np.intp)
        packed.sort()
        order = packed & ((1 << index_bits) - 1)
        ordered = packed >> index_bits
        del packed
    else:
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
    starts = np.empty(len(ordered), dtype=bool)
    starts[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    where = np.cumsum(starts) - 1
    return ordered[starts], where, order


def _no_edges(n: int) -> tuple[_Edges, list[float]]:
    empty = np.zeros(0, dtype=np.intp)
    return (empty, empty, np.zeros(0, dtype=np.float64)), [0.0] * n


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


# A float sum of n non-negative terms is within n * 2**-53 of the exact sum, relatively (a loose bound for
# numpy's pairwise sum): far above the limit by it, the exact sum is above it too.
_SUM_SLACK = 1e-6


def _below(terms: npt.NDArray[np.float64], limit: float) -> bool:
    """Whether the exactly rounded sum of these non-negative terms (``math.fsum``) is below ``limit``: decided by
    numpy's quick sum where it is clearly not (most iterations), else by the exact sum."""
    if len(terms) * 2.0**-53 < _SUM_SLACK and float(terms.sum()) > limit * (1 + _SUM_SLACK):
        return False
    return math.fsum(terms.tolist()) < limit


def _pagerank(edges: _Edges, out_weight: list[float], restart: list[float]) -> list[float]:
    """Power iteration. Every step is an exactly rounded element-wise operation or an ordered sum (bincount adds
    the edges in their given order, fsum is exact), so the scores are the same bits on any machine."""
    sources = np.asarray(edges[0], dtype=np.intp)
    destinations = np.asarray(edges[1], dtype=np.intp)
    weights = np.asarray(edges[2], dtype=np.float64)
    n = len(restart)
    out = np.asarray(out_weight, dtype=np.float64)
    damped_share = np.divide(DAMPING, out, out=np.zeros(n), where=out > 0)
    dangling = out == 0
    start = np.asarray(restart, dtype=np.float64)
    ranks = start.copy()
    for _ in range(_MAX_ITERATIONS):
        flow = ranks * damped_share
        # Mass at files with no outgoing links (and the damping remainder) restarts per `restart`.
        base = (1 - DAMPING) + DAMPING * math.fsum(ranks[dangling].tolist())
        new = base * start + np.bincount(destinations, weights=flow[sources] * weights, minlength=n)
        converged = _below(np.abs(new - ranks), _TOLERANCE)
        ranks = new
        if converged:
            break
    return [float(r) for r in ranks.tolist()]
