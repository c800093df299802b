"""bench_scale.py's probes that run outside its child cases: ``v4agent chat`` start-up to its banner, and a cProfile
of the cold 1M-budget pack."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench_pack import clear_state


def chat_startup(repo: Path) -> list[float | str]:
    """Seconds from spawn to the chat's banner (stdin a pipe, the stand-in server as engine), run twice."""
    from v4agent.testing.standin import StandIn

    # Bytecode allowed: an installed v4agent has its .pyc files; the first run writes them, the warm run uses them.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off",
                "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    results: list[float | str] = []
    with StandIn(replies=[]) as server:
        for _ in range(2):
            start = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "v4agent", "chat", str(repo), "--base-url",
                                     server.base_url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env, text=True, start_new_session=True)
            assert proc.stdout is not None
            assert proc.stdin is not None
            seen: float | str = "no banner"
            for line in proc.stdout:
                if line.startswith("v4agent chat"):
                    seen = time.perf_counter() - start
                    break
            try:  # EOF on stdin ends the piped chat
                _, err = proc.communicate(input="", timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                _, err = proc.communicate()
            if isinstance(seen, str):
                seen = f"no banner (exit {proc.returncode}): {(err.strip().splitlines() or [''])[-1][:120]}"
            results.append(seen)
    return results


def profile_cold(repo: Path, top: int, case_pack: Callable[[Path, str, bool], dict[str, object]]) -> None:
    import cProfile
    import pstats

    clear_state(repo)
    # CPU time, not wall: on a shared machine the wall clock mostly measures the other sessions.
    prof = cProfile.Profile(time.process_time)
    os.register_at_fork(after_in_child=prof.disable)  # the workers run unprofiled (their CPU is counted apart)
    start = time.process_time()
    prof.enable()
    info = case_pack(repo, "deepseek-v4", False)
    prof.disable()
    info["main_cpu_s"] = time.process_time() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    info["workers_cpu_s"] = children.ru_utime + children.ru_stime
    print(json.dumps(info))
    stats = pstats.Stats(prof)
    for key in ("tottime", "cumulative"):
        print(f"\n--- cold 1M pack, top {top} by {key} (main process only, CPU seconds) ---")
        stats.sort_stats(key).print_stats(top)
