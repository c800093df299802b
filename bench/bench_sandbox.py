"""Benchmark: what the sandbox costs a command, side by side with its targets.

    python bench/bench_sandbox.py [--runs N] [--pytest-runs N]

1. Start-up: the median of N (100) runs of `true` through ``v4agent.tools.proc.run_command``: plain (no
   policy, as before the sandbox), unconfined (the policy with ``mode = "off"``: allow-listed environment,
   private TMPDIR, limits, no bubblewrap) and sandboxed (the default policy), and raw `bwrap ... true` beside
   them. Target: sandboxed < 20 ms more than plain.
2. A real test suite: click's own (2,400+ tests, pure Python, needs only pytest) from its sdist, run with
   `python -m pytest` unconfined and sandboxed, alternating, the median of N (5) each. Both get the same
   environment and a fresh private TMPDIR, so the difference is bubblewrap alone. Target: < 5% slower.

Corpus: ``pip download --no-deps --no-binary :all: click==8.5.1`` into ~/.cache/v4agent-bench/, extracted once.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from v4agent.sandbox import detect, make_policy
from v4agent.sandbox.bwrap import isolation_flags
from v4agent.tools.proc import run_command

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "v4agent-bench"
CLICK = "click==8.5.1"
START_TARGET_MS = 20.0
SUITE_TARGET_PCT = 5.0


def prepare_click(cache: Path = CACHE) -> Path:
    """click's sdist, extracted once under the cache (its tests and its src/ layout)."""
    name = CLICK.replace("==", "-")
    tree = cache / name
    if (tree / "tests").is_dir():
        return tree
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / f"{name}.tar.gz"
    if not archive.is_file():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", CLICK,
                        "-d", str(cache)], check=True, stdout=subprocess.DEVNULL)
    work = Path(tempfile.mkdtemp(prefix="click-", dir=cache))
    with tarfile.open(archive) as tar:
        tar.extractall(work, filter="data")
    (work / name).rename(tree)
    work.rmdir()
    return tree


def _median_ms(run: Callable[[], object], count: int) -> float:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def bench_startup(runs: int) -> tuple[float, float, float, float]:
    """(plain, unconfined, sandboxed, raw bwrap) median milliseconds for `true`."""
    cwd = Path(tempfile.mkdtemp(prefix="v4agent-bench-sandbox-"))
    policy = make_policy(cwd)
    unconfined = make_policy(cwd, mode="off")
    found = detect()
    raw = [found.path, *isolation_flags(network=False), *found.variant, "--ro-bind", "/", "/", "--dev", "/dev",
           "--proc", "/proc", "--", "/bin/true"]
    run_command("true", cwd, timeout_s=30, sandbox=policy)  # detection and imports out of the figure
    plain = _median_ms(lambda: run_command("true", cwd, timeout_s=30), runs)
    loose = _median_ms(lambda: run_command("true", cwd, timeout_s=30, sandbox=unconfined), runs)
    boxed = _median_ms(lambda: run_command("true", cwd, timeout_s=30, sandbox=policy), runs)
    bare = _median_ms(lambda: subprocess.run(raw, check=True), runs)
    cwd.rmdir()
    return plain, loose, boxed, bare


def bench_suite(tree: Path, runs: int) -> tuple[list[float], list[float], str]:
    """(unconfined, sandboxed) seconds of each run of click's test suite, and the last run's summary line."""
    command = f"PYTHONPATH=src {sys.executable} -m pytest -q -p no:cacheprovider tests"
    policy = make_policy(tree)
    unconfined = make_policy(tree, mode="off")
    plain: list[float] = []
    boxed: list[float] = []
    summary = ""
    for _ in range(runs):
        for sandboxed, times in ((False, plain), (True, boxed)):
            started = time.perf_counter()
            result = run_command(command, tree, timeout_s=600, sandbox=policy if sandboxed else unconfined)
            times.append(time.perf_counter() - started)
            if result.returncode != 0:
                raise SystemExit(f"click's tests failed ({'sandboxed' if sandboxed else 'plain'}):\n"
                                 f"{result.output[-3000:]}")
            summary = result.output.strip().splitlines()[-1]
    return plain, boxed, summary


def main() -> None:
    """Run both benchmarks and print each figure beside its target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="runs of `true` per case")
    parser.add_argument("--pytest-runs", type=int, default=5, help="runs of click's test suite per case")
    args = parser.parse_args()
    found = detect()
    if not found.available:
        raise SystemExit(f"no sandbox here: {found.reason}")
    print(f"mechanism: {found.describe()}; {os.cpu_count()} CPUs")
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    plain, loose, boxed, bare = bench_startup(args.runs)
    overhead = boxed - plain
    print(f"{'case':<44}{'figure':>14}{'target':>14}  verdict")
    print(f"{'true, plain run_command (median ms)':<44}{plain:>14.2f}")
    print(f"{'true, unconfined policy (median ms)':<44}{loose:>14.2f}")
    print(f"{'true, sandboxed run_command (median ms)':<44}{boxed:>14.2f}")
    print(f"{'true, raw bwrap (median ms)':<44}{bare:>14.2f}")
    print(f"{'start-up overhead per command (ms)':<44}{overhead:>14.2f}{'< ' + str(START_TARGET_MS):>14}  "
          f"{'pass' if overhead < START_TARGET_MS else 'FAIL'}")
    tree = prepare_click()
    loose_runs, boxed_runs, summary = bench_suite(tree, args.pytest_runs)
    print(f"(click: {summary})")
    suite_plain, suite_boxed = statistics.median(loose_runs), statistics.median(boxed_runs)
    slower = (suite_boxed / suite_plain - 1) * 100
    best = (min(boxed_runs) / min(loose_runs) - 1) * 100  # the fastest runs: what load on the machine added least to
    print(f"{'click tests, unconfined (median s)':<44}{suite_plain:>14.2f}")
    print(f"{'click tests, sandboxed (median s)':<44}{suite_boxed:>14.2f}")
    print(f"{'test suite slowdown, medians (%)':<44}{slower:>14.1f}{'< ' + str(SUITE_TARGET_PCT):>14}  "
          f"{'pass' if slower < SUITE_TARGET_PCT else 'FAIL'}")
    print(f"{'test suite slowdown, fastest runs (%)':<44}{best:>14.1f}")
    print(f"(load average before and after: {load_before}, {' '.join(f'{x:.2f}' for x in os.getloadavg())})")


if __name__ == "__main__":
    main()
