"""``fit_from_top``: the budget policy far below the whole, counting only files that can still fit."""

from __future__ import annotations

import pytest

from v4agent.pack.fit.budget import SKELETON_RATIO, estimate_tokens, fit_from_top, likely_requests
from v4agent.pack.options import PackError


def _fit(full: dict[str, int], descending: list[str], budget: int, skeleton: int | None,
         fixed: int = 0) -> tuple[dict[str, str], list[list[str]]]:
    calls: list[list[str]] = []

    def count(paths: list[str]) -> dict[str, int]:
        calls.append(paths)
        return {p: full[p] for p in paths}

    piece_bytes = {p: n * 4 for p, n in full.items()}  # the estimate matches the count: 4 bytes per token
    asked: list[str] = []

    def skeletons(paths: list[str], then: list[str]) -> dict[str, int | None]:
        asked.extend(paths)
        return dict.fromkeys(paths, skeleton)

    modes, exact = fit_from_top(fixed, descending, budget, piece_bytes, count, skeletons)
    assert set(exact) == {p for batch in calls for p in batch}
    assert len(asked) == len(set(asked))  # no skeleton asked for twice
    total = fixed + sum(full[p] if m == "full" else skeleton or 0 if m == "skeleton" else 0 for p, m in modes.items())
    assert total <= budget
    return modes, calls


def test_the_top_goes_full_and_the_rest_path_only() -> None:
    full = {f"f{i:03}": 100 for i in range(200)}
    descending = sorted(full)
    modes, calls = _fit(full, descending, 1000, None)
    assert [p for p in descending if modes[p] == "full"] == descending[:10]
    assert all(modes[p] == "path" for p in descending[10:])
    counted = {p for batch in calls for p in batch}
    assert len(counted) < len(full)  # never counts the whole repository


def test_huge_files_are_not_counted() -> None:
    full = {"big": 1_000_000, "small": 10}
    modes, calls = _fit(full, ["big", "small"], 500, None)
    assert modes == {"big": "path", "small": "full"}
    assert calls == [["small"]]


def test_the_top_in_full_then_skeletons_of_the_next() -> None:
    full = {f"f{i}": 300 for i in range(10)}
    descending = sorted(full)
    modes, _ = _fit(full, descending, 1000, 100)
    # Full from the top within 70% of the room (f0, f1: 600), then skeletons of the next (f2-f4: 300) until
    # less room is left than is worth trying (100 < 200 tokens).
    assert modes["f0"] == modes["f1"] == "full"
    assert [modes[p] for p in descending[2:5]] == ["skeleton"] * 3
    assert all(modes[p] == "path" for p in descending[5:])


def test_skeletons_are_asked_only_for_files_not_in_full() -> None:
    full = {f"f{i:02}": 300 for i in range(40)}
    descending = sorted(full)
    asked: list[list[str]] = []

    def skeletons(paths: list[str], then: list[str]) -> dict[str, int | None]:
        asked.append(paths)
        return dict.fromkeys(paths, 100)

    modes, _ = fit_from_top(0, descending, 3000, {p: 1200 for p in full}, lambda ps: {p: full[p] for p in ps},
                            skeletons)
    flat = [p for batch in asked for p in batch]
    assert flat
    assert not any(modes[p] == "full" for p in flat)
    assert flat == [p for p in descending if modes[p] != "full"][:len(flat)]  # in rank order


def test_room_left_goes_to_more_files_in_full() -> None:
    full = {f"f{i}": 100 for i in range(10)}  # no skeletons at all: the full part may use the whole room
    modes, _ = _fit(full, sorted(full), 1000, None)
    assert all(m == "full" for m in modes.values())


def test_budget_below_the_fixed_part_is_an_error() -> None:
    with pytest.raises(PackError, match="budget"):
        fit_from_top(100, ["a"], 50, {"a": 4}, lambda ps: dict.fromkeys(ps, 1), lambda p: None)


def test_counts_about_as_much_as_the_room_takes() -> None:
    full = {f"f{i:03}": 100 for i in range(300)}
    descending = sorted(full)
    modes, calls = _fit(full, descending, 2030, None)  # 20 fit; 30 left is below any file's least count
    counted = [p for batch in calls for p in batch]
    assert len(counted) == len(set(counted))  # nothing counted twice
    assert sum(full[p] for p in counted) <= 1.6 * 2030  # not whole look-ahead windows past the room
    assert len(calls) <= 3
    assert [p for p in descending if modes[p] == "full"] == descending[:len([m for m in modes.values() if m == "full"])]


@pytest.mark.parametrize("seed", range(4))
def test_likely_requests_are_what_the_fit_asks_for_when_sizes_tell_the_cost(seed: int) -> None:
    import random

    rng = random.Random(seed)
    descending = [f"f{i:03}" for i in range(400)]
    piece_bytes = {p: rng.randrange(40, 4000) for p in descending}
    full = {p: estimate_tokens(n) for p, n in piece_bytes.items()}  # each file costs what its size says
    counted: list[str] = []
    asked: list[str] = []

    def count(paths: list[str]) -> dict[str, int]:
        counted.extend(paths)
        return {p: full[p] for p in paths}

    def skeletons(paths: list[str], then: list[str]) -> dict[str, int | None]:
        asked.extend(paths)
        return {p: int(full[p] * SKELETON_RATIO) for p in paths}

    fixed, budget = 300, rng.randrange(20_000, 60_000)
    modes, _ = fit_from_top(fixed, descending, budget, piece_bytes, count, skeletons)
    likely_full, likely_skeletons = likely_requests(fixed, descending, budget, piece_bytes)
    assert likely_full == counted  # the same files, in the order the fit asks for them
    assert likely_skeletons == asked[:len(likely_skeletons)]
    assert len(likely_skeletons) <= 512
    assert {"full", "skeleton", "path"} <= set(modes.values())
