"""Edits benchmark: real upstream hunks, sent to edit_file's matcher with model-like noise.

Usage:  python bench/bench_edits.py REPO [REPO ...] [--corpus LIST] [--edits 600] [--seed 7] [--glob '*.py']

Each REPO is a git repository (a work tree or a bare git directory, e.g. one fetched into /work/.mirror);
``--corpus LIST`` names more, one a line (``PATH [NAME]``, ``#`` starts a comment). The corpus is extracted
at run time from their histories: for each non-merge commit that modifies files matching --glob, each
hunk's old side (context + removed lines) and new side (context + added lines) is one edit, applied to the
file as it was in the commit's parent; --edits hunks per repository, newest first. Nothing fetched is
stored in this repo.

Every edit is sent once clean and once per kind of noise, applied to old and new text the way a model
copying the file would: trailing whitespace, tabs for spaces, shifted indentation, CRLF, a dropped blank
line, a partial first line, and blank lines the model added: inside both texts after a context line
(extra_blank), inside old_text only (old_blank), at the start or end of both (blank_start, blank_end), at
the start or end of old_text only (old_blank_edge). Each kind's noise comes from its own random stream
(seeded by --seed, the hunk and the kind), so adding a kind or a repository changes no other figure.

For each it reports, per noise kind and per project: applied exactly as the real commit did; applied in
the wrong place (the file changed outside the lines the hunk's old side covers and the blank lines around
them; target 0); applied there but not byte-exact (mangled); refused; and the same corpus through exact
matching alone (one unique occurrence, plain replace) for comparison. A hunk whose clean old side occurs
more than once in its file is ambiguous: refusing it is right, so it is counted apart (ambig) and left
out of the percentages (target: >= 99.5% applied exactly). Where the noise leaves old_text exact at the
hunk's own place (trailing blanks on added lines only, a blank line added where the file has one), the text
is a real request, not noise: exact matches keep new_text byte for byte, so it is judged against the literal
replacement, and the run prints how many were judged so, per kind.

Some requests are ambiguous in themselves, and two more columns show them apart, never hidden inside
"exact %" (which keeps its definition): ambig~, hunks whose clean old side fits more than one place once
whitespace and indentation are set aside, which the matcher refuses (naming every place; a shifted copy of
one is the text of the other); other, results that are not the commit's but exactly what another real edit
would ask for with the very same old_text and new_text under this bench's noise (run backwards: a blank line
added to old_text alone or to both, a blank context line dropped, trailing blanks added), so no matcher can
tell which was meant. "fair %" counts both as right; the target line reports the strict figure first.
"""

from __future__ import annotations

import argparse
import difflib
import random
import re
import shlex
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

from v4agent.tools.editmatch import apply_edit

NOISES = (
    "none", "trailing_ws", "tabs", "shift_indent", "crlf", "drop_blank", "extra_blank", "partial_first",
    "old_blank", "blank_start", "blank_end", "old_blank_edge",
)
TARGET_APPLIED = 99.5  # percent applied exactly, all kinds together
MAX_HUNK_LINES = 60
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")

Body = tuple[tuple[str, str], ...]  # (tag, line): " " context, "-" removed, "+" added


@dataclass(frozen=True)
class Edit:
    project: str
    commit: str
    path: str
    parent_text: str
    start: int  # 0-based first old line in the parent file
    body: Body

    def sides(self, body: Body | None = None) -> tuple[list[str], list[str]]:
        rows = self.body if body is None else body
        return [t for g, t in rows if g in " -"], [t for g, t in rows if g in " +"]


# --- corpus --------------------------------------------------------------------------------------------------


def _git(git_dir: Path, *args: str) -> str:
    proc = subprocess.run(["git", "--git-dir", str(git_dir), *args], capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.decode("utf-8", "replace"))
    return proc.stdout.decode("utf-8", "replace")


def _git_dir(path: Path) -> Path:
    return path / ".git" if (path / ".git").exists() else path


def project_name(path: Path) -> str:
    """A short name for a repository: ``owner/name`` for a /work/.mirror/owner+name/repo snapshot."""
    path = path.resolve()
    base = path.parent if path.name in ("repo", ".git") else path
    return base.name.replace("+", "/", 1)


def _log_lines(git_dir: Path, glob: str) -> Generator[str, None, None]:
    """The history's patches, line by line, streamed (the caller stops reading once it has enough)."""
    cmd = ["git", "--git-dir", str(git_dir), "log", "--no-merges", "--first-parent", "-p", "-U3", "--no-color",
           "--no-renames", "--diff-filter=M", "--format=COMMIT %H %P", "--", glob]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        try:
            for raw in proc.stdout:
                yield raw.decode("utf-8", "replace").rstrip("\n")
        finally:
            proc.kill()


def extract(git_dir: Path, wanted: int, glob: str, project: str = "") -> list[Edit]:
    """Up to ``wanted`` hunks from the newest commits, each checked against its parent file."""
    edits: list[Edit] = []
    parents: dict[tuple[str, str], str | None] = {}
    commit = parent = path = ""
    lines = _log_lines(git_dir, glob)
    line = next(lines, None)
    while line is not None and len(edits) < wanted:
        if line.startswith("COMMIT "):
            parts = line.split()
            commit, parent = parts[1], (parts[2] if len(parts) > 2 else "")
        elif line.startswith("--- a/"):
            path = line[6:]
        elif (m := _HUNK.match(line)) and parent:
            old_start, old_len = int(m.group(1)), int(m.group(2) or "1")
            body: list[tuple[str, str]] = []
            line = next(lines, None)
            while line is not None and line[:1] in (" ", "-", "+", "\\") and not line.startswith("--- a/"):
                body.append((line[0], line[1:]))
                line = next(lines, None)
            if any(g == "\\" for g, _ in body) or not body or len(body) > MAX_HUNK_LINES:
                continue
            key = (parent, path)
            if key not in parents:
                try:
                    parents[key] = _git(git_dir, "show", f"{parent}:{path}")
                except RuntimeError:
                    parents[key] = None
            text = parents[key]
            if text is None or "\r" in text:
                continue
            edit = Edit(project, commit, path, text, max(old_start - 1, 0) if old_len else old_start, tuple(body))
            old, _ = edit.sides()
            if old and text.split("\n")[edit.start : edit.start + len(old)] == old:
                edits.append(edit)
            continue
        line = next(lines, None)
    lines.close()
    return edits


def expected_result(edit: Edit) -> str:
    old, new = edit.sides()
    lines = edit.parent_text.split("\n")
    return "\n".join(lines[: edit.start] + new + lines[edit.start + len(old) :])


def places_ignoring_whitespace(edit: Edit, old: str) -> int:
    """How many places hold ``old``'s non-blank lines in a row, whitespace and indentation set aside (its first
    line may be a line's tail when it has no indentation of its own, a copy from the middle of a line)."""
    body = [ln.strip() for ln in old.split("\n") if ln.strip()]
    lines = [ln.strip() for ln in edit.parent_text.split("\n") if ln.strip()]
    tail = old.lstrip("\n")[:1] not in (" ", "\t")
    count = 0
    for k in range(len(lines) - len(body) + 1):
        first = lines[k] == body[0] or (tail and len(body) > 1 and lines[k].endswith(body[0]))
        if first and lines[k + 1 : k + len(body)] == body[1:]:
            count += 1
    return count


def literal_request(edit: Edit, old: str, new: str, clean: tuple[str, str]) -> str | None:
    """The literal replacement when the noise left old_text exact, once, at the hunk's own place, else None.

    Such an old_text is no longer noisy: trailing blanks that fell on added lines only, or a blank line added
    where the file has one of its own. An exact match keeps new_text byte for byte (issue #22), so the model's
    text is then a real request and is judged by what it literally asks; these are counted apart ("literal").
    """
    text = edit.parent_text
    if (old, new) == clean or text.count(old) != 1 or _bodies(new) != _bodies(clean[1]):
        return None  # only trailing blanks and blank lines are kept byte for byte (leading tabs take the file's)
    at = text.find(old)
    if at > 0 and text[at - 1] != "\n":
        return None
    here = text.count("\n", 0, at) + _first_body(old)
    return text.replace(old, new, 1) if here == edit.start + _first_body(clean[0]) else None


def _bodies(text: str) -> list[str]:
    return [ln.rstrip() for ln in text.split("\n") if ln.strip()]


def _first_body(text: str) -> int:
    return next((k for k, ln in enumerate(text.split("\n")) if ln.strip()), 0)


# --- noise ---------------------------------------------------------------------------------------------------


def _shift(line: str, by: int) -> str:
    if not line.strip():
        return line
    if by >= 0:
        return " " * by + line
    lead = len(line) - len(line.lstrip(" "))
    return line[min(lead, -by) :]


def _added_blank(edit: Edit, noise: str, rng: random.Random) -> list[tuple[str, str]] | None:
    """The body with one blank line the model added, or None when there is no spot for it.

    A blank line added to old_text alone at its start or end goes only where the file has none: where the
    file has one, dropping it from new_text is a real request to delete it, not noise.
    """
    body = list(edit.body)
    if noise == "extra_blank":  # after a context line, in both texts
        spots = [k + 1 for k, (g, t) in enumerate(body) if g == " " and t.strip()]
        tag = " "
    elif noise == "old_blank":  # between two lines of old_text, in old_text only
        olds = [k for k, (g, _) in enumerate(body) if g in " -"]
        spots = [k + 1 for k in olds[:-1]]
        tag = "-"
    elif noise in ("blank_start", "blank_end"):  # copied one line too many, in both texts
        spots = [0] if noise == "blank_start" else [len(body)]
        tag = " "
    else:  # old_blank_edge
        lines = edit.parent_text.split("\n")
        below = edit.start + len(edit.sides()[0])
        spots = [k for k, at in ((0, edit.start - 1), (len(body), below)) if not 0 <= at < len(lines) or lines[at].strip()]
        tag = "-"
    if not spots:
        return None
    at = rng.choice(spots)
    return [*body[:at], (tag, ""), *body[at:]]


def noisy(edit: Edit, noise: str, seed: int) -> tuple[str, str] | None:
    """(old_text, new_text) as a model might send them, or None when this noise does not apply."""
    rng = random.Random(f"{seed}:{edit.project}:{edit.commit}:{edit.path}:{edit.start}:{noise}")
    body = list(edit.body)
    eol = "\n"
    if noise == "trailing_ws":
        body = [(g, t + rng.choice(["  ", " ", "\t"]) if t.strip() and rng.random() < 0.5 else t) for g, t in body]
        if body == list(edit.body):
            body[0] = (body[0][0], body[0][1] + " ")
    elif noise == "tabs":
        if not any(t.startswith("    ") for _, t in body):
            return None
        body = [(g, re.sub(r"^((?:    )+)", lambda m: "\t" * (len(m.group(1)) // 4), t)) for g, t in body]
    elif noise == "shift_indent":
        widths = [len(t) - len(t.lstrip(" ")) for _, t in body if t.strip()]
        by = -min(widths) if widths and min(widths) >= 4 and rng.random() < 0.7 else 4
        body = [(g, _shift(t, by)) for g, t in body]
    elif noise == "crlf":  # the file stays LF; only the model's text has CRLF
        eol = "\r\n"
    elif noise == "drop_blank":
        blanks = [k for k, (g, t) in enumerate(body) if g == " " and not t.strip()]
        if not blanks:
            return None
        del body[rng.choice(blanks)]
    elif noise == "partial_first":
        g, first = body[0]
        text = first.lstrip()
        if g != " " or len(text) < 12:
            return None
        body[0] = (g, text[rng.randint(3, len(text) // 2) :])
    elif noise != "none":
        added = _added_blank(edit, noise, rng)
        if added is None:
            return None
        body = added
    old, new = edit.sides(tuple(body))
    if not old:
        return None
    return eol.join(old) + eol, eol.join(new) + eol if new else ""


# --- scoring -------------------------------------------------------------------------------------------------


def _changed_span(before: list[str], after: list[str], prefix_first: bool) -> tuple[int, int]:
    """The [first, end) lines of ``before`` that changed, trimming the common prefix (or suffix) first."""
    limit = min(len(before), len(after))
    p = s = 0
    if not prefix_first:
        while s < limit and before[-1 - s] == after[-1 - s]:
            s += 1
    while p < limit - s and before[p] == after[p]:
        p += 1
    while s < limit - p and before[-1 - s] == after[-1 - s]:
        s += 1
    return p, len(before) - s


Hypothesis = tuple[list[str], list[str], str]  # (old, new, what the place must show: "", "top", "bottom", "i,j")


def _hypotheses(text: str, old: list[str], new: list[str]) -> Generator[Hypothesis, None, None]:
    """The (old, new) line lists of the real edits that this bench's blank-line and trailing-blank noise
    could have turned into ``old``/``new``: the noise kinds run backwards (``text``: the file). The third item
    names what the place must show for the noise to apply there: "top" or "bottom", no blank line of the
    file's next to old_text's first or last line (old_blank_edge adds one only there); "i,j", that the blank
    line put back at old line i and new line j is a context line of the edit (drop_blank drops only those)."""
    def without(lines: list[str], k: int) -> list[str]:
        return lines[:k] + lines[k + 1 :]

    blank_old = [i for i, ln in enumerate(old) if not ln.strip()]
    blank_new = [j for j, ln in enumerate(new) if not ln.strip()]
    for i in blank_old:  # old_blank, old_blank_edge: a blank line added to old_text alone
        yield without(old, i), new, _edge(old, i)
    for i in blank_old:  # extra_blank, blank_start, blank_end: one added to both, after the same line
        for j in blank_new:
            if (i == j == 0) or (i == len(old) - 1 and j == len(new) - 1) or (
                i and j and old[i - 1].strip() and old[i - 1] == new[j - 1]
            ):
                yield without(old, i), without(new, j), ""
    for i in range(1, len(old)):  # drop_blank: a blank context line dropped from both, wherever it sat
        if "\n".join([*old[:i], "", *old[i:]]) in text:  # in new_text, among the lines the edit added
            for j in range(len(new) + 1):
                yield [*old[:i], "", *old[i:]], [*new[:j], "", *new[j:]], f"{i},{j}"
    if any(ln != ln.rstrip() for ln in new):  # trailing_ws: blanks the model added to the lines it wrote
        yield old, [ln.rstrip() for ln in new], ""


def _edge(old: list[str], i: int) -> str:
    """Whether taking blank line ``i`` out of ``old`` (its last item: what follows the final newline) leaves
    old_text opening or closing on a non-blank line, so that only old_blank_edge could have added it."""
    lines = old[:-1] if old and old[-1] == "" else old
    nonblank = [k for k, ln in enumerate(lines) if ln.strip()]
    if not nonblank:
        return ""
    if i < nonblank[0] and nonblank[0] == 1:
        return "top"
    if i > nonblank[-1] and nonblank[-1] == len(lines) - 2:
        return "bottom"
    return ""


def _lcs(a: list[str], b: list[str]) -> int:
    """The length of a longest common subsequence of two short lists of lines."""
    row = [0] * (len(b) + 1)
    for x in a:
        prev, row = row, [0]
        for k, y in enumerate(b):
            row.append(prev[k] + 1 if x == y else max(prev[k + 1], row[k]))
    return row[-1]


def _holds(text: str, at: int, candidate: str, o: list[str], n: list[str], check: str) -> bool:
    """Whether the place of ``candidate`` (at offset ``at``) shows what hypothesis (o, n) needs (_hypotheses)."""
    if check == "top":
        return at == 0 or bool(text[: at - 1].rsplit("\n", 1)[-1].strip())
    if check == "bottom":
        # As _added_blank reads the file: what follows its last newline counts as a blank line.
        return bool(text[at + len(candidate) :].split("\n", 1)[0].strip())
    if check:  # a blank line at (i, j) that some shortest diff of o and n keeps: a context line
        i, j = (int(v) for v in check.split(","))
        return _lcs(o[:i], n[:j]) + 1 + _lcs(o[i + 1 :], n[j + 1 :]) == _lcs(o, n)
    return True


def other_reading(edit: Edit, old: str, new: str, result: str) -> bool:
    """True when ``result`` is exactly what another real edit, sent with this bench's noise, would have asked
    for with these very texts: the request is ambiguous and the matcher took the other reading."""
    text = edit.parent_text
    olds, news = old.split("\n"), new.split("\n")
    for o, n, check in _hypotheses(text, olds, news):
        if not any(ln.strip() for ln in o):
            continue
        candidate = "\n".join(o)
        at = text.find(candidate)
        if (text.count(candidate) == 1 and (at == 0 or text[at - 1] == "\n")
                and text.replace(candidate, "\n".join(n), 1) == result and _holds(text, at, candidate, o, n, check)):
            return True
    return False


def classify(result: str | None, edit: Edit, want: str) -> str:
    """exact, wrong_place (lines changed outside the hunk's old side and the blank lines around it),
    mangled (changed there, but not as the commit did) or refused."""
    if result is None:
        return "refused"
    if result == want:
        return "exact"
    old, _ = edit.sides()
    before, after = edit.parent_text.split("\n"), result.split("\n")
    if before == after:
        return "mangled"  # nothing changed (e.g. a hunk that only strips trailing blanks, sent with them)
    # The hunk's old side and the blank lines around it (which a model's old_text may take in as context):
    # a change confined to them is at the right place, whatever its blank lines.
    lo, hi = edit.start, edit.start + len(old)
    while lo > 0 and not before[lo - 1].strip():
        lo -= 1
    while hi < len(before) and not before[hi].strip():
        hi += 1
    # An edit beside a run of equal lines is explained at either end of the run: either will do.
    spans = [_changed_span(before, after, first) for first in (True, False)]
    return "mangled" if any(lo <= a and b <= hi for a, b in spans) else "wrong_place"


def run_matcher(edit: Edit, old: str, new: str, want: str) -> tuple[str, int | None]:
    outcome = apply_edit(edit.parent_text, old, new)
    where = outcome.lines[0] if outcome.lines else None
    verdict = classify(outcome.content if outcome.ok else None, edit, want)
    if verdict == "mangled" and other_reading(edit, old, new, outcome.content):
        verdict = "other_reading"
    return verdict, where


def explain(edit: Edit, old: str, new: str, want: str) -> str:
    """Why a shown failure failed: the matcher's refusal, or how its result differs from the one wanted."""
    outcome = apply_edit(edit.parent_text, old, new)
    if not outcome.ok:
        return "refused: " + outcome.message
    diff = difflib.unified_diff(want.split("\n"), outcome.content.split("\n"), "wanted", "got", n=1, lineterm="")
    return f"tier {outcome.tier}: " + outcome.message + "\n" + "\n".join(diff)


def run_exact(edit: Edit, old: str, new: str, want: str) -> str:
    text = edit.parent_text
    return classify(text.replace(old, new, 1) if text.count(old) == 1 else None, edit, want)


# --- report --------------------------------------------------------------------------------------------------

Tally = dict[str, Counter[str]]  # "matcher" | "exact-only" -> verdict counts


def _tally() -> Tally:
    return {"matcher": Counter(), "exact-only": Counter()}


def applied(counts: Counter[str]) -> float:
    """Percent applied exactly, of the edits that are not ambiguous (refusing those is right)."""
    return 100 * counts["exact"] / max(sum(counts.values()) - counts["ambiguous"], 1)


def fair(counts: Counter[str]) -> float:
    """Percent applied exactly or as another real edit's reading of the same texts (other_reading), of the
    edits that are not ambiguous, exactly or once whitespace and indentation are set aside (ambiguous_ws)."""
    right = counts["exact"] + counts["other_reading"]
    return 100 * right / max(sum(counts.values()) - counts["ambiguous"] - counts["ambiguous_ws"], 1)


def _table(title: str, rows: dict[str, Tally], total: Tally) -> None:
    header = (f"{title:<20}{'edits':>7}{'ambig':>6}{'ambig~':>7} | {'exact %':>8}{'wrong':>7}{'mangled':>9}"
              f"{'refused':>9}{'other':>7}{'fair %':>9} | {'exact-only %':>13}{'wrong':>7}{'refused':>9}")
    print(header)
    print("-" * len(header))

    def row(label: str, t: Tally) -> None:
        m, b = t["matcher"], t["exact-only"]
        n = sum(m.values())
        if n:
            print(f"{label:<20}{n:>7}{m['ambiguous']:>6}{m['ambiguous_ws']:>7} | {applied(m):>7.2f}%"
                  f"{m['wrong_place']:>7}{m['mangled']:>9}{m['refused']:>9}{m['other_reading']:>7}{fair(m):>8.2f}% | "
                  f"{applied(b):>12.2f}%{b['wrong_place']:>7}{b['refused']:>9}")

    for label, t in rows.items():
        row(label, t)
    print("-" * len(header))
    row("all", total)
    print()


def _repos(args: argparse.Namespace) -> list[tuple[Path, str]]:
    repos = [(Path(p), project_name(Path(p))) for p in args.repo]
    if args.corpus:
        for raw in Path(args.corpus).read_text().splitlines():
            fields = raw.split("#", 1)[0].split()
            if fields:
                repos.append((Path(fields[0]), fields[1] if len(fields) > 1 else project_name(Path(fields[0]))))
    return repos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", nargs="*", help="git repositories (work trees or bare git directories)")
    parser.add_argument("--corpus", help="a file naming more repositories, one a line: PATH [NAME]")
    parser.add_argument("--edits", type=int, default=600, help="real hunks to extract per repository (default 600)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--glob", default="*.py", help="files whose hunks are used (default *.py)")
    parser.add_argument("--show-failures", type=int, default=0,
                        help="print this many failures per kind and verdict, each with the refusal or the diff")
    args = parser.parse_args(argv)
    repos = _repos(args)
    if not repos:
        parser.error("name at least one repository (REPO or --corpus)")
    print("command:", shlex.join([Path(sys.executable).name, *sys.argv]))
    started = time.perf_counter()
    edits: list[Edit] = []
    for path, name in repos:
        got = extract(_git_dir(path), args.edits, args.glob, name)
        print(f"corpus: {len(got):>5} hunks from {len({e.commit for e in got}):>4} commits of {name} ({path})")
        edits.extend(got)
    print(f"corpus: {len(edits)} hunks from {len(repos)} repositories ({time.perf_counter() - started:.1f}s to extract)")
    if len(edits) < 2000 or len(repos) < 4:
        print("warning: fewer than 2,000 hunks or fewer than 4 projects")
    per_noise = {n: _tally() for n in NOISES}
    per_project = {name: _tally() for _, name in repos}
    total = _tally()
    shown: Counter[tuple[str, str]] = Counter()
    literals: Counter[str] = Counter()
    spent, calls = 0.0, 0
    for edit in edits:
        want = expected_result(edit)
        clean = noisy(edit, "none", args.seed)
        ambiguous = clean is not None and edit.parent_text.count(clean[0]) > 1
        ambiguous_ws = clean is not None and not ambiguous and places_ignoring_whitespace(edit, clean[0]) > 1
        for noise in NOISES:
            sent = noisy(edit, noise, args.seed)
            if sent is None:
                continue
            old, new = sent
            literal = literal_request(edit, old, new, clean) if clean is not None else None
            judged = want if literal is None else literal
            literals[noise] += literal is not None and literal != want
            t0 = time.perf_counter()
            verdict, where = run_matcher(edit, old, new, judged)
            spent += time.perf_counter() - t0
            calls += 1
            base = run_exact(edit, old, new, judged)
            if ambiguous:  # the clean old side is found more than once: refusing is the right answer
                verdict, base = (v.replace("refused", "ambiguous") for v in (verdict, base))
            elif ambiguous_ws and verdict == "refused":  # the matcher cannot tell a shifted copy from the other
                verdict = "ambiguous_ws"
            for t in (per_noise[noise], per_project[edit.project], total):
                t["matcher"][verdict] += 1
                t["exact-only"][base] += 1
            if verdict not in ("exact", "ambiguous", "ambiguous_ws") and shown[noise, verdict] < args.show_failures:
                shown[noise, verdict] += 1
                print(f"--- {verdict} [{noise}] {edit.project} {edit.commit[:10]} {edit.path}:{edit.start + 1} "
                      f"(edited at line {where})\n{old!r}\n=> {new!r}\n{explain(edit, old, new, judged)}")
    print()
    _table("noise", {n: per_noise[n] for n in NOISES}, total)
    if literals:
        print("judged literally (the noise left old_text exact at the hunk's place, so an exact match that keeps "
              "new_text byte for byte is right): " + ", ".join(f"{n} {literals[n]}" for n in NOISES if literals[n]))
        print()
    _table("project", per_project, total)
    m = total["matcher"]
    print(f"targets: applied exactly >= {TARGET_APPLIED}% (got {applied(m):.2f}%), "
          f"wrong place = 0 (got {m['wrong_place']})")
    print(f"ambiguous requests: {m['ambiguous_ws']} refused (ambig~: the clean old side fits more than one place "
          f"once whitespace and indentation are set aside, and the refusal names them), {m['other_reading']} applied "
          f"as another reading (other: the same texts are what another real edit would send with this bench's "
          f"noise, and the result is that edit's); counting both as right: {fair(m):.2f}% (fair %)")
    print(f"matcher time: {1000 * spent / max(calls, 1):.2f} ms per edit ({calls} edits)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
