"""Benchmark: tree-sitter symbol extraction, skeletons and ranking on the Django 5.2 source.

    python bench/bench_symbols.py [--corpus DIR] [--workers N]

Without --corpus it fetches the sdist once (``pip download --no-deps --no-binary :all: django==5.2``)
into ~/.cache/v4agent-bench and extracts it with ``tar --no-same-owner``.  Prints time per 1,000 files
(all 6,869 files, and the code files alone) next to the packer's anchor: a cold 1M-budget pack of the
whole tree in under 6 s on 2 cores, of which symbol work is one part.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from v4agent.pack.fit.skeleton import skeletonize
from v4agent.pack.rank.pagerank import rank_files
from v4agent.pack.rank.symbols import FileSymbols, extract_symbols, language_for

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "v4agent-bench"


def _corpus() -> Path:
    root = CACHE / "Django-5.2"
    if root.is_dir():
        return root
    CACHE.mkdir(parents=True, exist_ok=True)
    archive = CACHE / "Django-5.2.tar.gz"
    if not archive.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "django==5.2", "-d", str(CACHE)],
            check=True,
        )
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    subprocess.run(["tar", "--no-same-owner", "-xzf", str(archive), "-C", str(CACHE)], check=True)
    return CACHE / names[0].split("/")[0]


def _load(root: Path) -> list[tuple[str, str]]:
    files: list[tuple[str, str]] = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            text = path.read_bytes().decode("utf-8", "surrogateescape")
            files.append((path.relative_to(root).as_posix(), text))
    return files


def _work(chunk: list[tuple[str, str]]) -> list[tuple[str, FileSymbols]]:
    return [(rel, extract_symbols(rel, text)) for rel, text in chunk]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="a source tree (default: Django 5.2, fetched once)")
    parser.add_argument("--workers", type=int, default=2, help="processes for the parallel run (default 2)")
    args = parser.parse_args()
    root = args.corpus or _corpus()
    files = _load(root)
    code = [(rel, text) for rel, text in files if language_for(rel)]
    code_mb = sum(len(text.encode("utf-8", "surrogateescape")) for _, text in code) / 1e6
    print(f"corpus {root}: {len(files)} files, {len(code)} with a grammar ({code_mb:.1f} MB)")

    start = time.perf_counter()
    symbols = {rel: extract_symbols(rel, text) for rel, text in files}
    t_symbols = time.perf_counter() - start

    start = time.perf_counter()
    skeletons = [skeletonize(rel, text) for rel, text in code]
    t_skeleton = time.perf_counter() - start
    kept = sum(len(s or "") for s in skeletons) / max(1, sum(len(t) for _, t in code))

    start = time.perf_counter()
    ranks = rank_files(symbols)
    t_rank = time.perf_counter() - start

    chunks = [files[i :: args.workers] for i in range(args.workers)]
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        parallel = dict(pair for part in pool.map(_work, chunks) for pair in part)
    t_parallel = time.perf_counter() - start
    assert parallel == symbols, "parallel extraction differs"

    def per_k(seconds: float, n: int) -> str:
        return f"{seconds / max(1, n) * 1000 * 1000:8.0f} ms/1000 files ({seconds / max(1, n) * 1000:.2f} ms/file)"

    print(f"{'extract_symbols, 1 process, all files':44} {t_symbols:6.2f} s  {per_k(t_symbols, len(files))}")
    print(f"{'extract_symbols, 1 process, code files':44} {'':8} {per_k(t_symbols, len(code))}")
    print(f"{f'extract_symbols, {args.workers} processes (incl. pool start)':44} {t_parallel:6.2f} s  "
          f"{per_k(t_parallel, len(files))}")
    print(f"{'skeletonize, 1 process, code files':44} {t_skeleton:6.2f} s  {per_k(t_skeleton, len(code))}"
          f"  (skeleton keeps {kept:.0%} of the characters)")
    print(f"{'rank_files, whole graph':44} {t_rank:6.2f} s")
    print(f"{'anchor: cold 1M-budget pack, whole packer':44} {6.0:6.2f} s  (issue 4; symbols are one stage of it)")
    print("top 5:", ", ".join(list(ranks)[:5]))


if __name__ == "__main__":
    main()
