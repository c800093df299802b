"""Which blank lines of ``old_text`` the model added to it alone, as opposed to both texts.

``editstruct`` leaves a blank line of ``old_text`` that the file lacks mapped to nothing (surplus). Where
``new_text`` has a blank line at the same spot, either the model added it to both texts (then the one in
``new_text`` is noise too) or to ``old_text`` alone (then the one in ``new_text`` is meant). The counts tell
them apart: a blank line added to both texts shows in ``new_text`` right after the same unchanged line, so
the run of blank lines there is at least as long as ``old_text``'s. Where it is shorter and a line the model
wrote follows, both readings stay possible, and the code settles it: one blank line was noise in both texts
(the written line goes right below) when that line is of the same kind as the one above (``editkind``: imports of
one group, two assignments to one sort of name); after several, one fewer goes there when they outnumber
every run the file has above a line so indented. Otherwise the surplus blank lines are taken out of
``old_text`` before the replacement is laid out, so ``new_text``'s blank lines all stand. Gaps made of blank
lines only, between two unchanged lines, are left to ``editlayout``'s counting rule. Either way the place is
the same; only blank lines differ. Pure: lines in, lines out.
"""

from __future__ import annotations

from collections.abc import Sequence

from v4agent.tools.editdiff import BLANK, Key, opcodes
from v4agent.tools.editkind import kind, width

__all__ = ["drop_added_blanks"]

Mapping = tuple[tuple[int, int] | None, ...]


def _key(line: str) -> Key:
    return (width(line), line.strip()) if line.strip() else BLANK


def _run(lines: Sequence[str], at: int, step: int) -> int:
    """How many blank lines follow line ``at`` going by ``step`` (``at`` may be -1: from the start)."""
    count = 0
    while 0 <= at + step * (count + 1) < len(lines) and not lines[at + step * (count + 1)].strip():
        count += 1
    return count


def _most_blanks_above(file_lines: Sequence[str], indent: int) -> int:
    """The longest run of blank lines the file has right above a line indented ``indent`` columns."""
    most = run = 0
    for line in file_lines:
        if not line.strip():
            run += 1
            continue
        if width(line) == indent:
            most = max(most, run)
        run = 0
    return most


def _added_to_both(
    old: Sequence[str], new: Sequence[str], image: dict[int, int], i: int, file_lines: Sequence[str], at_end: bool
) -> bool:
    """Whether surplus blank line ``i`` of ``old`` has its twin in ``new`` (or is left to the counting rule);
    ``at_end``: old_text's last line is the file's last but blank ones."""
    nonblank = [k for k, ln in enumerate(old) if ln.strip()]
    above = max((k for k in nonblank if k < i), default=None)
    below = min((k for k in nonblank if k > i), default=None)
    if above is None:  # old_text opens with blank lines: does new_text open with as many?
        return _run(new, -1, 1) >= (below if below is not None else len(old))
    if below is None and at_end and _run(new, len(new), -1) >= len(old) - above - 1:
        return True  # blank lines closing both texts at the file's end, which takes none: noise in both
    if (below is not None and above in image and below in image
            and all(not new[j].strip() for j in range(image[above] + 1, image[below]))):
        return True  # blank lines only between two unchanged lines: editlayout counts them
    if above not in image:  # the line above changed: only at the end does the counting rule stand
        return below is None
    run = (below if below is not None else len(old)) - above - 1
    gap = _run(new, image[above], 1)
    written = image[above] + gap + 1
    if gap < run and written < len(new) and written not in image.values():
        # Blank lines, then a line the model wrote: the surplus one is noise in both texts (one fewer goes
        # there) or in old_text alone (they all stand). A lone one parts two kinds of line (lines of one kind
        # sit together); a run stands only as long as the file ever has above a line so indented.
        if gap == 1:
            return kind(old[above]) == kind(new[written])
        if gap > 1:
            return gap > _most_blanks_above(file_lines, width(new[written]))
    return gap >= run


def drop_added_blanks(
    mapping: Mapping, old: Sequence[str], new: Sequence[str], file_lines: Sequence[str] = ()
) -> tuple[Mapping, list[str]]:
    """``mapping`` and ``old`` without the surplus blank lines the model added to ``old_text`` alone
    (``file_lines``: the file, whose own blank-line runs tell how many blank lines a spot takes)."""
    surplus = [i for i, ln in enumerate(old) if not ln.strip() and mapping[i] is None]
    if not surplus:
        return mapping, list(old)
    image: dict[int, int] = {}
    for tag, i1, i2, j1, j2 in opcodes([_key(x) for x in old], [_key(x) for x in new]):
        if tag == "equal":
            image.update(zip(range(i1, i2), range(j1, j2), strict=True))
    last = max((m[1] for m in mapping if m is not None), default=len(file_lines))
    at_end = bool(file_lines) and all(not ln.strip() for ln in file_lines[last + 1 :])
    drop = {i for i in surplus if not _added_to_both(old, new, image, i, file_lines, at_end)}
    keep = [i for i in range(len(old)) if i not in drop]
    return tuple(mapping[i] for i in keep), [old[i] for i in keep]
