"""Benchmark: `v4agent pack` on the Django 5.2 source, side by side with repomix and the tokenize-only floor.

    python bench/bench_pack.py [--repeat N] [--only CASE,...] [--profile CASE]

Prints every figure of issue 4's "Speed and memory" in one run: case, v4agent time, anchor, ratio, target,
pass/fail, and the peak RSS of each case. With ``floor`` and ``v4-budget`` it also measures the 1M-budget
floor: the tree-sitter symbols every cold ranking needs plus a V4 count of one budget's worth of text. Every case runs in its own process; its peak RSS comes from
``os.wait4`` (the child's rusage, covering its waited-for descendants), its time is that process's wall
time (interpreter start, imports and tokenizer load included, like repomix's own process). The in-process
build time is shown beside it. ``--profile CASE`` runs one case under cProfile and prints the hotspots.

Corpus: ``pip download --no-deps --no-binary :all: django==5.2``, extracted with ``tar --no-same-owner`` and
committed to a git repository, prepared once under ~/.cache/v4agent-bench/. repomix 1.14.0 comes from the
npm registry (``npm install`` once into the same cache; the same package ``npx repomix@1.14.0`` runs, started
without npx's own start-up). Cold = the repository's ``.v4agent/`` state (token cache) removed first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from v4agent.pack import PackOptions

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "v4agent-bench"
DJANGO = "django==5.2"
REPOMIX = "repomix@1.14.0"
GIB = 1 << 30
_GIT = ["git", "-c", "user.email=bench@v4agent.invalid", "-c", "user.name=bench", "-c", "commit.gpgsign=false"]


# ---------------------------------------------------------------- corpus and repomix (prepared once, cached)

def prepare_corpus(cache: Path = CACHE) -> Path:
    """The Django 5.2 sdist as a one-commit git repository (built in a temp dir, renamed into place)."""
    repo = cache / "django-5.2-repo"
    if (repo / ".git").is_dir():
        return repo
    cache.mkdir(parents=True, exist_ok=True)
    archives = sorted(cache.glob("[Dd]jango-5.2.tar.gz"))
    if not archives:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", DJANGO,
                        "-d", str(cache)], check=True, stdout=subprocess.DEVNULL)
        archives = sorted(cache.glob("[Dd]jango-5.2.tar.gz"))
    work = Path(tempfile.mkdtemp(prefix="django-repo-", dir=cache))
    subprocess.run(["tar", "--no-same-owner", "--strip-components=1", "-xzf", str(archives[0]), "-C", str(work)],
                   check=True)
    subprocess.run([*_GIT, "init", "-q", "-b", "main", str(work)], check=True)
    subprocess.run([*_GIT, "-C", str(work), "add", "-A", "-f"], check=True)
    subprocess.run([*_GIT, "-C", str(work), "commit", "-q", "-m", "Django 5.2 sdist"], check=True)
    work.rename(repo)
    return repo


def prepare_repomix(cache: Path = CACHE) -> list[str]:
    """Command that runs repomix 1.14.0 (installed once from the npm registry into the cache)."""
    prefix = cache / "repomix-1.14.0"
    script = prefix / "node_modules" / "repomix" / "bin" / "repomix.cjs"
    if not script.is_file():
        subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(prefix), REPOMIX],
                       check=True, stdout=subprocess.DEVNULL)
    if not script.is_file():  # fall back to the package's declared bin
        meta = json.loads((prefix / "node_modules" / "repomix" / "package.json").read_text())
        bin_rel = meta["bin"] if isinstance(meta["bin"], str) else meta["bin"]["repomix"]
        script = prefix / "node_modules" / "repomix" / bin_rel
    return ["node", str(script)]


def tracked_files(repo: Path) -> list[str]:
    out = subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], check=True, capture_output=True).stdout
    return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]


def default_budget(repo: Path) -> int:
    """The budget `v4agent pack` uses by default (the model's window less ``pack.reserve``); env vars ignored."""
    from v4agent.core.config import load_config
    from v4agent.pack.fromconfig import default_budget as budget_of

    return budget_of(load_config(repo, environ={}))


def clear_state(repo: Path) -> None:
    shutil.rmtree(repo / ".v4agent", ignore_errors=True)


# ---------------------------------------------------------------- the cases (each runs in a child process)

def _case_floor(repo: Path, tokenizer: str, out: Path, *, encode: bool = True) -> dict[str, object]:
    """Read every text file and tokenize it once, in one process (batched: both cores for the V4 tokenizer).
    ``encode``: a full encode by the tokenizer library (the issue's floor); else v4agent's exact counter."""
    from v4agent.tokens.tokenizer import get_tokenizer

    tok = get_tokenizer(tokenizer)
    count_many = tok.count_many
    if encode and tokenizer == "deepseek-v4":  # the V4 counter skips the encode; the floor is the encode
        from tokenizers import Tokenizer

        from v4agent.tokens.tokenizer import deepseek_v4_tokenizer_path

        impl = Tokenizer.from_file(deepseek_v4_tokenizer_path())

        def count_many(texts: list[str]) -> list[int]:
            return [len(e.ids) for e in impl.encode_batch_fast(texts, add_special_tokens=False)]

    start = time.perf_counter()
    total = files = 0
    chunk: list[str] = []
    for rel in tracked_files(repo):
        data = (repo / rel).read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary
        chunk.append(data.decode("utf-8", "replace"))
        files += 1
        if len(chunk) >= 256:
            total += sum(count_many(chunk))
            chunk = []
    total += sum(count_many(chunk))
    return {"build_s": time.perf_counter() - start, "tokens": total, "files": files}


def _case_budget_floor(repo: Path, out: Path) -> dict[str, object]:
    """The work a cold 1M-budget pack cannot skip, as the issue asks for it: tree-sitter symbols of every code
    file the pack keeps (ranking needs them all; one process, serial) and a V4 count of as much text as the
    budget emits (batched: both cores). Its 2-core lower bound halves the serial part."""
    from v4agent.pack.rank.symbols import extract_symbols, language_for, parse
    from v4agent.pack.select.classify import path_skip_reason
    from v4agent.tokens.tokenizer import get_tokenizer

    budget = default_budget(repo)
    tok = get_tokenizer("deepseek-v4")
    texts: list[tuple[str, str]] = []
    for rel in tracked_files(repo):
        if path_skip_reason(rel, (), ()) is not None:
            continue
        try:
            texts.append((rel, (repo / rel).read_text(encoding="utf-8")))
        except (UnicodeDecodeError, OSError):
            continue
    start = time.process_time()
    code = [(rel, text) for rel, text in texts if language_for(rel)]
    for rel, text in code:
        extract_symbols(rel, text)
    symbols_cpu = time.process_time() - start
    start = time.process_time()
    for rel, text in code:  # the parse alone: the part of the symbols no query or capture change can remove
        parse(language_for(rel) or "", text)
    parse_cpu = time.process_time() - start
    start = time.perf_counter()
    counted = 0
    for i in range(0, len(texts), 64):
        counted += sum(tok.count_many([text for _, text in texts[i:i + 64]]))
        if counted >= budget:
            break
    count_wall = time.perf_counter() - start
    return {"build_s": symbols_cpu / 2 + count_wall, "symbols_cpu_s": round(symbols_cpu, 2),
            "parse_cpu_s": round(parse_cpu, 2), "count_wall_s": round(count_wall, 2), "code_files": len(code),
            "tokens": counted}


def _pack_options(tokenizer: str, budget: int | None) -> PackOptions:
    from v4agent.pack import PackOptions

    return PackOptions(tokenizer=tokenizer, budget=budget)


def _case_pack(repo: Path, tokenizer: str, budget: int | None, out: Path) -> dict[str, object]:
    from v4agent.pack import Snapshot

    options = _pack_options(tokenizer, budget)
    start = time.perf_counter()
    snap = Snapshot.build(repo, options)
    build_s = time.perf_counter() - start
    out.write_text(snap.text, encoding="utf-8")
    modes: dict[str, int] = {}
    for f in snap.files:
        modes[f.mode] = modes.get(f.mode, 0) + 1
    return {"build_s": build_s, "tokens": snap.token_count, "files": len(snap.files), "modes": modes,
            "skipped": len(snap.skipped), "bytes": len(snap.text.encode("utf-8"))}


def _case_refresh(repo: Path, tokenizer: str, budget: int | None, out: Path) -> dict[str, object]:
    """In-process: build (warm), edit one file, time ``delta()``; the file is restored afterwards."""
    from v4agent.pack import Snapshot

    snap = Snapshot.build(repo, _pack_options(tokenizer, budget))
    target = repo / "django" / "utils" / "text.py"
    original = target.read_bytes()
    times: list[float] = []
    try:
        for i in range(5):
            target.write_bytes(original + f"\n# bench edit {i}\n".encode())
            start = time.perf_counter()
            delta = snap.delta()
            times.append(time.perf_counter() - start)
    finally:
        target.write_bytes(original)
    return {"build_s": min(times), "delta_all_s": times, "tokens": delta.tokens, "paths": list(delta.paths)}


_CHILD_CASES: dict[str, Callable[[Path, Path], dict[str, object]]] = {
    "floor-v4": lambda repo, out: _case_floor(repo, "deepseek-v4", out),
    "floor-o200k": lambda repo, out: _case_floor(repo, "o200k", out),
    "count-v4": lambda repo, out: _case_floor(repo, "deepseek-v4", out, encode=False),
    "o200k-none": lambda repo, out: _case_pack(repo, "o200k", None, out),
    "v4-none": lambda repo, out: _case_pack(repo, "deepseek-v4", None, out),
    "v4-budget": lambda repo, out: _case_pack(repo, "deepseek-v4", default_budget(repo), out),
    "v4-refresh": lambda repo, out: _case_refresh(repo, "deepseek-v4", default_budget(repo), out),
    "floor-v4-budget": _case_budget_floor,
}


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    rss_bytes: int
    info: dict[str, object]
    error: str = ""


# Bytecode allowed: an installed v4agent has its .pyc files (pip writes them), so the first child writes them and
# the others load them, as a user's runs do; with PYTHONDONTWRITEBYTECODE set, every child would compile every
# module again.
_BYTECODE_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run_child(argv: list[str], cwd: Path | None = None, error_of: Callable[[list[str]], str] | None = None) -> Run:
    """Run one process; wall time, CPU time and peak RSS from its own rusage (os.wait4). A failure's error is
    the last line of its stderr, or what ``error_of`` picks from its lines."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, env=_BYTECODE_ENV)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        out, err = stdout.read().decode(errors="replace"), stderr.read().decode(errors="replace")
    info: dict[str, object] = {}
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if lines:
        info = json.loads(lines[-1])
    lines = err.strip().splitlines()
    error = "" if proc.returncode == 0 else (error_of or _last)(lines) or f"exit {proc.returncode}"
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, info, error)


def _last(lines: list[str]) -> str:
    return lines[-1] if lines else ""


def best_of(repeat: int, run: Callable[[], Run], *, before: Callable[[], None] = lambda: None) -> Run:
    """The run with the least wall time of ``repeat`` (``before`` each: a cold run clears the state); the first
    error ends it. On a shared machine the least is the one the other sessions disturbed least."""
    best: Run | None = None
    for _ in range(repeat):
        before()
        one = run()
        if one.error:
            return one
        if best is None or one.wall_s < best.wall_s:
            best = one
    assert best is not None
    return best


def run_case(case: str, repo: Path, repeat: int, *, cold: bool) -> Run:
    """Best (least wall time) of ``repeat`` runs; a cold run starts with no ``.v4agent/`` state."""

    def one() -> Run:
        with tempfile.TemporaryDirectory() as tmp:
            return run_child([sys.executable, __file__, "--child", case, "--corpus", str(repo),
                              "--out", str(Path(tmp) / "pack.txt")])

    return best_of(repeat, one, before=(lambda: clear_state(repo)) if cold else (lambda: None))


def run_repomix(repo: Path, repeat: int) -> Run:
    cmd = prepare_repomix()

    def one() -> Run:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "repomix.xml"
            run = run_child([*cmd, "--style", "xml", "-o", str(out), "."], cwd=repo)
            if not run.error:
                run.info = {"bytes": out.stat().st_size}
        return run

    return best_of(repeat, one)


# ---------------------------------------------------------------- the table

@dataclass
class Row:
    case: str
    run: Run | None
    anchor: str
    ratio: float | None
    target: str
    ok: bool | None
    note: str = ""


def _fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _ratio_row(case: str, run: Run, anchor_name: str, anchor: Run, limit: float, note: str = "") -> Row:
    if run.error or anchor.error:
        return Row(case, run, anchor_name, None, f"<= {limit:g}x", None, run.error or anchor.error)
    ratio = run.wall_s / anchor.wall_s
    return Row(case, run, f"{anchor_name} {_fmt_s(anchor.wall_s)}", ratio, f"<= {limit:g}x", ratio <= limit, note)


def _abs_row(case: str, run: Run, seconds: float, *, key: str = "wall_s", extra_ok: bool = True,
             note: str = "") -> Row:
    if run.error:
        return Row(case, run, f"{_fmt_s(seconds)}", None, f"< {_fmt_s(seconds)}", None, run.error)
    value = run.wall_s if key == "wall_s" else float(run.info[key])  # type: ignore[arg-type]
    return Row(case, run, f"{_fmt_s(seconds)}", value / seconds, f"< {_fmt_s(seconds)}",
               value < seconds and extra_ok, note)


def print_table(rows: list[Row], anchors: dict[str, Run]) -> None:
    from rich.console import Console
    from rich.table import Table

    verdict = {True: "[green]PASS", False: "[red]FAIL", None: "[yellow]n/a"}
    table = Table(title="v4agent pack on Django 5.2 (issue 4: Speed and memory)")
    for col in ("case", "v4agent", "in-process", "CPU", "anchor", "ratio", "target", "result", "peak RSS",
                "RSS < 1 GiB", "notes"):
        table.add_column(col, overflow="fold")
    for row in rows:
        run = row.run
        ok_run = run is not None and not run.error
        build = run.info.get("build_s") if run else None
        build_s = _fmt_s(build) if isinstance(build, float) else ""
        # The refresh row is an in-process figure (the delta call); the others are whole-process wall times.
        main = build_s if row.case.startswith("refresh") else (_fmt_s(run.wall_s) if run and ok_run else "n/a")
        table.add_row(
            row.case, main, build_s, _fmt_s(run.cpu_s) if run and ok_run and not row.case.startswith("refresh") else "", row.anchor,
            f"{row.ratio:.2f}" if row.ratio is not None else "", row.target, verdict[row.ok],
            f"{run.rss_bytes / 2**20:.0f} MiB" if run and ok_run else "",
            verdict[run.rss_bytes < GIB] if run and ok_run else "", row.note,
        )
    console = Console(width=200)
    console.print(table)

    anchor_table = Table(title="anchors (same machine, same run)")
    for col in ("anchor", "wall", "CPU", "peak RSS", "RSS < 1 GiB", "notes"):
        anchor_table.add_column(col, overflow="fold")
    if not anchors:
        return
    for name, run in anchors.items():
        if run.error:
            anchor_table.add_row(name, "n/a", "", "", "", run.error)
            continue
        anchor_table.add_row(name, _fmt_s(run.wall_s), _fmt_s(run.cpu_s), f"{run.rss_bytes / 2**20:.0f} MiB",
                             verdict[run.rss_bytes < GIB], _describe(run.info))
    console.print(anchor_table)


def _describe(info: dict[str, object]) -> str:
    keys = ("files", "tokens", "bytes", "skipped", "modes", "paths", "build_s", "symbols_cpu_s", "parse_cpu_s",
            "count_wall_s", "code_files")
    parts = [f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items() if k in keys]
    return " ".join(parts)


def bench(repo: Path, repeat: int, only: set[str] | None) -> list[Row]:
    def want(name: str) -> bool:
        return only is None or name in only

    anchors: dict[str, Run] = {}
    clear_state(repo)
    if want("repomix"):
        anchors["repomix 1.14.0 --style xml"] = repomix = run_repomix(repo, repeat)
    if want("floor"):
        anchors["floor, V4 tokenizer"] = floor = run_case("floor-v4", repo, repeat, cold=False)
        anchors["floor, o200k"] = run_case("floor-o200k", repo, repeat, cold=False)
        anchors["(not the floor) every text file counted by v4agent's exact V4 counter"] = run_case(
            "count-v4", repo, repeat, cold=False)
    rows: list[Row] = []
    if want("o200k"):
        cold = run_case("o200k-none", repo, repeat, cold=True)
        warm = run_case("o200k-none", repo, repeat, cold=False)
        anchor = repomix if want("repomix") else Run(0.0, 0.0, 0, {}, "repomix not run")
        rows.append(_ratio_row("same work as repomix, cold", cold, "repomix", anchor, 0.5, _describe(cold.info)))
        rows.append(_ratio_row("same work as repomix, warm", warm, "repomix", anchor, 0.2, _describe(warm.info)))
    if want("v4-none"):
        cold = run_case("v4-none", repo, repeat, cold=True)
        anchor = floor if want("floor") else Run(0.0, 0.0, 0, {}, "floor not run")
        rows.append(_ratio_row("V4 whole tree, cold", cold, "floor", anchor, 1.5, _describe(cold.info)))
    if want("v4-budget"):
        budget = default_budget(repo)
        if want("floor"):
            anchors["floor, V4 1M budget (2-core lower bound = in-process)"] = run_case("floor-v4-budget", repo, 1,
                                                                                       cold=False)
        cold = run_case("v4-budget", repo, repeat, cold=True)
        warm = run_case("v4-budget", repo, repeat, cold=False)
        for name, run, limit in (("V4 1M budget, cold", cold, 6.0), ("V4 1M budget, warm", warm, 1.5)):
            tokens = run.info.get("tokens")
            fits = isinstance(tokens, int) and tokens <= budget
            rows.append(_abs_row(name, run, limit, extra_ok=fits,
                                 note=f"budget {budget:,}; {'fits' if fits else 'OVER BUDGET'}; "
                                 + _describe(run.info)))
    if want("refresh"):
        run = run_case("v4-refresh", repo, 1, cold=False)
        rows.append(_abs_row("refresh: Snapshot.delta() after one edit", run, 0.050, key="build_s",
                             note=_describe(run.info)))
    print_table(rows, anchors)
    return rows


def profile(case: str, repo: Path, cold: bool, top: int) -> None:
    import cProfile
    import pstats

    if cold:
        clear_state(repo)
    with tempfile.TemporaryDirectory() as tmp:
        prof = cProfile.Profile()
        prof.enable()
        info = _CHILD_CASES[case](repo, Path(tmp) / "pack.txt")
        prof.disable()
    print(json.dumps({k: v for k, v in info.items() if k != "paths"}, default=str))
    stats = pstats.Stats(prof)
    for key in ("tottime", "cumulative"):
        print(f"\n--- {case} ({'cold' if cold else 'warm'}), top {top} by {key} (main process only) ---")
        stats.sort_stats(key).print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="a git repository to pack (default: Django 5.2, prepared once)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the fastest counts")
    parser.add_argument("--only", help="comma list of: repomix,floor,o200k,v4-none,v4-budget,refresh")
    parser.add_argument("--profile", metavar="CASE[:cold|warm]", help=f"profile one of {', '.join(_CHILD_CASES)}")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    repo = args.corpus.resolve() if args.corpus else prepare_corpus()
    if args.child:
        print(json.dumps(_CHILD_CASES[args.child](repo, args.out)))
        return
    if args.profile:
        case, _, mode = args.profile.partition(":")
        profile(case, repo, mode != "warm", args.top)
        return
    print(f"corpus: {repo} ({len(tracked_files(repo)):,} files); machine: {os.cpu_count()} cores, "
          f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} (shared machine: timings are noisy)")
    only = set(args.only.split(",")) if args.only else None
    bench(repo, max(1, args.repeat), only)
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
