"""grep: ripgrep (the binary from the ``ripgrep`` wheel) with a pure-Python fallback; ``path:line: text``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pathspec

from v4agent.secrets.results import redact_hits
from v4agent.tools.edit import ToolFailure, decode
from v4agent.tools.files import repo_files
from v4agent.tools.paths import is_refused_rel, resolve_repo_path

__all__ = ["find_rg", "grep"]

DEFAULT_RESULTS = 100
MAX_RESULTS = 1000
MAX_LINE_CHARS = 300


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


def _rg(rg: str, root: Path, pattern: str, rel: str, glob: str | None, ignore_case: bool) -> list[tuple[str, int, str]]:
    cmd = [rg, "--line-number", "--no-heading", "--with-filename", "--color=never", "--null", "--hidden",
           "--glob", "!.git", "--glob", "!.v4agent", "--max-columns", str(MAX_LINE_CHARS * 2), "--max-columns-preview"]
    if ignore_case:
        cmd.append("--ignore-case")
    if glob:
        cmd += ["--glob", glob]
    cmd += ["--regexp", pattern, "--", rel]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, timeout=120, check=False)
    if proc.returncode == 2 and not proc.stdout:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ToolFailure("grep failed: " + (" ".join(message[-3:]) or "ripgrep error"))
    results: list[tuple[str, int, str]] = []
    for raw in proc.stdout.split(b"\n"):
        if b"\0" not in raw:
            continue
        name, rest = raw.split(b"\0", 1)
        number, _, text = rest.partition(b":")
        if not number.isdigit():
            continue
        path = name.decode("utf-8", "replace")
        path = path[2:] if path.startswith("./") else path
        results.append((path, int(number), decode(text)[0]))
    results.sort(key=lambda r: (r[0], r[1]))
    return results


def _python(root: Path, pattern: str, rel: str, glob: str | None, ignore_case: bool) -> list[tuple[str, int, str]]:
    try:
        regex = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise ToolFailure(f"bad regular expression {pattern!r}: {exc}") from exc
    spec = pathspec.PathSpec.from_lines("gitwildmatch", [glob]) if glob else None
    results: list[tuple[str, int, str]] = []
    for name in repo_files(root):
        if rel != "." and name != rel and not name.startswith(rel.rstrip("/") + "/"):
            continue
        if spec is not None and not spec.match_file(name):
            continue
        try:
            data = (root / name).read_bytes()
        except OSError:
            continue
        if b"\x00" in data[:8192]:
            continue
        for number, line in enumerate(decode(data)[0].splitlines(), 1):
            if regex.search(line):
                results.append((name, number, line))
    return results


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
    if not results:
        return f"no matches for {pattern!r}" + (f" in {target.rel}" if target.rel != "." else "")
    kept = results[:limit]
    texts, redacted = redact_hits([(p, t) for p, _, t in kept])
    shown = [f"{p}:{n}: {_shorten(t)}" for (p, n, _), t in zip(kept, texts, strict=True)]
    cut = len(results) - len(shown)
    if cut:
        files = len({p for p, _, _ in results})
        shown.append(f"[... {cut} more matches not shown ({len(results)} in {files} files); narrow the search "
                     "or raise max_results]")
    if redacted:
        shown.append(f"[{redacted} secret value(s) redacted]")
    return "\n".join(shown)
