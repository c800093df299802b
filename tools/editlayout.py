"""Lay out the replacement for a matched region so it keeps the file's own layout.

``editmatch`` finds where ``old_text`` sits; this module writes the lines that replace that region. Lines the
model did not change are copied from the file; changed lines are re-indented by the match's shift, with the
file's indentation characters. Blank lines the model left out of ``old_text`` (and so, being unchanged
context, out of ``new_text`` too) are put back into ``new_text`` where the file's blank-line runs say they
belong, so the result keeps them. Blank lines it added to ``old_text`` stand for no line of the file: the
diff (``editdiff``) aligns non-blank lines first, and of a run of blank lines the file's own go to those
the diff keeps. Pure: lists of lines in, lists of lines out.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from itertools import pairwise

from v4agent.tools.editdiff import Opcode, opcodes
from v4agent.tools.editkind import TABSIZE, kind, width

__all__ = ["TABSIZE", "indent", "render_region", "spaces_for_tabs", "uses_tabs", "width"]

_SIMILAR = 0.6  # two lines this alike are one line the model changed, not two unrelated ones
_SIMILAR_MAX_PAIRS = 2500  # bounded work: larger replaced blocks are not paired line by line
_LEADS_INTO_NEXT = ("#", "@", "//")
_CONTINUES = ("(", "[", "{", ",", "\\")  # a line ending so goes on in the next one  # comments and decorators belong to the line below them

Mapping = tuple[tuple[int, int] | None, ...]  # per old line: the file lines (first, last) it stands for


def uses_tabs(lines: Sequence[str]) -> bool:
    """True when at least half of the indented lines start with a tab."""
    indented = [ln for ln in lines if ln[:1] in (" ", "\t") and ln.strip()]
    return bool(indented) and sum(ln.startswith("\t") for ln in indented) * 2 >= len(indented)


def indent(columns: int, tabs: bool) -> str:
    """Leading whitespace of ``columns`` columns: tabs first when ``tabs``, else spaces only."""
    columns = max(columns, 0)
    if tabs:
        return "\t" * (columns // TABSIZE) + " " * (columns % TABSIZE)
    return " " * columns


def spaces_for_tabs(file_lines: Sequence[str], new: str) -> str:
    """Tab indentation in ``new`` becomes spaces when the file indents with spaces and never with tabs."""
    if "\t" not in new:
        return new
    leads = [ln[: len(ln) - len(ln.lstrip())] for ln in file_lines if ln.strip()]
    if any("\t" in lead for lead in leads) or not any(leads):
        return new
    out = []
    for line in new.split("\n"):
        lead = line[: len(line) - len(line.lstrip())]
        out.append(lead.expandtabs(TABSIZE) + line[len(lead) :] if "\t" in lead else line)
    return "\n".join(out)


def _key(line: str) -> tuple[int, str]:
    return (width(line), line.strip()) if line.strip() else (0, "")


# --- blank lines the model left out ----------------------------------------------------------------------


def _similar_pairs(old: Sequence[str], new: Sequence[str], i1: int, i2: int, j1: int, j2: int) -> dict[int, int]:
    """Inside a replaced block, pair each old line with the new line it became (most alike first, in order)."""
    best, bi, bj = _SIMILAR, -1, -1
    scorer = difflib.SequenceMatcher(autojunk=False)
    for j in range(j1, j2):
        if not new[j].strip():
            continue
        scorer.set_seq2(new[j].strip())
        for i in range(i1, i2):
            if not old[i].strip():
                continue
            scorer.set_seq1(old[i].strip())
            if scorer.real_quick_ratio() > best and scorer.quick_ratio() > best and scorer.ratio() > best:
                best, bi, bj = scorer.ratio(), i, j
    if bi < 0:
        return {}
    pairs = _similar_pairs(old, new, i1, bi, j1, bj)
    pairs[bi] = bj
    pairs.update(_similar_pairs(old, new, bi + 1, i2, bj + 1, j2))
    return pairs


def _images(old: Sequence[str], new: Sequence[str], ops: Sequence[Opcode]) -> dict[int, int]:
    """Old non-blank line index -> the index of the new line it is (unchanged, or changed but alike)."""
    images: dict[int, int] = {}
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            images.update({i: j for i, j in zip(range(i1, i2), range(j1, j2), strict=True) if old[i].strip()})
        elif tag == "replace" and (i2 - i1) * (j2 - j1) <= _SIMILAR_MAX_PAIRS:
            images.update(_similar_pairs(old, new, i1, i2, j1, j2))
    return images


def _run(file_lines: Sequence[str], at: int, step: int) -> int:
    count, i = 0, at + step
    while 0 <= i < len(file_lines) and not file_lines[i].strip():
        count, i = count + 1, i + step
    return count


def _step(above: str | None, below: str | None) -> int:
    """-1, 0 or 1: whether the code dedents, stays or indents across a blank-line gap."""
    if above is None or below is None:
        return 0
    change = width(below) - width(above)
    return (change > 0) - (change < 0)


def _inside(above: str | None) -> int:
    """1 when a blank line below ``above`` would split a statement: a line that leaves a bracket open or
    continues, or a decorator, which belongs to the line below it."""
    if above is None:
        return 0
    text = above.split("#", 1)[0].rstrip() if not above.lstrip().startswith("#") else ""
    return int(text.endswith(_CONTINUES) or above.lstrip().startswith("@"))


def _place(new: Sequence[str], span: tuple[int, int], dropped: int, runs: tuple[int, int], step: int | None) -> int:
    """Where, between new lines ``ja`` and ``jb``, the dropped blank lines go.

    First the spot whose blank runs after the line above and before the line below come closest to the
    file's; then, for a lone blank line, one where the code dedents or not as it did across the file's gap;
    last, inserted lines stay with the neighbour whose kind they share (``editkind``), else with the line
    above, unless they open with a comment or decorator, which belong to the line below.
    """
    ja, jb = span
    run_a, run_b = runs
    inner = list(new[ja + 1 : jb])
    first = next((ln.strip() for ln in inner if ln.strip()), "")
    prefer_late = not first.startswith(_LEADS_INTO_NEXT)
    written = [ln for ln in inner if ln.strip()]
    if written:  # inserted lines of the kind of one neighbour and not the other's go with that one
        with_above, with_below = kind(written[0]) == kind(new[ja]), kind(written[-1]) == kind(new[jb])
        prefer_late = with_above if with_above != with_below else prefer_late
    nonblank = [j for j in range(len(new)) if new[j].strip()]
    best: tuple[int, int, int, int] | None = None
    best_p = 0
    for p in range(len(inner) + 1):
        cand = [*inner[:p], *([""] * dropped), *inner[p:]]
        lead = next((k for k, ln in enumerate(cand) if ln.strip()), len(cand))
        trail = next((k for k, ln in enumerate(reversed(cand)) if ln.strip()), len(cand))
        cost = abs(lead - run_a) + abs(trail - run_b)
        at = ja + 1 + p
        above = next((new[j] for j in reversed(nonblank) if j < at), None)
        below = next((new[j] for j in nonblank if j >= at), None)
        rank = (_inside(above), cost, int(step is not None and _step(above, below) != step), -p if prefer_late else p)
        if best is None or rank < best:
            best, best_p = rank, p
    return ja + 1 + best_p


def restore_blanks(
    file_lines: Sequence[str], mapping: Mapping, old: Sequence[str], new: Sequence[str]
) -> tuple[Mapping, list[str], list[str]]:
    """Put back the file's blank lines that the model dropped between two matched lines of ``old``.

    Returns the mapping, old lines and new lines with the dropped blank lines inserted (each old line then
    stands for one file line there), unchanged where nothing was dropped or no placement is sound.
    """
    nb = [i for i in range(len(old)) if old[i].strip() and (m := mapping[i]) is not None and m[0] == m[1]]
    gaps: list[tuple[int, int, int, int]] = []  # (old line above, old line below, first file blank, dropped)
    for a, b in pairwise(nb):
        fa, fb = _line(mapping, a), _line(mapping, b)
        kept = b - a - 1
        if any(old[i].strip() for i in range(a + 1, b)) or fb - fa - 1 <= kept:
            continue
        if all(not file_lines[f].strip() for f in range(fa + 1, fb)):
            gaps.append((a, b, fa + 1, fb - fa - 1 - kept))
    if not gaps:
        return mapping, list(old), list(new)
    ops = difflib.SequenceMatcher(None, [_key(x) for x in old], [_key(x) for x in new], autojunk=False).get_opcodes()
    images = _images(old, new, ops)
    new_mapping = list(mapping)
    old_inserts: dict[int, int] = {}
    new_inserts: dict[int, int] = {}
    for a, b, first_blank, dropped in gaps:
        ia = max((i for i in images if i <= a and mapping[i] is not None), default=None)
        ib = min((i for i in images if i >= b and mapping[i] is not None), default=None)
        if ia is None or ib is None or images[ia] >= images[ib]:
            continue  # nothing anchors the spot: the blank lines stay with the text above (render_region)
        ja, jb = images[ia], images[ib]
        runs = (_run(file_lines, _line(mapping, ia), 1), _run(file_lines, _line(mapping, ib), -1))
        # A lone blank line ends a block: where the code dedents across it says where it goes. Runs of blank
        # lines (between top-level definitions) are placed by their lengths alone.
        step = _step(file_lines[_line(mapping, a)], file_lines[_line(mapping, b)]) if b == a + 1 else None
        p = _place(new, (ja, jb), dropped, runs, step)
        for x, i in enumerate(range(a + 1, b)):  # the blank lines the model kept stand for one file line each
            new_mapping[i] = (first_blank + x, first_blank + x)
        old_inserts[b] = dropped
        new_inserts[p] = new_inserts.get(p, 0) + dropped
    return _with_inserts(file_lines, new_mapping, old, new, old_inserts, new_inserts)


def _line(mapping: Mapping, i: int) -> int:
    m = mapping[i]
    assert m is not None
    return m[0]


def _with_inserts(
    file_lines: Sequence[str],
    mapping: Sequence[tuple[int, int] | None],
    old: Sequence[str],
    new: Sequence[str],
    old_inserts: dict[int, int],
    new_inserts: dict[int, int],
) -> tuple[Mapping, list[str], list[str]]:
    out_old: list[str] = []
    out_map: list[tuple[int, int] | None] = []
    for i, line in enumerate(old):
        if i in old_inserts:
            below = mapping[i]
            assert below is not None
            for f in range(below[0] - old_inserts[i], below[0]):
                out_old.append(file_lines[f])
                out_map.append((f, f))
        out_old.append(line)
        out_map.append(mapping[i])
    out_new: list[str] = []
    for j in range(len(new) + 1):
        out_new.extend([""] * new_inserts.get(j, 0))
        if j < len(new):
            out_new.append(new[j])
    return tuple(out_map), out_old, out_new


# --- rendering -------------------------------------------------------------------------------------------


def _slide_blank_inserts(ops: Sequence[Opcode], new_keys: Sequence[tuple[int, str]], mapping: Mapping) -> list[Opcode]:
    """Slide each insertion down past blank lines, so blank lines end an inserted block (as git's diff does).

    Either placement is the same diff of old and new, but not of the file when the model dropped a blank
    line: keeping the blank lines of the old text with the text before the insertion keeps the file's own.
    Not past a blank line the model added (standing for no line of the file): it would take the place of an
    inserted one.
    """
    tags = [op[0] for op in ops]
    spans = [[op[1], op[2], op[3], op[4]] for op in ops]
    for k in range(1, len(ops) - 1):
        if tags[k] != "insert" or tags[k - 1] != "equal" or tags[k + 1] != "equal":
            continue
        prev, ins, nxt = spans[k - 1], spans[k], spans[k + 1]
        while (nxt[1] > nxt[0] and new_keys[ins[2]] == (0, "") and new_keys[ins[2]] == new_keys[nxt[2]]
               and mapping[nxt[0]] is not None):
            prev[1] += 1
            prev[3] += 1
            for i in range(4):
                ins[i] += 1
            nxt[0] += 1
            nxt[2] += 1
    return [(t, sp[0], sp[1], sp[2], sp[3]) for t, sp in zip(tags, spans, strict=True) if t != "equal" or sp[1] > sp[0]]


def _blanks_kept_first(mapping: Mapping, old: Sequence[str], ops: Sequence[Opcode]) -> tuple[Mapping, list[str]]:
    """Within each run of blank old lines, give the file's blank lines to the lines the diff keeps.

    A blank line the model added to ``old_text`` stands for no line of the file. Blank lines are all alike,
    so which of a run's lines the diff keeps is arbitrary: the file's own go to the kept ones (the last of
    them, as the match takes a run's first blank lines for the added ones), so that the file loses a blank
    line only where ``new_text`` has fewer there than the file. Each file line moves with the text the model
    copied for it (a whitespace-only line it emptied on purpose stays emptied).
    """
    kept = {i for tag, i1, i2, _, _ in ops if tag == "equal" for i in range(i1, i2)}
    out = list(mapping)
    texts = list(old)
    i = 0
    while i < len(old):
        j = i
        while j < len(old) and not old[j].strip():
            j += 1
        run = range(i, j)
        values = [(mapping[r], old[r]) for r in run if mapping[r] is not None]
        if values and len(values) < len(run):
            keep = [r for r in run if r in kept]
            drop = [r for r in run if r not in kept]
            extra = max(0, len(values) - len(keep))
            chosen = sorted(keep[len(keep) - min(len(keep), len(values)) :] + drop[len(drop) - extra :])
            placed = iter(values)
            spare = iter([old[r] for r in run if mapping[r] is None])
            for r in run:
                out[r], texts[r] = next(placed) if r in chosen else (None, next(spare))
        i = max(j, i + 1)
    return tuple(out), texts


def _trailing(line: str) -> str:
    return line[len(line.rstrip()) :]


def _retrailed(file_lines: Sequence[str], mapping: Mapping, old: Sequence[str], new: Sequence[str],
               ops: Sequence[Opcode]) -> dict[int, str]:
    """File lines whose trailing blanks the model removed on purpose: it copied them exactly, or emptied a
    line of blanks, and sent other blanks (or none) in ``new_text``. Trailing blanks it adds are noise, as
    everywhere outside the exact tier: a line whose blanks it changed loses them."""
    out: dict[int, str] = {}
    for tag, i1, i2, j1, j2 in ops:
        if tag != "equal":
            continue
        for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
            m = mapping[i]
            if m is None or m[0] != m[1]:
                continue
            here = file_lines[m[0]]
            if not _trailing(here) or _trailing(new[j]) == _trailing(old[i]):
                continue
            if _trailing(old[i]) == _trailing(here) or (not here.strip() and old[i] and not new[j]):
                out[m[0]] = here.rstrip()
    return out


def render_region(
    file_lines: Sequence[str],
    region: tuple[int, int],
    mapping: Mapping,
    delta: int,
    partial_prefix: str | None,
    old_lines: Sequence[str],
    new_lines: Sequence[str],
) -> list[str]:
    """The lines that replace ``file_lines[start:end]``: unchanged lines from the file, changed ones re-indented
    by ``delta`` columns; ``mapping`` says which file lines each old line stands for."""
    start, end = region
    # A model that added no trailing blanks to the lines it copied meant those on the lines it wrote.
    clean_copy = not any(ln != ln.rstrip() for ln in old_lines)
    mapping, old_lines, new_lines = restore_blanks(file_lines, mapping, old_lines, new_lines)
    lines = file_lines[start:end]
    tabs = uses_tabs(lines) if any(ln[:1] in (" ", "\t") for ln in lines) else uses_tabs(file_lines)
    keep_trailing = any(ln != ln.rstrip() for ln in lines)
    covered = {i for m in mapping if m is not None for i in range(m[0], m[1] + 1)}
    out: list[str] = []
    cursor = start
    new_keys = [_key(x) for x in new_lines]
    ops = _slide_blank_inserts(opcodes([_key(x) for x in old_lines], new_keys), new_keys, mapping)
    mapping, old_lines = _blanks_kept_first(mapping, old_lines, ops)
    retrailed = _retrailed(file_lines, mapping, old_lines, new_lines, ops)
    for tag, i1, i2, j1, j2 in ops:
        mapped = [m for m in mapping[i1:i2] if m is not None]
        if tag == "equal":
            if mapped:
                top = max(b for _, b in mapped) + 1
                # Blank lines left out of old_text that restore_blanks could not place stay with the text above.
                while top < end and top not in covered and not file_lines[top].strip():
                    top += 1
                out.extend(retrailed.get(f, file_lines[f]) for f in range(cursor, top))
                cursor = max(cursor, top)
            continue
        if mapped:
            out.extend(file_lines[cursor : min(a for a, _ in mapped)])
            cursor = max(cursor, max(b for _, b in mapped) + 1)
        for j in range(j1, j2):
            line = new_lines[j]
            if not line.strip():
                out.append("" if not clean_copy else line if tabs else line.expandtabs(TABSIZE))
            elif j == 0 and i1 == 0 and partial_prefix is not None:
                out.append(partial_prefix + line.strip())
            else:
                text = line.rstrip() if not (keep_trailing or clean_copy) else line.rstrip("\r")
                out.append(indent(width(line) + delta, tabs) + text.lstrip())
    out.extend(file_lines[cursor:end])
    return out
