"""Benchmark: how v4agent's costs grow with the repository (issue 29), on real-code corpora of 10k-100k files.

    python bench/bench_scale.py [--sizes 10000,30000,100000] [--only CASE,...] [--repomix-timeout S]
    python bench/bench_scale.py --sizes 30000 --profile      # cProfile of the cold 1M-budget pack
    python bench/bench_scale.py --repeat 3                    # each cold pack and repomix: least of 3 runs

Prints, per size side by side, each figure beside the issue's target: cold and warm pack to the default
1M budget (wall, CPU and peak RSS of a child process: ``os.wait4`` rusage, so the RSS is the pack's own),
the whole-tree o200k pack (cold, streamed to a file as ``pack --budget none -o FILE`` does) beside repomix 1.14.0
on the same tree, ``Snapshot.delta()`` after one edit
with the inotify watch and without it (``Snapshot.close()`` ends the watch, so ``delta`` lstat's every file),
the agent loop's own work per call on the pack (render + expected hit + record: first call, later calls),
and ``v4agent chat`` start-up: the chat runs against the stand-in server (v4agent.testing) with stdin a pipe,
and start-up is the time from spawn to its banner line on stdout (the banner is printed just before the
prompt reads its first line); it is run twice, and the second (warm token cache, page cache and .pyc files)
counts.

Corpus: sdists from PyPI (``pip download --no-deps --no-binary :all:`` of the pinned packages below, the
Django one shared with bench_pack.py), extracted with ``tar --no-same-owner`` under
~/.cache/v4agent-bench/scale/src/. The sdists hold 23,807 unique files (about 500 MB in the 30k corpus); a corpus of N files takes them in
order and, past the end, the same files again under ``copy1/``, ``copy2/``... (duplicated real code, said in
the "files (unique)" row; the fact and token caches key on path and blob, so a cold pack still works every
copy as its own file, but the OS page cache and the copies' identical symbols make it a little kinder). Each size is one git
repository (one commit), prepared once under ~/.cache/v4agent-bench/scale/repo-N and reused.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_agent import scripted_turns
from bench_pack import (
    CACHE,
    GIB,
    Run,
    best_of,
    clear_state,
    default_budget,
    prepare_repomix,
    run_child,
    tracked_files,
)
from scale_probes import chat_startup, profile_cold

SCALE = CACHE / "scale"
# Pinned: the corpus must be the same from run to run. Django's archive is bench_pack.py's.
SDISTS = ("django==5.2", "ansible-core==2.19.14", "botocore==1.44.18", "sympy==1.14.0", "sphinx==9.0.4",
          "setuptools==84.2.1", "pip==26.3", "pygments==2.21.0")
_GIT = ["git", "-c", "user.email=bench@v4agent.invalid", "-c", "user.name=bench", "-c", "commit.gpgsign=false"]


# ---------------------------------------------------------------- corpus (prepared once, cached)

def _sources() -> list[Path]:
    """Each sdist extracted once into SCALE/src/<archive stem>/ (downloaded first where missing)."""
    archives_dir = SCALE / "sdists"
    archives_dir.mkdir(parents=True, exist_ok=True)
    django = sorted(CACHE.glob("[Dd]jango-5.2.tar.gz"))
    if django and not (archives_dir / django[0].name).exists():
        shutil.copy2(django[0], archives_dir / django[0].name)
    if len(list(archives_dir.glob("*.tar.gz"))) < len(SDISTS):
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", *SDISTS,
                        "-d", str(archives_dir)], check=True, stdout=subprocess.DEVNULL)
    out = []
    for archive in sorted(archives_dir.glob("*.tar.gz")):
        dest = SCALE / "src" / archive.name.removesuffix(".tar.gz")
        if not dest.is_dir():
            work = Path(tempfile.mkdtemp(prefix="src-", dir=SCALE))
            subprocess.run(["tar", "--no-same-owner", "--strip-components=1", "-xzf", str(archive), "-C",
                            str(work)], check=True)
            dest.parent.mkdir(parents=True, exist_ok=True)
            work.rename(dest)
        out.append(dest)
    return out


def _source_files(sources: list[Path]) -> list[tuple[Path, str]]:
    """(source dir, relative path) of every regular file, in a fixed order."""
    files: list[tuple[Path, str]] = []
    for src in sources:
        for dirpath, dirnames, names in os.walk(src):
            dirnames[:] = sorted(d for d in dirnames if d != ".git")
            for name in sorted(names):
                full = os.path.join(dirpath, name)
                if os.path.isfile(full) and not os.path.islink(full):
                    files.append((src, os.path.relpath(full, src)))
    return files


def prepare_corpus(size: int) -> tuple[Path, int]:
    """The N-file corpus as a one-commit git repository; returns it and how many of its files are unique."""
    repo = SCALE / f"repo-{size}"
    pool = _source_files(_sources())
    unique = min(size, len(pool))
    if (repo / ".git").is_dir():
        return repo, unique
    work = Path(tempfile.mkdtemp(prefix=f"repo-{size}-", dir=SCALE))
    for i in range(size):
        src, rel = pool[i % len(pool)]
        copy = i // len(pool)
        dest = work / (f"copy{copy}/" if copy else "") / src.name / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, dest)
    subprocess.run([*_GIT, "init", "-q", "-b", "main", str(work)], check=True)
    subprocess.run([*_GIT, "-C", str(work), "add", "-A", "-f"], check=True)
    subprocess.run([*_GIT, "-C", str(work), "commit", "-q", "-m", f"scale corpus, {size} files"], check=True)
    work.rename(repo)
    return repo, unique


# ---------------------------------------------------------------- child cases (each in its own process)

def _edit_target(repo: Path) -> Path:
    """A tracked Python file near the middle of the tree (the one edit the delta cases make)."""
    files = [p for p in tracked_files(repo) if p.endswith(".py")]
    return repo / files[len(files) // 2]


def _case_pack(repo: Path, tokenizer: str, whole: bool) -> dict[str, object]:
    from v4agent.pack import PackOptions, Snapshot

    budget = None if whole else default_budget(repo)
    start = time.perf_counter()
    if whole:  # as `v4agent pack --budget none -o FILE` does (and repomix -o): streamed to the file
        from v4agent.core.fsutil import OutputStream

        with tempfile.TemporaryDirectory() as tmp, OutputStream(Path(tmp) / "pack.xml") as out:
            snap = Snapshot.build(repo, PackOptions(tokenizer=tokenizer, budget=budget), track_changes=False,
                                  sink=out.write)
    else:
        snap = Snapshot.build(repo, PackOptions(tokenizer=tokenizer, budget=budget), track_changes=False)
    return {"build_s": time.perf_counter() - start, "tokens": snap.token_count, "files": len(snap.files),
            "skipped": len(snap.skipped), "budget": budget}


def _time_deltas(snap: object, target: Path, original: bytes, runs: int, tag: str) -> list[float]:
    times = []
    for i in range(runs):
        target.write_bytes(original + f"\n# bench edit {tag} {i}\n".encode())
        start = time.perf_counter()
        snap.delta()  # type: ignore[attr-defined]
        times.append(time.perf_counter() - start)
    return times


def _case_delta(repo: Path) -> dict[str, object]:
    """Warm build, one edit, delta() with the watch; then the watch ended, delta() again (lstat everything)."""
    from v4agent.pack import PackOptions, Snapshot

    snap = Snapshot.build(repo, PackOptions(tokenizer="deepseek-v4", budget=default_budget(repo)))
    watched = snap._watch is not None  # bench-only peek: did the watch start (inotify limit)?
    target = _edit_target(repo)
    original = target.read_bytes()
    try:
        with_watch = _time_deltas(snap, target, original, 5, "w")
        snap.close()
        without = _time_deltas(snap, target, original, 3, "n")
    finally:
        target.write_bytes(original)
    return {"build_s": min(with_watch), "watch": watched, "with_watch_s": min(with_watch),
            "without_watch_s": min(without), "edited": str(target.relative_to(repo))}


def _case_agent(repo: Path, turns: int = 5) -> dict[str, object]:
    """The loop's own work per call (bench_agent.py's scripted turns) on the corpus's default-budget pack."""
    from v4agent.agent.request.cachediag import CacheTracker
    from v4agent.agent.request.layout import Conversation
    from v4agent.core.config import load_config
    from v4agent.pack import Snapshot
    from v4agent.pack.fromconfig import pack_options_from_config
    from v4agent.prompts import load_prompt
    from v4agent.tokens.tokenizer import get_tokenizer
    from v4agent.tools.registry import tool_schemas

    options = pack_options_from_config(load_config(repo), model="deepseek-v4-flash")
    snapshot = Snapshot.build(repo, options, track_changes=False)
    conversation = Conversation.start(load_prompt("system.md"), str(snapshot.text), "Tidy the edited file")
    tracker = CacheTracker(get_tokenizer("deepseek-v4"))
    tools = tool_schemas()
    read = _edit_target(repo).read_text(encoding="utf-8", errors="replace")[:20_000]
    timings, tokens, _ = scripted_turns(conversation, tracker, tools, read, turns)
    later = timings[1:]
    return {"build_s": timings[0], "first_s": timings[0], "later_s": sum(later) / len(later), "tokens": tokens}


_CHILD = {
    "pack-cold": lambda repo: _case_pack(repo, "deepseek-v4", False),
    "pack-warm": lambda repo: _case_pack(repo, "deepseek-v4", False),
    "o200k-whole": lambda repo: _case_pack(repo, "o200k", True),
    "delta": _case_delta,
    "agent": _case_agent,
}


def child(case: str, repo: Path) -> Run:
    return run_child([sys.executable, __file__, "--child", case, "--corpus", str(repo)])


# ---------------------------------------------------------------- repomix and chat (parent side)

def _repomix_error(lines: list[str]) -> str:
    """repomix's own reason ("✖ ..." after "✖ Error during packing"), else its last line."""
    said = [ln.strip("✖ ") for ln in lines if ln.startswith("✖") and "Error during packing" not in ln]
    return said[-1] if said else (lines[-1] if lines else "")


def run_repomix(repo: Path, timeout_s: int) -> Run:
    try:
        cmd = prepare_repomix()
    except (subprocess.CalledProcessError, OSError) as exc:
        return Run(0.0, 0.0, 0, {}, f"repomix unavailable: {exc}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "repomix.xml"
        run = run_child(["timeout", "-s", "KILL", str(timeout_s), *cmd, "--style", "xml", "-o", str(out), "."],
                        cwd=repo, error_of=_repomix_error)
        if run.error and run.wall_s >= timeout_s - 1:
            run.error = f"killed at the {timeout_s} s limit"
        elif not run.error:
            run.info = {"bytes": out.stat().st_size}
    return run


# ---------------------------------------------------------------- the table

def _s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _mib(run: Run) -> str:
    return f"{run.rss_bytes / 2**20:.0f} MiB"


def _mark(ok: bool | None) -> str:
    return {True: " ok", False: " MISS", None: ""}[ok]


def bench_size(size: int, only: set[str] | None, repomix_timeout: int, repeat: int) -> dict[str, str]:
    def want(name: str) -> bool:
        return only is None or name in only

    repo, unique = prepare_corpus(size)
    n = len(tracked_files(repo))
    cells: dict[str, str] = {"files (unique)": f"{n:,} ({unique:,})"}
    # o200k first: its cold run clears .v4agent/, the V4 pack's cold run then warms it for the rest.
    if want("o200k"):
        whole = best_of(repeat, lambda: child("o200k-whole", repo), before=lambda: clear_state(repo))
        rmx = best_of(repeat, lambda: run_repomix(repo, repomix_timeout)) if want("repomix") else None
        cells["o200k whole tree cold"] = (f"error: {whole.error}" if whole.error else
                                          f"{_s(whole.wall_s)} rss {_mib(whole)}")
        if rmx is None:
            cells["repomix 1.14.0"] = "not run"
        elif rmx.error:
            cells["repomix 1.14.0"] = f"{rmx.error} ({_s(rmx.wall_s)}, rss {_mib(rmx)})"
        else:
            ratio = rmx.wall_s / whole.wall_s if not whole.error else 0.0
            cells["repomix 1.14.0"] = f"{_s(rmx.wall_s)} rss {_mib(rmx)}; v4agent {ratio:.1f}x{_mark(ratio >= 3)}"
    if want("pack"):
        cold = best_of(repeat, lambda: child("pack-cold", repo), before=lambda: clear_state(repo))
        warm = child("pack-warm", repo)
        for name, run, limit in (("1M pack cold", cold, 25.0), ("1M pack warm", warm, 4.0)):
            if run.error:
                cells[name] = f"error: {run.error}"
                continue
            ok = run.wall_s < limit and run.rss_bytes < GIB
            cells[name] = (f"{_s(run.wall_s)} cpu {_s(run.cpu_s)} rss {_mib(run)}{_mark(ok)}")
        if not cold.error:
            cells["cold per 1k files"] = f"{cold.wall_s / n * 1e6:.0f} ms"
            cells["cold CPU per 1k files"] = f"{cold.cpu_s / n * 1e6:.0f} ms"
            cells["1M pack tokens/files"] = f"{cold.info.get('tokens', 0):,} / {cold.info.get('files')}"
    if want("delta"):
        run = child("delta", repo)
        if run.error:
            cells["delta, watch"] = f"error: {run.error}"
        else:
            w, nw = float(run.info["with_watch_s"]), float(run.info["without_watch_s"])  # type: ignore[arg-type]
            cells["delta, watch"] = (f"{_s(w)}{_mark(w < 0.05)}" if run.info["watch"] else
                                     f"{_s(w)} (NO WATCH: limit?)")
            cells["delta, no watch"] = f"{_s(nw)}{_mark(nw < 1.0)}"
    if want("agent"):
        run = child("agent", repo)
        if run.error:
            cells["agent later call"] = f"error: {run.error}"
        else:
            later = float(run.info["later_s"])  # type: ignore[arg-type]
            cells["agent first call"] = f"{_s(float(run.info['first_s']))} ({run.info['tokens']:,} tok)"  # type: ignore[arg-type]
            cells["agent later call"] = f"{_s(later)}{_mark(later < 0.05)}"
    if want("chat"):
        first, second = chat_startup(repo)
        cells["chat start-up 1st"] = _s(first) if isinstance(first, float) else first
        cells["chat start-up warm"] = (_s(second) if isinstance(second, float) else second) + (_mark(second < 2.0) if isinstance(second, float) else "")
    return cells


TARGETS = {
    "1M pack cold": "< 25 s @100k, RSS < 1 GiB",
    "1M pack warm": "< 4 s, RSS < 1 GiB",
    "cold per 1k files": "@100k <= 1.25x @10k",
    "cold CPU per 1k files": "(the same, CPU: less noisy on a shared machine)",
    "o200k whole tree cold": "",
    "repomix 1.14.0": ">= 3x faster",
    "delta, watch": "< 50 ms",
    "delta, no watch": "< 1 s",
    "agent later call": "< 50 ms",
    "chat start-up warm": "< 2 s",
}


def print_table(sizes: list[int], columns: dict[int, dict[str, str]]) -> None:
    rows: list[str] = []
    for cells in columns.values():
        rows += [k for k in cells if k not in rows]
    width = max(38, *(len(c) for cells in columns.values() for c in cells.values()))
    print(f"{'':24}" + "".join(f"{f'{s:,} files':<{width + 2}}" for s in sizes) + "target")
    for row in rows:
        print(f"{row:24}" + "".join(f"{columns[s].get(row, ''):<{width + 2}}" for s in sizes)
              + TARGETS.get(row, ""))
    for row, what in (("cold per 1k files", "wall"), ("cold CPU per 1k files", "CPU (children included)")):
        per = [float(cell.split()[0]) if (cell := columns[s].get(row)) else 0.0 for s in (sizes[0], sizes[-1])]
        if len(sizes) >= 2 and per[0]:
            ratio = per[1] / per[0]
            print(f"cold {what} time per file, {sizes[-1]:,} vs {sizes[0]:,}: {ratio:.2f}x (target <= 1.25x)"
                  f"{_mark(ratio <= 1.25)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10000,30000,100000", help="comma list of corpus sizes (files)")
    parser.add_argument("--only", help="comma list of: pack,o200k,repomix,delta,agent,chat")
    parser.add_argument("--repomix-timeout", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="cProfile the cold 1M pack at the first size")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each cold pack and of repomix; the least wall time of them is shown")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_CHILD[args.child](args.corpus)))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.profile:
        profile_cold(prepare_corpus(sizes[0])[0], args.top, _case_pack)
        return
    only = set(args.only.split(",")) if args.only else None
    print(f"machine: {os.cpu_count()} cores, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
          "(shared machine: timings are noisy)")
    columns = {}
    for size in sizes:
        start = time.perf_counter()
        columns[size] = bench_size(size, only, args.repomix_timeout, args.repeat)
        print(f"[{size:,} files measured in {time.perf_counter() - start:.0f} s]", file=sys.stderr, flush=True)
    print_table(sizes, columns)
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
