"""Benchmark: a newcomer's first minutes (issue 27): from a fresh clone to the end of `v4agent demo`.

    python bench/bench_first_hour.py [--source REPO] [--branch BRANCH]

Clones the repository, runs the README's set-up (`python3 -m venv .venv && .venv/bin/pip install -e .`; the
bubblewrap step needs root and is assumed done) and then `.venv/bin/v4agent demo` with no key and no v4agent
settings in the environment, and prints each stage's wall time beside the issue's target (< 90 s in all,
install included). The install fetches the dependencies from the configured package index, so the figure
depends on it and on the machine's load; the demo itself runs offline.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 90.0


def _timed(label: str, command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.monotonic()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    took = time.monotonic() - start
    if done.returncode != 0:
        sys.exit(f"{label} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    print(f"{label:<22} {took:7.1f} s", flush=True)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", default=str(Path(__file__).resolve().parent.parent))
    parser.add_argument("--branch", default="")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "DEEPSEEK_API_KEY", "VIRTUAL_ENV") and not k.startswith("V4AGENT_")}
    with tempfile.TemporaryDirectory(prefix="v4agent-first-hour-") as tmp:
        clone = Path(tmp) / "v4agent"
        branch = ["-b", args.branch] if args.branch else []
        total = _timed("git clone", ["git", "clone", "-q", *branch, args.source, str(clone)], Path(tmp), env)
        total += _timed("venv + pip install -e", ["bash", "-c", "python3 -m venv .venv && .venv/bin/pip install -q "
                                                "-e ."], clone, env)
        total += _timed("v4agent demo", [str(clone / ".venv/bin/v4agent"), "demo"], clone, env)
    print(f"{'fresh clone to demo':<22} {total:7.1f} s   (target < {TARGET_S:.0f} s; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
