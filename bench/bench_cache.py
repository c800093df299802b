"""Cache benchmark: a 30-turn scripted session on the Django 5.2 source, three ways, against the stand-in.

- always prime: byte-stable layout, priming call, append-only turns (the real ``Agent`` loop, real tools).
- never prime: the same loop without the priming call.
- naive: re-packs the repository before every turn (the pack changes after each edit).
``v4agent refactor --prime auto`` (the default) picks one of the first two from the pack size and the prices;
the benchmark prints which, and whether priming paid for itself over the two sessions.

Each way then runs a second session with another task on a fresh copy of the same starting state: what the
priming call is for is that this second session hits the whole pack.

The stand-in bills with V4's unit rules (interval units every 4096 tokens); costs use the shipped price table
for deepseek-v4-flash at a fixed peak-hour instant, so figures are reproducible.

    python bench/bench_cache.py [--budget 200000] [--turns 30]

Django comes from ``pip download --no-deps --no-binary :all: django==5.2`` (cached in ~/.cache/v4agent-bench).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from v4agent.accounting import load_price_table, price_call
from v4agent.agent.loop import Agent, AgentConfig
from v4agent.agent.request.cachediag import CacheTracker
from v4agent.agent.request.layout import (
    ASSUMED_UNIT_INTERVAL,
    Conversation,
    initial_messages,
    priming_pays,
    tool_message,
)
from v4agent.agent.sessions.records import StartRecord
from v4agent.agent.sessions.store import SessionWriter
from v4agent.engine.client import EngineSettings, open_engine
from v4agent.engine.types import Usage
from v4agent.pack import PackOptions, Snapshot
from v4agent.prompts import load_prompt
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn
from v4agent.tokens.tokenizer import get_tokenizer
from v4agent.tools.registry import ToolContext, run_tool, tool_schemas

CACHE = Path.home() / ".cache" / "v4agent-bench" / "loop"
MODEL = "deepseek-v4-flash"
PRICED_AT = datetime(2026, 9, 1, 3, 0, tzinfo=UTC)  # a weekday at peak hours
TARGETS = ["django/db/models/query.py", "django/utils/text.py", "django/http/request.py",
           "django/forms/fields.py", "django/core/paginator.py", "django/template/base.py"]


def django_source() -> Path:
    """The Django 5.2 package sources (Python files only), downloaded and extracted once."""
    tree = CACHE / "Django-5.2"
    if (tree / "django").is_dir():
        return tree
    CACHE.mkdir(parents=True, exist_ok=True)
    archive = CACHE / "Django-5.2.tar.gz"
    if not archive.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                        "django==5.2", "-d", str(CACHE)], check=True, capture_output=True)
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith("Django-5.2/django/") and m.name.endswith(".py")]
        tar.extractall(CACHE, members=members, filter="data")
    return tree


def working_copy(source: Path, into: Path) -> Path:
    root = into / "repo"
    shutil.copytree(source / "django", root / "django")
    git = ["git", "-c", "user.email=b@example.com", "-c", "user.name=Bench", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q", "-b", "main", str(root)], check=True)
    subprocess.run([*git, "-C", str(root), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(root), "commit", "-q", "-m", "django 5.2"], check=True)
    return root


def script(root: Path, turns: int) -> Callable[[dict[str, Any]], ScriptedReply]:
    """Turn k: grep, read a slice, or edit one of the target files (a comment line); finish at the end."""
    def handler(body: dict[str, Any]) -> ScriptedReply:
        messages = body["messages"]
        if len(messages) == 2:
            return ScriptedReply(content="ready")
        done = sum(1 for m in messages if m["role"] == "assistant")
        if done + 1 >= turns:
            return ScriptedReply(tool_calls=[ScriptedToolCall("finish", json.dumps({"summary": "done"}))])
        target = TARGETS[done % len(TARGETS)]
        step = done % 3
        if step == 0:
            call = ScriptedToolCall("grep", json.dumps({"pattern": f"def \\w+_{done % 7}", "max_results": 20}))
        elif step == 1:
            call = ScriptedToolCall("read_file", json.dumps({"path": target, "start_line": 1 + 10 * done,
                                                             "end_line": 40 + 10 * done}))
        else:
            first = (root / target).read_text(encoding="utf-8").splitlines()[0]
            call = ScriptedToolCall("edit_file", json.dumps({"path": target, "old_text": first,
                                                             "new_text": f"# bench edit {done}\n{first}"}))
        return ScriptedReply(content=f"Step {done}: looking at {target}.", tool_calls=[call])
    return handler


@dataclass
class Figures:
    calls: int = 0
    prompt: int = 0
    hit: int = 0
    theoretical: int = 0
    cost: float = 0.0
    first_call_hit: int = 0
    first_call_prompt: int = 0
    seconds: float = 0.0

    def add(self, server: StandIn, start: int) -> None:
        table = load_price_table()
        records = server.calls[start:]
        if records:
            self.first_call_hit, self.first_call_prompt = records[0].cache_hit, records[0].prompt_tokens
        for r in records:
            self.calls += 1
            self.prompt += r.prompt_tokens
            self.hit += r.cache_hit
            self.theoretical += r.theoretical_max_hit
            usage = Usage(r.prompt_tokens, r.output_tokens, r.cache_hit, r.cache_miss, r.reasoning_tokens)
            self.cost += price_call(table, MODEL, usage, PRICED_AT).total_usd


def pack(root: Path, budget: int) -> Snapshot:
    options = PackOptions(tokenizer="deepseek-v4", budget=budget, fmt="xml", include=(), exclude=(),
                          max_file_bytes=1_000_000, secrets="redact", focus=())
    return Snapshot.build(root, options)


def run_agent(root: Path, server: StandIn, snapshot: Snapshot, task: str, *, prime: bool, turns: int) -> None:
    engine = open_engine(EngineSettings(engine="deepseek", base_url=server.base_url, api_key="sk-test",
                                         model=MODEL, think="off"))
    tools, system = tool_schemas(), load_prompt("system.md")
    conversation = Conversation.start(system, snapshot.text, task)
    writer = SessionWriter.create(root, StartRecord(task=task, tools=tuple(tools)))
    ctx = ToolContext(root, approve="yes")
    agent = Agent(engine=engine, conversation=conversation, tools=tools,
                  run_tool=lambda n, a: run_tool(ctx, n, a), writer=writer, table=load_price_table(),
                  config=AgentConfig(engine_name="deepseek", max_turns=turns + 2),
                  tracker=CacheTracker(get_tokenizer("deepseek-v4")), system_prompt=system, snapshot=snapshot)
    if prime:
        agent.prime()
    outcome = agent.run()
    assert outcome.status == "finished", outcome


def run_naive(root: Path, server: StandIn, budget: int, task: str, *, turns: int) -> None:
    """Re-pack before every turn: the pack is rewritten in place, so every edit breaks the cache behind it."""
    engine = open_engine(EngineSettings(engine="deepseek", base_url=server.base_url, api_key="sk-test",
                                         model=MODEL, think="off"))
    tools, system = tool_schemas(), load_prompt("system.md")
    ctx = ToolContext(root, approve="yes")
    history: list[dict[str, Any]] = []
    for _ in range(turns + 2):
        messages = [*initial_messages(system, pack(root, budget).text, task), *history]
        reply = engine.complete(messages, tools)
        history.append(reply.as_message())
        finished = False
        for call in reply.tool_calls:
            result = run_tool(ctx, call.name, call.arguments)
            history.append(tool_message(call.id, result.content))
            finished = finished or result.finished
        if finished:
            return


def scenario(name: str, source: Path, budget: int, turns: int) -> tuple[Figures, Figures]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp, StandIn(unit_interval=4096) as server:
        first, second = Figures(), Figures()
        for figures, task, number in ((first, "add a comment to six modules", 1),
                                      (second, "explain the paginator", 2)):
            root = working_copy(source, Path(tmp) / str(number))
            server.handler = script(root, turns)
            started, start = time.perf_counter(), len(server.calls)
            if name == "naive":
                run_naive(root, server, budget, task, turns=turns)
            else:  # as the CLI does, the second session does not prime again: session 1 sent the same prefix
                run_agent(root, server, pack(root, budget), task, prime=name == "always prime" and number == 1,
                          turns=turns)
            figures.add(server, start)
            figures.seconds = time.perf_counter() - started
        return first, second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=200_000, help="pack budget in tokens")
    parser.add_argument("--turns", type=int, default=30)
    args = parser.parse_args()
    source = django_source()
    results = {name: scenario(name, source, args.budget, args.turns) for name in ("always prime", "never prime", "naive")}
    print(f"Django 5.2, pack budget {args.budget:,} tokens, {args.turns}-turn session then a second session; "
          f"{MODEL} at peak ({PRICED_AT:%Y-%m-%d %H:%M} UTC); stand-in with V4 unit rules (interval 4096)")
    header = f"{'':34}" + "".join(f"{n:>16}" for n in results)
    print(header)

    def row(label: str, fn: Callable[[Figures, Figures], str]) -> None:
        print(f"{label:34}" + "".join(f"{fn(*results[n]):>16}" for n in results))

    row("session 1 calls", lambda a, b: f"{a.calls}")
    row("session 1 prompt tokens", lambda a, b: f"{a.prompt:,}")
    row("session 1 hit ratio", lambda a, b: f"{100 * a.hit / a.prompt:.2f}%")
    row("session 1 hit / theoretical max", lambda a, b: f"{100 * a.hit / max(1, a.theoretical):.2f}%")
    row("session 1 cost $", lambda a, b: f"{a.cost:.4f}")
    row("session 2 first-call hit tokens", lambda a, b: f"{b.first_call_hit:,}/{b.first_call_prompt:,}")
    row("session 2 cost $", lambda a, b: f"{b.cost:.4f}")
    row("both sessions cost $", lambda a, b: f"{a.cost + b.cost:.4f}")
    row("wall seconds (both)", lambda a, b: f"{a.seconds + b.seconds:.1f}")
    primed, unprimed = results["always prime"], results["never prime"]
    delta = (unprimed[0].cost + unprimed[1].cost) - (primed[0].cost + primed[1].cost)
    prefix = primed[0].first_call_prompt
    table = load_price_table()
    rates = [price_call(table, MODEL, Usage(10**6, 0, h, 10**6 - h), PRICED_AT).total_usd for h in (10**6, 0)]
    auto = priming_pays(prefix, interval=ASSUMED_UNIT_INTERVAL, hit_usd_per_m=rates[0], miss_usd_per_m=rates[1])
    print(f"priming paid for itself over two sessions: {'yes' if delta > 0 else 'no'} (saved ${delta:.6f}; "
          f"anchor: the issue asks that priming pay for itself)")
    print(f"--prime auto would {'prime' if auto else 'not prime'} this {prefix:,}-token prefix "
          f"(tail after the last interval unit: {prefix % ASSUMED_UNIT_INTERVAL:,} tokens)")


if __name__ == "__main__":
    main()
