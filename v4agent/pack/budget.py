"""Fitting the pack into a token budget (pure): lower-ranked files degrade full -> skeleton -> path-only.

1. Rank ascending, each file goes to its skeleton (or straight to path-only when it has none) until the total fits.
2. If every file is already a skeleton or path-only and it still does not fit, skeletons go to path-only, rank
   ascending, until skeletons take at most ``SKELETON_SHARE`` of the room left after the fixed part.
3. With the room that frees, the highest-ranked skeletons go back to full, then path-only files back to
   skeletons, each only if it still fits. So the top of the ranking is read in full even on a tight budget.
The emitted total never exceeds the budget; a budget below the fixed part (header + tree) is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from v4agent.pack.options import PackError

__all__ = ["LAZY_FACTOR", "SKELETON_SHARE", "estimate_tokens", "fit_budget", "fit_from_top"]

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
# A piece rarely has more bytes per token than this (V4 on Django's 5,481 text files: median 4.3, p99.9 7.6,
# max 7.9): a file with more bytes than this many times the room left is taken as not fitting, uncounted.
_MAX_BYTES_PER_TOKEN = 8
_LOOKAHEAD = 64  # files counted per batch (both cores) at most, in rank order
_BATCH_ROOM = 1.5  # a batch's estimated tokens stop growing past this share of the room left
_MIN_ROOM_FOR_SKELETONS = 200  # tokens left: worth trying path-only files as skeletons
_SKELETON_MISSES = 50  # consecutive skeletons that do not fit: stop trying


def estimate_tokens(piece_bytes: int) -> int:
    """A rough token count of a piece of ``piece_bytes`` bytes (about 4 bytes per token in source code)."""
    return piece_bytes // 4 + 1


def _batch(ahead: Sequence[str], exact: Mapping[str, int], can_fit: Callable[[str], bool],
           piece_bytes: Mapping[str, int], room: int) -> list[str]:
    """The next files worth counting together: those that can fit, about as many as the room left can take
    (the first always; counting more is wasted on files that will not fit, fewer costs a call per file)."""
    batch: list[str] = []
    expected = 0
    for p in ahead:
        if p in exact or not can_fit(p):
            continue
        if batch and expected > room * _BATCH_ROOM:
            break
        batch.append(p)
        expected += estimate_tokens(piece_bytes[p])
    return batch


def fit_from_top(
    fixed: int,
    descending: Sequence[str],
    budget: int,
    piece_bytes: Mapping[str, int],
    count_full: Callable[[list[str]], Mapping[str, int]],
    skeleton_cost: Callable[[str], int | None],
) -> tuple[dict[str, str], dict[str, int]]:
    """``fit_budget``'s policy for a budget far below the whole, computed from the top of the ranking.

    The top-ranked skeletons take up to ``SKELETON_SHARE`` of the room, then files from the top go to full
    each if it still fits, then path-only files to skeletons while room is left. Only files that could still
    fit are counted (``count_full`` gets batches in rank order). Returns the modes and the exact full counts
    taken; files never counted are path-only. The emitted total never exceeds the budget."""
    if fixed > budget:
        raise PackError(f"the budget of {budget:,} tokens is below the header and file tree alone ({fixed:,} tokens); "
                        "raise --budget or --exclude some directories")
    room = budget - fixed
    modes = dict.fromkeys(descending, "path")
    skel: dict[str, int] = {}
    used = 0
    for path in descending:
        cost = skeleton_cost(path)
        if cost is None or cost >= estimate_tokens(piece_bytes[path]):
            continue
        if used + cost > room * SKELETON_SHARE:
            break
        skel[path] = cost
        modes[path] = "skeleton"
        used += cost
    total = fixed + used
    exact: dict[str, int] = {}

    def can_fit(path: str) -> bool:  # cheap test before counting: even at the most bytes per token?
        return piece_bytes[path] // _MAX_BYTES_PER_TOKEN - skel.get(path, 0) <= budget - total

    for i, path in enumerate(descending):
        if not can_fit(path):
            continue
        if path not in exact:
            exact.update(count_full(_batch(descending[i:i + _LOOKAHEAD], exact, can_fit, piece_bytes, budget - total)))
        now = skel.get(path, 0)
        if total + exact[path] - now <= budget:
            modes[path] = "full"
            total += exact[path] - now
    misses = 0
    for path in descending:
        if budget - total < _MIN_ROOM_FOR_SKELETONS or misses >= _SKELETON_MISSES:
            break
        if modes[path] != "path":
            continue
        cost = skeleton_cost(path)
        if cost is None:
            continue
        if total + cost <= budget and cost < exact.get(path, estimate_tokens(piece_bytes[path])):
            modes[path] = "skeleton"
            total += cost
            misses = 0
        else:
            misses += 1
    return modes, exact
