"""The diff of ``old_text`` and ``new_text`` that ``editlayout`` lays out, aligned on non-blank lines first.

A model adds and drops blank lines, and a plain diff pairs a blank line with any other: a blank line the
model added to ``old_text`` takes the place of one of the file's in the alignment, and the unchanged lines
around it slide. So the non-blank lines are aligned first; between two of them that are unchanged, a gap
made only of blank lines is settled by counting (as many as both texts have are kept, the rest deleted or
inserted), and only the stretches where non-blank lines change are diffed line by line. Which of the
kept blank lines stand for the file's is ``editlayout``'s to say. Pure: keys in, opcodes out.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

__all__ = ["BLANK", "Key", "Opcode", "opcodes"]

Key = tuple[int, str]  # (indentation width, stripped text); (0, "") for a blank line
Opcode = tuple[str, int, int, int, int]
BLANK: Key = (0, "")
_LCS_MAX_CELLS = 40_000  # bounded work: larger changed stretches are diffed by difflib


def opcodes(old: Sequence[Key], new: Sequence[Key]) -> list[Opcode]:
    """Opcodes turning ``old`` into ``new``, as difflib's, aligned on non-blank lines first.

    The blank lines that open both texts stand for each other, whatever lies between; so do those that close
    both.
    """
    (old_lo, old_hi), (new_lo, new_hi) = _edges(old), _edges(new)
    if not (old_lo and new_lo):  # only blank lines that open both texts are paired so
        old_lo = new_lo = 0
    if not (old_hi < len(old) and new_hi < len(new)):
        old_hi, new_hi = len(old), len(new)
    old_nb = [i for i in range(old_lo, old_hi) if old[i] != BLANK]
    new_nb = [j for j in range(new_lo, new_hi) if new[j] != BLANK]
    anchors = _anchors([old[i] for i in old_nb], [new[j] for j in new_nb])
    anchors = [(old_nb[a], new_nb[b]) for a, b in anchors]
    ops = _blank_gap((0, old_lo, 0, new_lo))
    prev_i, prev_j = old_lo - 1, new_lo - 1
    for i, j in [*anchors, (old_hi, new_hi)]:
        span = (prev_i + 1, i, prev_j + 1, j)
        if any(old[x] != BLANK for x in range(span[0], span[1])) or any(new[y] != BLANK for y in range(span[2], span[3])):
            ops.extend(_diff(old, new, span))
        else:
            ops.extend(_blank_gap(span))
        if i < old_hi:
            ops.append(("equal", i, i + 1, j, j + 1))
        prev_i, prev_j = i, j
    ops.extend(_blank_gap((old_hi, len(old), new_hi, len(new))))
    return _merged(ops)


def _anchors(old: Sequence[Key], new: Sequence[Key]) -> list[tuple[int, int]]:
    """Pairs of equal lines: the common head and tail first (as git's diff takes them), then difflib's
    longest blocks in between (which alone would pair a line with a later copy of it that the model wrote)."""
    head = 0
    while head < min(len(old), len(new)) and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < min(len(old), len(new)) - head and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    pairs = [(t, t) for t in range(head)]
    matcher = difflib.SequenceMatcher(None, old[head : len(old) - tail], new[head : len(new) - tail], autojunk=False)
    for a, b, size in matcher.get_matching_blocks():
        pairs.extend((head + a + t, head + b + t) for t in range(size))
    pairs.extend((len(old) - tail + t, len(new) - tail + t) for t in range(tail))
    return pairs


def _edges(keys: Sequence[Key]) -> tuple[int, int]:
    """Where the lines between the opening and the closing blank lines start and end."""
    lo = next((i for i, k in enumerate(keys) if k != BLANK), len(keys))
    hi = next((i + 1 for i in range(len(keys) - 1, lo - 1, -1) if keys[i] != BLANK), lo)
    return lo, hi


def _diff(old: Sequence[Key], new: Sequence[Key], span: tuple[int, int, int, int]) -> list[Opcode]:
    """A stretch where non-blank lines change: a longest common subsequence when it is small (difflib's
    longest-block-first pairs a run of blank lines with the wrong ones), difflib's diff when it is not."""
    i1, i2, j1, j2 = span
    a, b = old[i1:i2], new[j1:j2]
    if len(a) * len(b) > _LCS_MAX_CELLS:
        matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
        return [(tag, x1 + i1, x2 + i1, y1 + j1, y2 + j1) for tag, x1, x2, y1, y2 in matcher.get_opcodes()]
    # lengths[x][y]: the longest common subsequence of a[x:] and b[y:]
    lengths = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for x in range(len(a) - 1, -1, -1):
        for y in range(len(b) - 1, -1, -1):
            lengths[x][y] = lengths[x + 1][y + 1] + 1 if a[x] == b[y] else max(lengths[x + 1][y], lengths[x][y + 1])
    ops: list[Opcode] = []
    x = y = 0
    while x < len(a) or y < len(b):
        if x < len(a) and y < len(b) and a[x] == b[y] and lengths[x][y] == lengths[x + 1][y + 1] + 1:
            ops.append(("equal", i1 + x, i1 + x + 1, j1 + y, j1 + y + 1))
            x, y = x + 1, y + 1
        elif x < len(a) and (y == len(b) or lengths[x + 1][y] >= lengths[x][y + 1]):
            ops.append(("delete", i1 + x, i1 + x + 1, j1 + y, j1 + y))
            x += 1
        else:
            ops.append(("insert", i1 + x, i1 + x, j1 + y, j1 + y + 1))
            y += 1
    return ops


def _blank_gap(span: tuple[int, int, int, int]) -> list[Opcode]:
    """Blank lines only, on both sides: as many as both have are equal, the rest deleted or inserted."""
    i1, i2, j1, j2 = span
    both = min(i2 - i1, j2 - j1)
    ops: list[Opcode] = [("equal", i1, i1 + both, j1, j1 + both)]
    if i2 - i1 > both:
        ops.append(("delete", i1 + both, i2, j1 + both, j1 + both))
    if j2 - j1 > both:
        ops.append(("insert", i2, i2, j1 + both, j2))
    return ops


def _merged(ops: Sequence[Opcode]) -> list[Opcode]:
    """Adjacent opcodes of one kind joined, empty ones left out."""
    out: list[Opcode] = []
    for op in ops:
        if op[1] == op[2] and op[3] == op[4]:
            continue
        if out and out[-1][0] == op[0] and out[-1][2] == op[1] and out[-1][4] == op[3]:
            last = out[-1]
            out[-1] = (last[0], last[1], op[2], last[3], op[4])
        else:
            out.append(op)
    return out
