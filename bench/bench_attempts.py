"""Figures for issue #26: best-of-N attempts on a Django-sized repository with a ~500K-token pack, N = 1, 2, 4, 8.

The real CLI (`v4agent refactor ... --attempts N`; N = 1 is the ordinary single session) against the loopback
stand-in, which bills by V4's documented cache rules on its own. The stand-in is given a latency model, stated
here and printed with the figures, since a loopback server answers instantly:

- prefill: ``PREFILL_S_PER_MISS_TOKEN`` seconds per cache-miss prompt token (hit tokens cost no prefill time);
- decode: ``DECODE_S_PER_OUTPUT_TOKEN`` seconds per output token;
- each call sleeps their sum in its own server thread before answering, so parallel calls overlap.

Every attempt makes two calls (an edit, then finish) and the tests are ``true`` in the sandbox; N >= 2 adds the
judge's call. Cost is the stand-in's bill priced by the shipped dated price table at one fixed peak-hour time
(so the figures do not move with the clock). Targets: 4 attempts cost <= 1.5x one attempt, attempts 2..4 hit
>= 99% of the pack on their first call, and their wall time is <= 1.3x one attempt.

    PYTHONPATH=. python bench/bench_attempts.py [--budget 500000] [--counts 1,2,4,8]

The corpus is Django 5.2 as bench/bench_pack.py prepares and caches it; each N works on a fresh local clone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from v4agent.accounting import load_price_table, price_call
from v4agent.engine.types import Usage
from v4agent.testing.records import CallRecord
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pack import prepare_corpus

PREFILL_S_PER_MISS_TOKEN = 20e-6  # 50K prompt tokens per second of prefill
DECODE_S_PER_OUTPUT_TOKEN = 0.02  # 50 output tokens per second
PRICED_AT = datetime(2026, 12, 8, 8, 0, tzinfo=UTC)  # a Tuesday, peak hours
MODEL = "deepseek-v4-flash"
TARGET = "django/utils/text.py"
_GIT = ["git", "-c", "user.email=bench@v4agent.invalid", "-c", "user.name=bench"]


class LatentStandIn(StandIn):
    """The stand-in, sleeping per the latency model before each answer (in the request's own thread)."""

    def prepare_reply(self, body: dict[str, Any], record: CallRecord) -> Any:
        prepared = super().prepare_reply(body, record)
        time.sleep(PREFILL_S_PER_MISS_TOKEN * record.cache_miss + DECODE_S_PER_OUTPUT_TOKEN * record.output_tokens)
        return prepared


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else ""


def _model(body: dict[str, Any]) -> ScriptedReply:
    """Two calls per attempt: one edit (different per attempt), then finish; the judge picks the first."""
    messages = body["messages"]
    if len(messages) == 2:
        return ScriptedReply(content="ready")
    if "Pick the one change" in _text(messages[-1]):
        return ScriptedReply(content='{"choice": 1, "reason": "smallest change"}')
    task = _text(messages[2])
    marker = task.rsplit("Strategy for this attempt: ", 1)[-1].strip()[:40] if "Strategy for" in task else "single"
    thought = "I will make the change in one edit and then stop. " * 8  # ~100 output tokens to decode
    if not any(m.get("role") == "assistant" for m in messages):
        edit = {"path": TARGET, "old_text": "import re\n", "new_text": f"import re  # {marker}\n"}
        return ScriptedReply(content=thought, tool_calls=[ScriptedToolCall("edit_file", json.dumps(edit))])
    return ScriptedReply(content=thought, tool_calls=[ScriptedToolCall("finish", json.dumps({"summary": "done"}))])


def _usd(calls: list[CallRecord]) -> float:
    table = load_price_table()
    return sum(price_call(table, MODEL, Usage(c.prompt_tokens, c.output_tokens, cache_hit=c.cache_hit,
                                              cache_miss=c.cache_miss), PRICED_AT).total_usd for c in calls)


def run_once(corpus: Path, count: int, budget: int, tmp: Path) -> dict[str, Any]:
    """One run of N attempts on a fresh clone; wall time of the whole command, the bill, first-call hits."""
    repo = tmp / f"django-{count}"
    subprocess.run([*_GIT, "clone", "-q", "--local", str(corpus), str(repo)], check=True)
    env = dict(os.environ, DEEPSEEK_API_KEY="sk-test", V4AGENT_THINK="off")
    strategies = ";".join(f"variant {n}" for n in range(1, count + 1))
    with LatentStandIn(handler=_model) as server:
        args = [sys.executable, "-m", "v4agent", "refactor", str(repo), "mark the module docstring",
                "--base-url", server.base_url, "--model", MODEL, "--yes", "--json", "--test-cmd", "true",
                "--budget", str(budget), "--prime", "always"]
        if count > 1:
            args += ["--attempts", str(count), "--strategies", strategies, "--parallel", str(count)]
        started = time.monotonic()
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=1800)
        wall = time.monotonic() - started
        calls = list(server.calls)
    if done.returncode != 0:
        raise SystemExit(f"N={count} failed ({done.returncode}): {done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    primes = [c for c in calls if len(c.request["messages"]) == 2]
    pack = primes[0].input_end if primes else 0
    firsts = [c for c in calls if len(c.request["messages"]) == 3 and "Pick the one" not in
              _text(c.request["messages"][-1])]
    hits = sorted((c.cache_hit or 0) / pack for c in firsts) if pack else []
    return {"n": count, "wall_s": wall, "load": os.getloadavg()[0], "usd": _usd(calls), "calls": len(calls), "prefix_tokens": pack,
            "first_call_hit_min": hits[0] if hits else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=int, default=500_000, help="pack token budget")
    parser.add_argument("--counts", default="1,2,4,8")
    parser.add_argument("--corpus", type=Path, help="a git repository (default: Django 5.2, prepared once)")
    args = parser.parse_args()
    corpus = args.corpus or prepare_corpus()
    counts = [int(x) for x in args.counts.split(",")]
    print(f"latency model: prefill {PREFILL_S_PER_MISS_TOKEN * 1e6:.0f} us per miss token, decode "
          f"{DECODE_S_PER_OUTPUT_TOKEN * 1e3:.0f} ms per output token; prices: shipped table at {PRICED_AT:%Y-%m-%d %H:%M} UTC")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-attempts-") as tmp:
        for count in counts:
            row = run_once(corpus, count, args.budget, Path(tmp))
            rows.append(row)
            print(f"N={row['n']}: prefix {row['prefix_tokens']:,} tokens, {row['calls']} calls, cost "
                  f"${row['usd']:.4f}, wall {row['wall_s']:.1f} s, lowest first-call hit "
                  f"{100 * row['first_call_hit_min']:.2f}% (load average {row['load']:.1f} on {os.cpu_count()} cores)",
                  flush=True)
    one = next((r for r in rows if r["n"] == 1), None)
    if one is None:
        return
    print("\nN   cost      x one   wall s   x one   first-call hit (min)")
    for r in rows:
        print(f"{r['n']:<3} ${r['usd']:.4f}  {r['usd'] / one['usd']:5.2f}   {r['wall_s']:6.1f}   "
              f"{r['wall_s'] / one['wall_s']:5.2f}   {100 * r['first_call_hit_min']:.2f}%")
    four = next((r for r in rows if r["n"] == 4), None)
    if four is not None:
        print(f"\ntarget: 4 attempts cost <= 1.5x one: {four['usd'] / one['usd']:.2f}x "
              f"({'met' if four['usd'] <= 1.5 * one['usd'] else 'NOT met'})")
        print(f"target: attempts 2-4 hit >= 99% of the pack on their first call: "
              f"{100 * four['first_call_hit_min']:.2f}% ({'met' if four['first_call_hit_min'] >= 0.99 else 'NOT met'})")
        print(f"target: 4 attempts' wall <= 1.3x one: {four['wall_s'] / one['wall_s']:.2f}x "
              f"({'met' if four['wall_s'] <= 1.3 * one['wall_s'] else 'NOT met'})")


if __name__ == "__main__":
    main()
