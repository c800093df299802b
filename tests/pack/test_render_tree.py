"""The tree, rendered in one pass with names escaped only when one needs it, is the rule's tree exactly."""

from __future__ import annotations

import random

import pytest

from v4agent.core.pathtext import display_path
from v4agent.pack.render import TreeEntry, render_tree


def _tree_by_rule(entries: list[TreeEntry]) -> str:
    """Sorted by the list of components; each directory once, where it first differs from the last path's."""
    lines: list[str] = []
    previous: list[str] = []
    for entry in sorted(entries, key=lambda e: e.path.split("/")):
        parts = entry.path.split("/")
        dirs = parts[:-1]
        common = 0
        while common < min(len(dirs), len(previous)) and dirs[common] == previous[common]:
            common += 1
        for depth in range(common, len(dirs)):
            lines.append("  " * depth + display_path(dirs[depth]) + "/")
        name = display_path(parts[-1])
        if entry.link_target is not None:
            name += " -> " + display_path(entry.link_target)
        lines.append("  " * len(dirs) + name)
        previous = dirs
    tree = "\n".join(lines) + ("\n" if lines else "")
    return f"<directory_structure>\n{tree}</directory_structure>\n<files>\n"


# Names that sort differently by component than as strings ("a" < "a-b" < "a.b" < "a/…" by string only), empty
# components, names needing escapes (controls, separators, undecodable bytes), and non-ASCII.
_NAMES = ["a", "a-b", "a.b", "a b", "ab", "A", "b", "", "x\x01", "n\u2028l", "\udcff", "é", "z" * 3, "~", "!"]


@pytest.mark.parametrize("seed", range(6))
def test_tree_matches_the_rule(seed: int) -> None:
    rng = random.Random(seed)
    clean = seed % 2 == 0  # half the trees need no escape at all
    names = [n for n in _NAMES if display_path(n) == n and n] if clean else _NAMES
    paths = sorted({"/".join(rng.choice(names) for _ in range(rng.randint(1, 4))) for _ in range(400)})
    entries = [TreeEntry(p, rng.choice(names) if rng.random() < 0.1 else None) for p in paths]
    rng.shuffle(entries)
    assert render_tree(entries, "xml") == _tree_by_rule(entries)
    assert render_tree([], "xml") == _tree_by_rule([])


def test_an_escape_in_a_link_target_alone_is_escaped() -> None:
    entries = [TreeEntry("a/b", None), TreeEntry("a/c", "x\x1b[2J")]
    assert render_tree(entries, "xml") == _tree_by_rule(entries)
    assert "\\x1b" in render_tree(entries, "xml")
