"""Find where a model's ``old_text`` sits in a file and splice in ``new_text``, or refuse with candidates.

Tiers, tried in order: exact substring; whitespace-tolerant (trailing blanks, tabs vs spaces, CRLF, blank
lines dropped or added, a first line copied from its middle); indentation-relative (the block shifted as a
whole); a bounded fuzzy match (difflib over windows of about the same number of lines, with a high threshold
and a margin over the runner-up). Whatever the tier, an edit is applied only where exactly one place fits:
two places that differ only in indentation or in blank lines make the edit ambiguous, and it is refused
with both as candidates, because applying it in the wrong place is worse than asking the model to retry.

Blank lines never place a match: the whitespace and indentation tiers match on non-blank lines alone, and
the model's blank lines are mapped onto the file's around them afterwards, those the file lacks standing
for nothing; ``editmatch_blanks`` says which of those the model added to ``old_text`` alone (then
``new_text``'s blank lines there all stand) rather than to both texts. A place that needs ``old_text``'s first
line to be a line's tail is no twin of a whole-line match when that first line opens with indentation: copied
with its indentation, it was copied from the start of a line. An exact match is read line by line too where
it matters: an ``old_text`` that opens with a newline found at the end of a non-empty line (a blank line the
model added) is left to the whitespace tier, since taken literally it would join that line to the next, or
stand for a blank line of the file's below.

The places for the whitespace and indentation tiers are found by ``editstruct``. Outside the exact tier,
the replacement is laid out by ``editlayout``: lines the model did not change are copied from the file, not
from ``old_text``, so the model's whitespace noise never leaks into unchanged lines; blank lines it left out
of both texts are put back; and a blank line it added to ``old_text`` is the first to go where ``new_text``
has fewer, so the file loses its own only where ``new_text`` has fewer than the file. Trailing blanks in
``new_text`` are noise there, except where the model copied a line's trailing blanks exactly and removed them.
In the exact tier, ``new_text`` is kept byte for byte, but for tab indentation, which becomes the file's
spaces. An ambiguous edit's refusal names every place by line number, with the line above each, so the model
can copy a line that tells them apart. Pure: strings in, strings out.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from v4agent.tools.editlayout import render_region, spaces_for_tabs, width
from v4agent.tools.editmatch_blanks import drop_added_blanks
from v4agent.tools.editstruct import Match, structural_matches

__all__ = ["Candidate", "EditOutcome", "apply_edit"]

FUZZY_THRESHOLD = 0.90
FUZZY_MARGIN = 0.05
FUZZY_MIN_LINES = 3
FUZZY_MIN_AGREE = 0.6  # most lines must match outright: a few similar-looking lines are not the same code
_FUZZY_MAX_WINDOWS = 12  # windows that get the expensive score, after a cheap line-overlap prefilter
_PREVIEW_CHARS = 100


@dataclass(frozen=True)
class Candidate:
    """A region that resembles ``old_text``, offered to the model when an edit is refused."""

    line: int  # 1-based first line of the candidate region
    score: float  # 0..1 similarity to old_text (1.0 for an exact or whitespace match)
    preview: str  # the region's first line, shortened


@dataclass(frozen=True)
class EditOutcome:
    """One edit's result: the new content and how ``old_text`` matched, or why the edit was refused."""

    ok: bool
    content: str  # the new file content (the unchanged content when refused or a no-op)
    tier: str  # "exact" | "whitespace" | "indent" | "fuzzy" | "noop" | "" when refused
    message: str
    count: int = 0  # places replaced
    lines: tuple[int, ...] = ()  # 1-based first lines of the replaced places
    candidates: tuple[Candidate, ...] = ()


# --- line helpers --------------------------------------------------------------------------------------------


def _split(text: str) -> tuple[list[str], bool]:
    if text == "":
        return [], False
    if text.endswith("\n"):
        return text[:-1].split("\n"), True
    return text.split("\n"), False


def _join(lines: Sequence[str], trailing_newline: bool) -> str:
    if not lines:
        return ""
    return "\n".join(lines) + ("\n" if trailing_newline else "")


def _strip(line: str) -> str:
    return line.strip()


def _preview(line: str) -> str:
    text = line.strip()
    return text if len(text) <= _PREVIEW_CHARS else text[: _PREVIEW_CHARS - 1] + "…"


# --- fuzzy matching ------------------------------------------------------------------------------------------


def _fuzzy_scores(file_lines: Sequence[str], old_lines: Sequence[str]) -> list[Match]:
    """Scored windows over the file's non-blank lines, best first (bounded work: a cheap prefilter first)."""
    old_nb = [i for i, ln in enumerate(old_lines) if ln.strip()]
    file_nb = [i for i, ln in enumerate(file_lines) if ln.strip()]
    if not old_nb or not file_nb:
        return []
    old_bodies = [_strip(old_lines[i]) for i in old_nb]
    file_bodies = [_strip(file_lines[i]) for i in file_nb]
    old_set = set(old_bodies)
    n = len(old_nb)
    hits = [1 if b in old_set else 0 for b in file_bodies]
    prefix = [0]
    for h in hits:
        prefix.append(prefix[-1] + h)
    windows: list[tuple[float, int, int]] = []
    for size in {max(1, n - 1), n, n + 1}:
        for k in range(len(file_nb) - size + 1):
            overlap = prefix[k + size] - prefix[k]
            windows.append((overlap / max(size, n), k, size))
    windows.sort(key=lambda w: (-w[0], w[1], w[2]))
    old_text = "\n".join(old_bodies)
    scorer = difflib.SequenceMatcher(autojunk=False)
    scorer.set_seq2(old_text)
    scored: list[Match] = []
    seen: set[tuple[int, int]] = set()
    for _, k, size in windows[: _FUZZY_MAX_WINDOWS * 3]:
        if (k, size) in seen:
            continue
        seen.add((k, size))
        scorer.set_seq1("\n".join(file_bodies[k : k + size]))
        if scorer.real_quick_ratio() < 0.5:
            continue
        score = scorer.ratio()
        scored.append(_fuzzy_match(file_lines, old_lines, file_nb[k : k + size], old_nb, score))
        if len(scored) >= _FUZZY_MAX_WINDOWS:
            break
    scored.sort(key=lambda m: (-m.score, m.start))
    return scored


def _fuzzy_match(
    file_lines: Sequence[str], old_lines: Sequence[str], window: Sequence[int], old_nb: Sequence[int], score: float
) -> Match:
    old_bodies = [_strip(old_lines[i]) for i in old_nb]
    win_bodies = [_strip(file_lines[i]) for i in window]
    mapping: list[tuple[int, int] | None] = [None] * len(old_lines)
    deltas: list[int] = []
    sm = difflib.SequenceMatcher(None, old_bodies, win_bodies, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            for oi, fi in zip(range(i1, i2), range(j1, j2), strict=True):
                mapping[old_nb[oi]] = (window[fi], window[fi])
                if tag == "equal":
                    deltas.append(width(file_lines[window[fi]]) - width(old_lines[old_nb[oi]]))
    deltas.sort()
    delta = deltas[len(deltas) // 2] if deltas else 0
    agree = len(deltas) / max(len(old_nb), len(window))
    return Match(window[0], window[-1] + 1, tuple(mapping), delta, None, "fuzzy", score, agree=agree)


def _overlaps(a: Match, b: Match) -> bool:
    return a.start < b.end and b.start < a.end


# --- splicing ------------------------------------------------------------------------------------------------


def _splice(content: str, matches: Sequence[Match], old_lines: Sequence[str], new_lines: Sequence[str]) -> str:
    file_lines, trailing = _split(content)
    result = list(file_lines)
    for m in sorted(matches, key=lambda m: -m.start):  # bottom-up keeps earlier indices valid
        mapping, olds = drop_added_blanks(m.mapping, old_lines, new_lines, file_lines) if m.tier != "fuzzy" else (m.mapping, old_lines)
        lines = render_region(file_lines, (m.start, m.end), mapping, m.delta, m.partial_prefix, olds, new_lines)
        result[m.start : m.end] = lines
    if not result:
        return ""
    return _join(result, trailing or not file_lines)


# --- the entry point -----------------------------------------------------------------------------------------


def _line_of(content: str, offset: int) -> int:
    return content.count("\n", 0, offset)


def _takes_line_end(work: str, old: str, offset: int) -> bool:
    """True when old_text opens with a newline that, found there, ends a non-empty line rather than being a
    blank line of its own: the model's old_text opened with a blank line the file does not have there."""
    return old.startswith("\n") and offset > 0 and work[offset - 1] != "\n"


def _exact_offsets(work: str, old: str) -> list[int]:
    """Where old_text occurs exactly; none when it opens with a blank line found at the end of a non-empty
    line (see the module docstring)."""
    offsets: list[int] = []
    pos = work.find(old)
    while pos >= 0:
        offsets.append(pos)
        pos = work.find(old, pos + len(old))
    if any(_takes_line_end(work, old, p) for p in offsets):
        return []
    return offsets


def _candidates_from(file_lines: Sequence[str], matches: Sequence[Match]) -> tuple[Candidate, ...]:
    """One candidate per place, named by its first non-blank line (a blank line tells the model nothing)."""
    firsts = [next((k for k in range(m.start, m.end) if file_lines[k].strip()), m.start) for m in matches]
    return tuple(Candidate(k + 1, round(m.score, 3), _preview(file_lines[k])) for k, m in zip(firsts, matches, strict=True))


def _describe(cands: Sequence[Candidate]) -> str:
    return "\n".join(f"  line {c.line} (similarity {c.score:.2f}): {c.preview}" for c in cands)


def _closest(file_lines: Sequence[str], old_lines: Sequence[str], limit: int = 3) -> tuple[Candidate, ...]:
    picked: list[Match] = []
    for m in _fuzzy_scores(file_lines, old_lines):
        if m.score >= 0.4 and not any(_overlaps(m, p) for p in picked):
            picked.append(m)
        if len(picked) == limit:
            break
    return _candidates_from(file_lines, picked)


def _ambiguous(content: str, places: Sequence[Candidate], how: str) -> EditOutcome:
    lines = ", ".join(str(c.line) for c in places)
    file_lines, _ = _split(content)
    shown = "\n".join(
        f"  line {c.line}: {c.preview}  (line above it: {_above(file_lines, c.line - 1)})" for c in places
    )
    message = (
        f"old_text matches {len(places)} places ({how}) at lines {lines}. Nothing was changed: copy old_text "
        "again from the place you mean, exactly as read_file shows it, with one more line above or below that "
        f"differs between these places, or set replace_all to change every one.\n{shown}"
    )
    return EditOutcome(False, content, "", message, candidates=tuple(places))


def _above(file_lines: Sequence[str], index: int) -> str:
    """The nearest non-blank line above ``index``, shortened, for telling candidates apart."""
    line = next((file_lines[k] for k in range(index - 1, -1, -1) if file_lines[k].strip()), None)
    return "start of file" if line is None else repr(_preview(line))


def _full_lines_first(matches: list[Match], old_lines: Sequence[str]) -> list[Match]:
    """Drop places that need old_text's first line to be a line's tail when others take it whole and it opens
    with indentation: copied with its indentation, it was copied from the start of a line (``async def f(``
    is no twin of ``    def f(``). Nor does a tail whose other lines need shifting twin a whole-line match:
    text copied from the middle of a line goes on with the file's own indentation, so that place needs two
    slips of the model where the other needs one."""
    if all(m.partial_prefix is not None for m in matches):
        return matches
    first = next((ln for ln in old_lines if ln.strip()), "")
    if first[:1] in (" ", "\t"):
        return [m for m in matches if m.partial_prefix is None]
    return [m for m in matches if m.partial_prefix is None or m.delta == 0]


def _crlf(content: str) -> bool:
    return "\r\n" in content and content.count("\r\n") == content.count("\n")


def apply_edit(content: str, old_text: str, new_text: str, *, replace_all: bool = False) -> EditOutcome:
    """Replace ``old_text`` with ``new_text`` in ``content``; see the module docstring for the tiers."""
    if old_text == new_text:
        return EditOutcome(True, content, "noop", "no change: old_text and new_text are identical")
    if not old_text.strip():
        return EditOutcome(
            False, content, "", "old_text is empty or blank; give the exact text to replace (use write_file to "
            "replace a whole file)"
        )
    crlf = _crlf(content)
    work = content.replace("\r\n", "\n") if crlf else content
    old = old_text.replace("\r\n", "\n")
    new = new_text.replace("\r\n", "\n")
    outcome = _apply_lf(work, old, new, replace_all)
    if crlf and outcome.ok:
        outcome = EditOutcome(
            True, outcome.content.replace("\n", "\r\n"), outcome.tier, outcome.message, outcome.count,
            outcome.lines, outcome.candidates,
        )
    elif not outcome.ok:
        outcome = EditOutcome(False, content, "", outcome.message, candidates=outcome.candidates)
    return outcome


def _apply_lf(work: str, old: str, new: str, replace_all: bool) -> EditOutcome:
    file_lines, _ = _split(work)
    old_lines, _ = _split(old)
    new_lines, _ = _split(new)
    structural = _full_lines_first(structural_matches(file_lines, old_lines), old_lines)
    offsets = _exact_offsets(work, old)

    if offsets:
        exact_lines = [_line_of(work, p) for p in offsets]
        # An exact match shows the model copied the file's whitespace faithfully: its trailing blanks are meant
        # (only the whitespace-tolerant tiers treat them as noise, in the file's own layout).
        exact_new = spaces_for_tabs(file_lines, new)
        at = [work[:p] + exact_new + work[p + len(old) :] for p in offsets]
        if len(offsets) > 1 and not replace_all and len(set(at)) > 1:
            exact_cands = [Candidate(ln + 1, 1.0, _preview(file_lines[ln])) for ln in exact_lines]
            return _ambiguous(work, exact_cands, "exactly")
        # A unique exact match still loses to an indentation-shifted twin: the model may have shifted it.
        # Blank lines are not evidence enough either: a model drops and adds them. Places whose replacement
        # gives the very same file are one answer, not two.
        twins = structural
        if len(offsets) == 1 and not replace_all and (
            len(twins) > 1 or (len(twins) == 1 and not twins[0].start <= exact_lines[0] < twins[0].end)
        ) and {at[0], *(_splice(work, [m], old_lines, new_lines) for m in twins)} != {at[0]}:
            return _ambiguous(work, _candidates_from(file_lines, twins), "ignoring indentation")
        result = work.replace(old, exact_new) if replace_all else at[0]
        starts = tuple(ln + 1 for ln in exact_lines)
        return EditOutcome(True, result, "exact", f"replaced {len(offsets)} exact match(es)", len(offsets), starts)

    if structural:
        if len(structural) > 1 and not replace_all:
            if len({_splice(work, [m], old_lines, new_lines) for m in structural}) > 1:
                return _ambiguous(work, _candidates_from(file_lines, structural), "ignoring whitespace and indentation")
            structural = structural[:1]  # every place gives the very same file
        tier = "indent" if any(m.tier == "indent" for m in structural) else "whitespace"
        result = _splice(work, structural, old_lines, new_lines)
        starts = tuple(m.start + 1 for m in structural)
        how = "shifting indentation" if tier == "indent" else "ignoring whitespace differences"
        return EditOutcome(True, result, tier, f"replaced {len(structural)} match(es) {how}", len(structural), starts)

    nonblank = sum(1 for ln in old_lines if ln.strip())
    scored = _fuzzy_scores(file_lines, old_lines)
    if nonblank >= FUZZY_MIN_LINES and scored and not replace_all:
        best = scored[0]
        runner = next((m.score for m in scored[1:] if not _overlaps(m, best)), 0.0)
        if best.score >= FUZZY_THRESHOLD and best.agree >= FUZZY_MIN_AGREE and best.score - runner >= FUZZY_MARGIN:
            result = _splice(work, [best], old_lines, new_lines)
            return EditOutcome(
                True, result, "fuzzy", f"replaced a close match (similarity {best.score:.2f}) at line {best.start + 1}",
                1, (best.start + 1,),
            )
    cands = _closest(file_lines, old_lines)
    if cands:
        message = (
            "old_text was not found (not exactly, nor ignoring whitespace or indentation, nor as a close enough "
            f"unique match). Closest candidates:\n{_describe(cands)}\nRead those lines again and retry with the "
            "exact text."
        )
    else:
        message = "old_text was not found and nothing in the file resembles it; read the file again and retry."
    return EditOutcome(False, work, "", message, candidates=cands)
