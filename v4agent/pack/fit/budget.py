"""Fitting the pack into a token budget (pure): lower-ranked files degrade full -> skeleton -> path-only.

1. Rank ascending, each file goes to its skeleton (or straight to path-only when it has none) until the total fits.
2. If every file is already a skeleton or path-only and it still does not fit, skeletons go to path-only, rank
   ascending, until skeletons take at most ``SKELETON_SHARE`` of the room left after the fixed part.
3. With the room that frees, the highest-ranked skeletons go back to full, then path-only files back to
   skeletons, each only if it still fits. So the top of the ranking is read in full even on a tight budget.
Far below the whole (``fit_from_top``), the same idea from the top, so that only what can appear is tokenized:
the top of the ranking in full, then skeletons of the next files, then path-only.
The emitted total never exceeds the budget; a budget below the fixed part (header + tree) is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from v4agent.pack.options import PackError

__all__ = ["FULL_SHARE", "LAZY_FACTOR", "SKELETON_SHARE", "estimate_tokens", "fit_budget", "fit_from_top",
           "likely_requests"]

SKELETON_SHARE = 0.5


def fit_budget(
    fixed: int,
    full: Mapping[str, int],
    ascending: Sequence[str],
    budget: int | None,
    skeleton_cost: Callable[[str], int | None],
) -> dict[str, str]:
    """Mode per path ("full" | "skeleton" | "path"). ``full`` holds each file's piece tokens, ``ascending`` the
    paths from lowest to highest rank, ``skeleton_cost(path)`` the skeleton piece tokens (None: no skeleton)."""
    modes = dict.fromkeys(full, "full")
    total = fixed + sum(full.values())
    if budget is None or total <= budget:
        return modes
    if fixed > budget:
        raise PackError(f"the budget of {budget:,} tokens is below the header and file tree alone ({fixed:,} tokens); "
                        "raise --budget or --exclude some directories")
    skel: dict[str, int] = {}
    for path in ascending:
        if total <= budget:
            return modes
        cost = skeleton_cost(path)
        if cost is not None and cost < full[path]:
            skel[path] = cost
            modes[path] = "skeleton"
            total += cost - full[path]
        else:
            modes[path] = "path"
            total -= full[path]
    if total <= budget:
        return modes
    room = budget - fixed
    skeleton_total = total - fixed
    for path in ascending:
        if skeleton_total <= room * SKELETON_SHARE:
            break
        if modes[path] == "skeleton":
            modes[path] = "path"
            skeleton_total -= skel[path]
    total = fixed + skeleton_total
    for path in reversed(ascending):
        now = skel[path] if modes[path] == "skeleton" else 0 if path not in skel else None
        if now is not None and total + full[path] - now <= budget:  # skeleton, or path-only with no skeleton
            modes[path] = "full"
            total += full[path] - now
    for path in reversed(ascending):
        if modes[path] == "path" and path in skel and total + skel[path] <= budget:
            modes[path] = "skeleton"
            total += skel[path]
    return modes


# A budget this many times below the estimated whole: fit from the top of the ranking (``fit_from_top``), so
# only files that can appear are tokenized. The choice depends on file sizes only, so output never depends on
# what a cache holds.
LAZY_FACTOR = 2
# Text has about 4 bytes per token and almost never more than this: a file with more bytes than this many times
# the room left is taken as not fitting, uncounted.
_MAX_BYTES_PER_TOKEN = 8
_LOOKAHEAD = 64  # files counted per batch (both cores) at most, in rank order
_BATCH_ROOM = 1.5  # a batch's estimated tokens stop growing past this share of the room left
# A batch's estimated tokens at least, as a share of the limit: near a full budget the candidates are small, and
# one call per file costs more than counting a few that then do not fit.
_MIN_BATCH_SHARE = 1 / 128
_MIN_ROOM_FOR_SKELETONS = 200  # tokens left: worth trying path-only files as skeletons
_SKELETON_MISSES = 50  # consecutive skeletons that do not fit: stop trying
_SKELETON_BATCH = 32  # skeletons asked for together (built on the workers, counted in one batch)
# Far below the whole, the top of the ranking in full takes up to this share of the room; skeletons of the
# files after it fill the rest, so the most central files read whole and many more show their outline.
FULL_SHARE = 0.7
# A skeleton's tokens as a share of its file's, roughly: a guess for planning work ahead (exact counts decide).
SKELETON_RATIO = 0.3
_LIKELY_SKELETONS_MAX = 512  # a bound on work started on a guess (the fit asks for more in batches if it needs them)


def estimate_tokens(piece_bytes: int) -> int:
    """A rough token count of a piece of ``piece_bytes`` bytes (about 4 bytes per token in source code)."""
    return piece_bytes // 4 + 1


def _batch(ahead: Sequence[str], exact: Mapping[str, int], can_fit: Callable[[str], bool],
           piece_bytes: Mapping[str, int], room: int, least: int) -> list[str]:
    """The next files worth counting together: those that can fit, about as many as the room left can take
    (at least ``least`` tokens; counting more is wasted on files that will not fit, fewer costs a call per file)."""
    batch: list[str] = []
    expected = 0
    for p in ahead:
        if p in exact or not can_fit(p):
            continue
        if batch and expected > max(room * _BATCH_ROOM, least):
            break
        batch.append(p)
        expected += estimate_tokens(piece_bytes[p])
    return batch


def _fill_full(descending: Sequence[str], modes: dict[str, str], exact: dict[str, int], skel: Mapping[str, int],
               total: int, limit: int, piece_bytes: Mapping[str, int],
               count_full: Callable[[list[str]], Mapping[str, int]]) -> int:
    """From the top, each file not yet full goes full if the total stays within ``limit`` (a skeleton's cost is
    given back); only files that could still fit are counted, in rank-ordered batches. Returns the total."""

    def can_fit(path: str) -> bool:  # cheap test before counting: even at the most bytes per token?
        return piece_bytes[path] // _MAX_BYTES_PER_TOKEN - skel.get(path, 0) <= limit - total

    for i, path in enumerate(descending):
        if modes[path] == "full" or not can_fit(path):
            continue
        if path not in exact:
            exact.update(count_full(_batch(descending[i:i + _LOOKAHEAD], exact, can_fit, piece_bytes, limit - total,
                                        int(limit * _MIN_BATCH_SHARE))))
        now = skel.get(path, 0)  # only skeletons have a cost here
        if total + exact[path] - now <= limit:
            modes[path] = "full"
            total += exact[path] - now
    return total


def likely_requests(fixed: int, descending: Sequence[str], budget: int,
                    piece_bytes: Mapping[str, int]) -> tuple[list[str], list[str]]:
    """What ``fit_from_top`` will likely ask for, in the order it asks: the files whose full pieces it counts
    and those whose skeletons it builds, from a dry run with every cost estimated from the file's size (a
    skeleton at ``SKELETON_RATIO``; at most ``_LIKELY_SKELETONS_MAX`` of them). Started early on the workers,
    in this order, the work comes back about when the fit needs it."""
    counted: list[str] = []
    skeletons: list[str] = []

    def count_full(paths: list[str]) -> dict[str, int]:
        counted.extend(paths)
        return {p: estimate_tokens(piece_bytes[p]) for p in paths}

    def skeleton_costs(paths: list[str], _then: list[str]) -> dict[str, int | None]:
        skeletons.extend(paths)
        return {p: int(estimate_tokens(piece_bytes[p]) * SKELETON_RATIO) for p in paths}

    fit_from_top(fixed, descending, budget, piece_bytes, count_full, skeleton_costs)
    return counted, skeletons[:_LIKELY_SKELETONS_MAX]


def fit_from_top(
    fixed: int,
    descending: Sequence[str],
    budget: int,
    piece_bytes: Mapping[str, int],
    count_full: Callable[[list[str]], Mapping[str, int]],
    skeleton_costs: Callable[[list[str], list[str]], Mapping[str, int | None]],
) -> tuple[dict[str, str], dict[str, int]]:
    """The budget policy far below the whole, computed from the top of the ranking.

    1. From the top, files go full while the total stays within ``FULL_SHARE`` of the room.
    2. The files after them, in rank order, go to skeletons while they fit.
    3. Room still left (few files have skeletons) goes to more files in full, from the top.
    Only files that could still fit are counted (``count_full`` gets batches in rank order); skeletons are asked
    for in rank-ordered batches (``skeleton_costs(batch, next_batch)``: the next may be started ahead; None: no
    skeleton), only for files not already full. Returns the modes and the exact full counts taken; files never
    counted are path-only. The emitted total never exceeds the budget."""
    if fixed > budget:
        raise PackError(f"the budget of {budget:,} tokens is below the header and file tree alone ({fixed:,} tokens); "
                        "raise --budget or --exclude some directories")
    room = budget - fixed
    modes = dict.fromkeys(descending, "path")
    exact: dict[str, int] = {}
    skel: dict[str, int] = {}
    total = _fill_full(descending, modes, exact, skel, fixed, fixed + int(room * FULL_SHARE), piece_bytes, count_full)
    rest = [p for p in descending if modes[p] == "path"]
    misses = 0
    for start in range(0, len(rest), _SKELETON_BATCH):
        if budget - total < _MIN_ROOM_FOR_SKELETONS or misses >= _SKELETON_MISSES:
            break
        batch = rest[start:start + _SKELETON_BATCH]
        costs = skeleton_costs(batch, rest[start + _SKELETON_BATCH:start + 2 * _SKELETON_BATCH])
        for path in batch:
            cost = costs.get(path)
            if cost is None:
                continue
            if total + cost <= budget and cost < exact.get(path, estimate_tokens(piece_bytes[path])):
                modes[path] = "skeleton"
                skel[path] = cost
                total += cost
                misses = 0
            else:
                misses += 1
            if budget - total < _MIN_ROOM_FOR_SKELETONS or misses >= _SKELETON_MISSES:
                break
    _fill_full(descending, modes, exact, skel, total, budget, piece_bytes, count_full)
    return modes, exact
