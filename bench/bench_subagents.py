"""Benchmark: a main session that delegates three explorations to subagents vs one that reads the files itself.

    python bench/bench_subagents.py [--files N] [--lines N]

Both run the real CLI (`v4agent refactor`) against the loopback stand-in, which bills by DeepSeek's documented
cache rules, on the same generated repository. The scripted model asks the same nine files in both: the
delegating session sends three ``task`` calls in one reply (each subagent reads three files and finishes with a
two-line summary); the other reads the nine files itself. Printed beside the issue's targets (#26): the main
session's final context (the last main request's prompt tokens, as billed), the cost of each session
(subagents included), and each subagent's first request: billed hit over the forked prefix (the main request
it forks from), target >= 99%.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn  # noqa: E402

MARK = "(You are now a subagent"
TARGET_HIT = 0.99


def _call(name: str, **args: Any) -> ScriptedToolCall:
    return ScriptedToolCall(name, json.dumps(args))


def make_repo(root: Path, files: int, lines: int) -> list[str]:
    """A git repository of ``files`` Python modules of ``lines`` lines each; returns their paths."""
    paths = []
    for i in range(files):
        rel = f"pkg/mod_{i:03d}.py"
        body = [f'"""Module {i}: helpers for part {i}."""', ""]
        for j in range(lines // 4):
            body += [f"def helper_{i}_{j}(value):", f'    """Scale value by {j} for part {i}."""',
                     f"    return value * {j} + {i}", ""]
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(body) + "\n", encoding="utf-8")
        paths.append(rel)
    git = ["git", "-c", "user.email=b@example.com", "-c", "user.name=Bench", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q", "-b", "main", str(root)], check=True)
    subprocess.run([*git, "-C", str(root), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(root), "commit", "-q", "-m", "initial"], check=True)
    return paths


class Model:
    """The scripted model: ``delegate`` picks the main session's way of exploring the same nine files."""

    def __init__(self, groups: list[list[str]], *, delegate: bool) -> None:
        self.groups = groups
        self.delegate = delegate

    def __call__(self, body: dict[str, Any]) -> ScriptedReply:
        messages = body["messages"]
        fork = next((i for i, m in enumerate(messages) if m["role"] == "user"
                     and str(m.get("content", "")).startswith(MARK)), None)
        if fork is not None:
            content = str(messages[fork]["content"])
            group = self.groups[int(content.split("Task: explore group ")[1].split()[0])]
            step = sum(m["role"] == "assistant" for m in messages[fork:])
            if step == 0:
                return ScriptedReply(tool_calls=[_call("read_file", path=p) for p in group])
            return ScriptedReply(tool_calls=[_call("finish", summary=f"{', '.join(group)}: scaling helpers; each "
                                                   "returns value * j + i. Nothing else of note.")])
        if len(messages) == 2:
            return ScriptedReply(content="ready")
        step = sum(m["role"] == "assistant" for m in messages)
        if step == 0 and self.delegate:
            return ScriptedReply(tool_calls=[
                _call("task", description=f"explore group {k}", prompt=f"Read {', '.join(g)} and say what they do.")
                for k, g in enumerate(self.groups)])
        if step == 0:
            return ScriptedReply(tool_calls=[_call("read_file", path=p) for g in self.groups for p in g])
        return ScriptedReply(tool_calls=[_call("finish", summary="Explored the nine modules.")])


def run_session(root: Path, groups: list[list[str]], *, delegate: bool) -> dict[str, Any]:
    """One refactor session against a fresh stand-in; its figures."""
    subprocess.run(["git", "-C", str(root), "clean", "-fdxq"], check=True)  # a fresh .v4agent/ each time
    env = {**os.environ, "DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off", "PYTHONPATH": str(ROOT)}
    with StandIn(handler=Model(groups, delegate=delegate)) as server:
        done = subprocess.run([sys.executable, "-m", "v4agent", "refactor", str(root), "explain the helpers",
                               "--base-url", server.base_url, "--yes", "--json", "--prime", "always"],
                              capture_output=True, text=True, env=env, timeout=900, check=False)
        calls = list(server.calls)
    if done.returncode != 0:
        raise SystemExit(f"the session failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout)
    is_sub = [any(str(m.get("content", "")).startswith(MARK) for m in c.request["messages"]) for c in calls]
    mains = [c for c, sub in zip(calls, is_sub, strict=True) if not sub]
    firsts = [c for c, sub in zip(calls, is_sub, strict=True)
              if sub and c.request["messages"][-1]["content"].startswith(MARK)]
    fork = mains[1]  # [prime, the turn that delegated, the closing turn]
    return {
        "final_context": mains[-1].prompt_tokens,
        "cost_usd": report["cost"]["cost_usd"],
        "calls": len(calls),
        "fork_prefix": fork.input_end,
        "first_hits": [c.cache_hit / fork.input_end for c in firsts],
        "first_prompt": [c.prompt_tokens for c in firsts],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=60, help="modules in the generated repository")
    parser.add_argument("--lines", type=int, default=240, help="lines per module")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="v4bench-sub-") as tmp:
        root = Path(tmp) / "repo"
        paths = make_repo(root, args.files, args.lines)
        groups = [paths[0:3], paths[3:6], paths[6:9]]
        delegated = run_session(root, groups, delegate=True)
        itself = run_session(root, groups, delegate=False)
    print(f"repository: {args.files} modules x {args.lines} lines; nine files explored in both sessions")
    print(f"{'':34}{'delegates 3 tasks':>20}{'reads itself':>16}")
    print(f"{'main final context (tokens)':34}{delegated['final_context']:>20,}{itself['final_context']:>16,}")
    print(f"{'session cost, subagents incl. ($)':34}{delegated['cost_usd']:>20.6f}{itself['cost_usd']:>16.6f}")
    print(f"{'model calls':34}{delegated['calls']:>20}{itself['calls']:>16}")
    smaller = delegated["final_context"] < itself["final_context"]
    print(f"target: the delegating session ends with a smaller context: "
          f"{'met' if smaller else 'NOT met'} ({delegated['final_context'] / itself['final_context']:.1%} of it)")
    hits = delegated["first_hits"]
    print(f"subagents' first requests: forked prefix {delegated['fork_prefix']:,} tokens; billed hit "
          + ", ".join(f"{h:.2%}" for h in hits)
          + f" (target >= {TARGET_HIT:.0%}: {'met' if hits and min(hits) >= TARGET_HIT else 'NOT met'})")
    print("  (over 100%: that request also hit the start of the task message, stored by a sibling subagent's "
          "first request)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
