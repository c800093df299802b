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

__all__ = ["SKELETON_SHARE", "fit_budget"]

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
