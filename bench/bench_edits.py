"""Edits benchmark: real upstream hunks, sent to edit_file's matcher with model-like noise.

Usage:  python bench/bench_edits.py GIT_DIR [--edits 600] [--seed 7] [--glob '*.py']

GIT_DIR is any git repository (a work tree or a bare git directory, e.g. one fetched into /work/.mirror).
The corpus is extracted at run time from its history: for each non-merge commit that modifies files
matching --glob, each hunk's old side (context + removed lines) and new side (context + added lines) is
one edit, applied to the file as it was in the commit's parent. Nothing fetched is stored in this repo.

Every edit is sent once clean and once per kind of noise (trailing whitespace, tabs for spaces, shifted
indentation, CRLF, a dropped blank line, an extra blank line, a partial first line), applied to old and new
text the way a model copying the file would. For each it reports: applied exactly as the real commit did,
applied in the wrong place (target 0), applied at the right place but not byte-exact, and refused; and the
same corpus through exact matching alone (one unique occurrence, plain replace) for comparison.
"""

from __future__ import annotations

import argparse
import random
import re
import shlex
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from v4agent.tools.editmatch import apply_edit

NOISES = ("none", "trailing_ws", "tabs", "shift_indent", "crlf", "drop_blank", "extra_blank", "partial_first")
MAX_HUNK_LINES = 60
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class Edit:
    commit: str
    path: str
    parent_text: str
    start: int  # 0-based first old line in the parent file
    body: tuple[tuple[str, str], ...]  # (tag, line): " " context, "-" removed, "+" added

    def sides(self, body: tuple[tuple[str, str], ...] | None = None) -> tuple[list[str], list[str]]:
        rows = self.body if body is None else body
        return [t for g, t in rows if g in " -"], [t for g, t in rows if g in " +"]


def _git(git_dir: Path, *args: str) -> str:
    proc = subprocess.run(["git", "--git-dir", str(git_dir), *args], capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.decode("utf-8", "replace"))
    return proc.stdout.decode("utf-8", "replace")


def _git_dir(path: Path) -> Path:
    return path / ".git" if (path / ".git").exists() else path


def extract(git_dir: Path, wanted: int, glob: str) -> list[Edit]:
    log = _git(git_dir, "log", "--no-merges", "--first-parent", "-p", "-U3", "--no-color", "--no-renames",
               "--diff-filter=M", "--format=COMMIT %H %P", "--", glob)
    edits: list[Edit] = []
    parents: dict[tuple[str, str], str | None] = {}
    commit = parent = path = ""
    lines = log.split("\n")
    i = 0
    while i < len(lines) and len(edits) < wanted:
        line = lines[i]
        if line.startswith("COMMIT "):
            parts = line.split()
            commit, parent = parts[1], (parts[2] if len(parts) > 2 else "")
        elif line.startswith("--- a/"):
            path = line[6:]
        elif (m := _HUNK.match(line)) and parent:
            old_start, old_len = int(m.group(1)), int(m.group(2) or "1")
            body: list[tuple[str, str]] = []
            i += 1
            while i < len(lines) and lines[i][:1] in (" ", "-", "+", "\\") and not lines[i].startswith("--- a/"):
                body.append((lines[i][0], lines[i][1:]))
                i += 1
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
            edit = Edit(commit, path, text, max(old_start - 1, 0) if old_len else old_start, tuple(body))
            old, _ = edit.sides()
            file_lines = text.split("\n")
            if not old or file_lines[edit.start : edit.start + len(old)] != old:
                continue
            edits.append(edit)
            continue
        i += 1
    return edits


def expected_result(edit: Edit) -> str:
    old, new = edit.sides()
    lines = edit.parent_text.split("\n")
    return "\n".join(lines[: edit.start] + new + lines[edit.start + len(old) :])


# --- noise ---------------------------------------------------------------------------------------------------


def _shift(line: str, by: int) -> str:
    if not line.strip():
        return line
    if by >= 0:
        return " " * by + line
    lead = len(line) - len(line.lstrip(" "))
    return line[min(lead, -by) :]


def noisy(edit: Edit, noise: str, rng: random.Random) -> tuple[str, str] | None:
    """(old_text, new_text) as a model might send them, or None when this noise does not apply."""
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
    elif noise == "crlf":
        eol = "\r\n"
    elif noise == "drop_blank":
        blanks = [k for k, (g, t) in enumerate(body) if g == " " and not t.strip()]
        if not blanks:
            return None
        del body[rng.choice(blanks)]
    elif noise == "extra_blank":
        spots = [k for k, (g, t) in enumerate(body) if g == " " and t.strip()]
        if not spots:
            return None
        body.insert(rng.choice(spots) + 1, (" ", ""))
    elif noise == "partial_first":
        g, first = body[0]
        text = first.lstrip()
        if g != " " or len(text) < 12:
            return None
        body[0] = (g, text[rng.randint(3, len(text) // 2) :])
    old, new = edit.sides(tuple(body))
    if not old:
        return None
    return eol.join(old) + eol, eol.join(new) + eol if new else ""


# --- scoring -------------------------------------------------------------------------------------------------


def _classify(result: str | None, where: int | None, edit: Edit, want: str) -> str:
    if result is None:
        return "refused"
    if result == want:
        return "exact"
    old, _ = edit.sides()
    if where is not None and edit.start - 3 <= where <= edit.start + len(old) + 3:
        return "mangled"
    return "wrong_place"


def run_matcher(edit: Edit, old: str, new: str, want: str) -> str:
    outcome = apply_edit(edit.parent_text, old, new)
    if not outcome.ok:
        return "refused"
    where = outcome.lines[0] - 1 if outcome.lines else None
    return _classify(outcome.content, where, edit, want)


def run_exact(edit: Edit, old: str, new: str, want: str) -> str:
    text = edit.parent_text
    if text.count(old) != 1:
        return "refused"
    pos = text.find(old)
    return _classify(text.replace(old, new, 1), text.count("\n", 0, pos), edit, want)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path, help="a git repository (work tree or bare git directory)")
    parser.add_argument("--edits", type=int, default=600, help="number of real hunks to extract (default 600)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--glob", default="*.py", help="files whose hunks are used (default *.py)")
    parser.add_argument("--show-failures", type=int, default=0, help="print this many failures per kind")
    args = parser.parse_args(argv)
    print("command:", shlex.join([Path(sys.executable).name, *sys.argv]))
    started = time.perf_counter()
    edits = extract(_git_dir(args.repo), args.edits, args.glob)
    print(f"corpus: {len(edits)} hunks from {len({e.commit for e in edits})} commits of {args.repo} "
          f"({time.perf_counter() - started:.1f}s to extract)")
    if len(edits) < 500:
        print("warning: fewer than 500 edits in this repository's history")
    rng = random.Random(args.seed)
    tiers: dict[str, Counter[str]] = {"matcher": Counter(), "exact-only": Counter()}
    per_noise: dict[str, dict[str, Counter[str]]] = {n: {"matcher": Counter(), "exact-only": Counter()} for n in NOISES}
    shown: Counter[str] = Counter()
    spent = 0.0
    calls = 0
    for edit in edits:
        want = expected_result(edit)
        for noise in NOISES:
            sent = noisy(edit, noise, rng)
            if sent is None:
                continue
            old, new = sent
            if noise == "crlf":  # the file stays LF; only the model's text has CRLF
                pass
            t0 = time.perf_counter()
            verdict = run_matcher(edit, old, new, want)
            spent += time.perf_counter() - t0
            calls += 1
            base = run_exact(edit, old, new, want)
            for name, v in (("matcher", verdict), ("exact-only", base)):
                tiers[name][v] += 1
                per_noise[noise][name][v] += 1
            if verdict != "exact" and shown[noise] < args.show_failures:
                shown[noise] += 1
                print(f"--- {verdict} [{noise}] {edit.commit[:10]} {edit.path}:{edit.start + 1}\n{old!r}\n=> {new!r}")
    print()
    header = f"{'noise':<14}{'edits':>7} | {'exact %':>8}{'wrong':>7}{'mangled':>9}{'refused':>9} | " \
             f"{'exact-only %':>13}{'wrong':>7}{'refused':>9}"
    print(header)
    print("-" * len(header))

    def row(label: str, m: Counter[str], b: Counter[str]) -> None:
        total = sum(m.values())
        if not total:
            return
        print(f"{label:<14}{total:>7} | {100 * m['exact'] / total:>7.2f}%{m['wrong_place']:>7}{m['mangled']:>9}"
              f"{m['refused']:>9} | {100 * b['exact'] / total:>12.2f}%{b['wrong_place']:>7}{b['refused']:>9}")

    for noise in NOISES:
        row(noise, per_noise[noise]["matcher"], per_noise[noise]["exact-only"])
    print("-" * len(header))
    row("all", tiers["matcher"], tiers["exact-only"])
    total = sum(tiers["matcher"].values())
    print(f"\ntargets: >= 99% applied exactly (got {100 * tiers['matcher']['exact'] / max(total, 1):.2f}%), "
          f"0 in the wrong place (got {tiers['matcher']['wrong_place']})")
    print(f"matcher time: {1000 * spent / max(calls, 1):.2f} ms per edit ({calls} edits)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
