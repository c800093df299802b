"""The structural tier of ``editmatch``: places whose non-blank lines equal ``old_text``'s, whitespace aside.

``editmatch`` documents the tiers; this module finds the places for the whitespace-tolerant and
indentation-relative ones and maps each line of ``old_text`` onto the file lines it stands for. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from v4agent.tools.editlayout import width

__all__ = ["Match", "structural_matches"]


@dataclass(frozen=True)
class Match:
    """A place in the file that ``old_text`` stands for, and how its lines map onto the file's."""

    start: int  # region [start, end) in file line indices
    end: int
    mapping: tuple[tuple[int, int] | None, ...]  # per old line: the file lines (first, last) it stands for
    delta: int  # indentation width to add to the model's lines
    partial_prefix: str | None  # what the model left off the first line, when it copied it from its middle
    tier: str
    score: float = 1.0
    blanks_exact: bool = True  # blank lines of old_text and of the region correspond one to one
    agree: float = 1.0  # share of old_text's non-blank lines found unchanged in the region


def _strip(line: str) -> str:
    return line.strip()


# --- structural matching (whitespace and indentation tiers) ------------------------------------------------


def structural_matches(file_lines: Sequence[str], old_lines: Sequence[str]) -> list[Match]:
    """Every place whose non-blank lines equal the old text's, line by line, after stripping.

    The first old line may be a suffix of the file line (a model copying from the middle of a line). The
    indentation difference must be the same on every compared line.
    """
    old_nb = [i for i, ln in enumerate(old_lines) if ln.strip()]
    if not old_nb:
        return []
    file_nb = [i for i, ln in enumerate(file_lines) if ln.strip()]
    file_bodies = [_strip(file_lines[i]) for i in file_nb]
    old_bodies = [_strip(old_lines[i]) for i in old_nb]
    n = len(old_nb)
    # Anchor on the longest old line other than the first (which may be partial) to find starting points.
    anchor = max(range(1, n), key=lambda t: len(old_bodies[t])) if n > 1 else 0
    matches: list[Match] = []
    for k in range(len(file_nb) - n + 1):
        if file_bodies[k + anchor] != old_bodies[anchor] and (anchor or n == 1):
            continue
        match = _check_window(file_lines, old_lines, file_nb, file_bodies, old_nb, old_bodies, k)
        if match is not None:
            matches.append(match)
    return matches


def _check_window(
    file_lines: Sequence[str],
    old_lines: Sequence[str],
    file_nb: Sequence[int],
    file_bodies: Sequence[str],
    old_nb: Sequence[int],
    old_bodies: Sequence[str],
    k: int,
) -> Match | None:
    n = len(old_nb)
    partial_prefix: str | None = None
    deltas: set[int] = set()
    for t in range(n):
        fb, ob = file_bodies[k + t], old_bodies[t]
        if fb == ob:
            deltas.add(width(file_lines[file_nb[k + t]]) - width(old_lines[old_nb[t]]))
        elif t == 0 and fb.endswith(ob) and n > 1:
            file_line = file_lines[file_nb[k]].rstrip()
            partial_prefix = file_line[: len(file_line) - len(ob)]
        else:
            return None
    if len(deltas) > 1:
        return None
    delta = deltas.pop() if deltas else 0
    mapping: list[tuple[int, int] | None] = [None] * len(old_lines)
    for t in range(n):
        mapping[old_nb[t]] = (file_nb[k + t], file_nb[k + t])
    blanks_exact = True
    # Blank lines between two matched lines: one to one while both sides have some; the old text's last
    # blank stands for the rest of the file's run (a model that dropped or added a blank line).
    for t in range(n - 1):
        old_gap = list(range(old_nb[t] + 1, old_nb[t + 1]))
        file_gap = list(range(file_nb[k + t] + 1, file_nb[k + t + 1]))
        if len(old_gap) != len(file_gap):
            blanks_exact = False
        if not old_gap or not file_gap:
            continue
        # Surplus blanks in old_text (a model's extra blank line) stand for nothing: the first ones, but for
        # a whitespace-only line copied exactly, which stands for the file's.
        if len(old_gap) > len(file_gap):
            copied = {file_lines[f] for f in file_gap if file_lines[f]}
            ranked = sorted(old_gap, key=lambda x: old_lines[x] in copied)  # stable: the first ones go
            surplus = set(ranked[: len(old_gap) - len(file_gap)])
            old_gap = [x for x in old_gap if x not in surplus]
        common = len(old_gap) - 1
        for x in range(common):
            mapping[old_gap[x]] = (file_gap[x], file_gap[x])
        mapping[old_gap[-1]] = (file_gap[common], file_gap[-1])
    blanks_exact &= _map_edge_blanks(mapping, file_lines, old_nb, file_nb[k], file_nb[k + n - 1])
    mapped = [m for m in mapping if m is not None]
    return Match(
        start=min(a for a, _ in mapped),
        end=max(b for _, b in mapped) + 1,
        mapping=tuple(mapping),
        delta=delta,
        partial_prefix=partial_prefix,
        tier="whitespace" if delta == 0 else "indent",
        blanks_exact=blanks_exact,
    )


def _map_edge_blanks(mapping: list[tuple[int, int] | None], file_lines: Sequence[str], old_nb: Sequence[int],
                     first: int, last: int) -> bool:
    """Map old_text's leading and trailing blank lines onto the file's blank lines next to the region.

    Those nearest the text are mapped one to one as far as the file has blank lines there; the model's
    surplus ones stand for nothing. False when the file lacks some of them.
    """
    lead, trail = old_nb[0], len(mapping) - 1 - old_nb[-1]
    above = _blank_run(file_lines, first, -1, lead)
    for j in range(1, above + 1):
        mapping[lead - j] = (first - j, first - j)
    below = _blank_run(file_lines, last, 1, trail)
    for j in range(1, below + 1):
        mapping[old_nb[-1] + j] = (last + j, last + j)
    return above == lead and below == trail


def _blank_run(file_lines: Sequence[str], at: int, step: int, limit: int) -> int:
    """How many blank lines (at most ``limit``) the file has next to line ``at``, going by ``step``."""
    count = 0
    while count < limit and 0 <= at + step * (count + 1) < len(file_lines) and not file_lines[at + step * (count + 1)].strip():
        count += 1
    return count
