"""Benchmark: what v4agent adds to an MCP tool call and to a tool call with a hook, beside the targets.

    PYTHONPATH=. python bench/bench_extend.py [--calls N] [--hook-runs N]

1. MCP: the median of N (200) calls of a real SDK-built server's `echo` tool, through the path the agent loop
   takes (``Extensions.runner``: hooks, approval, the hub's thread hop, arguments, redaction, the cap), and
   the median of N calls of the same tool by a bare SDK ``Client`` in its own event loop (the server's own
   time, its transport included). Added = v4agent's median less the bare client's. For stdio, a user's server
   (unsandboxed) and a repository's (in bubblewrap, whose bare baseline is the unsandboxed server: the
   sandbox's share is counted as added); for HTTP, the same server over streamable HTTP on loopback.
   Target: < 5 ms added per call.
2. Hooks: the median of N (100) PreToolUse events with one hook (`cat > /dev/null`, the event's JSON on its
   stdin) in the sandbox, less the median of N plain `bash -c 'cat > /dev/null'` runs with the same stdin.
   Target: < 20 ms added per hook.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from mcp import Client
from mcp.client.stdio import StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.extend.conftest import SERVER, http_server
from v4agent.extend.hooks import Hooks
from v4agent.extend.hooks_config import HookSpec
from v4agent.extend.hooks_session import Extensions
from v4agent.extend.mcp.config import McpServerSpec
from v4agent.extend.mcp.hub import McpHub
from v4agent.sandbox import containment, make_policy
from v4agent.tools.proc import run_command
from v4agent.tools.tool import ToolContext

MCP_TARGET_MS = 5.0
HOOK_TARGET_MS = 20.0
ARGS = {"text": "hello from the bench"}


def _median_ms(run: Callable[[], object], n: int) -> float:
    for _ in range(min(10, n)):  # warm-up
        run()
    times = []
    for _ in range(n):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def bare_sdk_ms(server: StdioServerParameters | str, n: int) -> float:
    """The median call of ``echo`` by the SDK's own Client, nothing of v4agent around it."""
    async def main() -> float:
        async with Client(server, cache=None) as client:
            for _ in range(10):
                await client.call_tool("echo", ARGS)
            times = []
            for _ in range(n):
                started = time.perf_counter()
                await client.call_tool("echo", ARGS)
                times.append(time.perf_counter() - started)
            return statistics.median(times) * 1000
    return asyncio.run(main())


def v4agent_ms(spec: McpServerSpec, root: Path, n: int) -> float:
    """The median call of ``echo`` through the runner the agent loop calls."""
    ctx = ToolContext(root, approve="yes", sandbox=make_policy(root))
    hub = McpHub([spec], root=root, sandbox=ctx.sandbox)
    statuses = hub.start()
    if not statuses[0].ok:
        raise SystemExit(f"{spec.name} did not start: {statuses[0].error}")
    ext = Extensions(ctx, hub, Hooks([], root, policy=ctx.sandbox))
    run = ext.runner(lambda name, arguments: (_ for _ in ()).throw(AssertionError(name)))
    name = f"mcp__{spec.name}__echo"
    arguments = json.dumps(ARGS)
    try:
        return _median_ms(lambda: run(name, arguments), n)
    finally:
        ext.close()


def bench_mcp(root: Path, n: int) -> None:
    stdio = StdioServerParameters(command=sys.executable, args=[str(SERVER)])
    user = McpServerSpec("user", "stdio", "user", "bench", command=sys.executable, args=(str(SERVER),))
    project = McpServerSpec("repo", "stdio", "project", "bench", command=sys.executable, args=(str(SERVER),))
    proc, url = http_server("web")
    try:
        rows = [("stdio, user's server", bare_sdk_ms(stdio, n), v4agent_ms(user, root, n))]
        if containment(make_policy(root)).available:
            rows.append(("stdio, repository's (sandboxed)", rows[0][1], v4agent_ms(project, root, n)))
        web = McpServerSpec("web", "http", "user", "bench", url=url)
        rows.append(("streamable HTTP, loopback", bare_sdk_ms(url, n), v4agent_ms(web, root, n)))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"MCP tool call, median of {n} (target: < {MCP_TARGET_MS:g} ms added)")
    for label, bare, ours in rows:
        added = ours - bare
        verdict = "meets" if added < MCP_TARGET_MS else "MISSES"
        print(f"  {label:34} bare SDK {bare:7.2f} ms   via v4agent {ours:7.2f} ms   added {added:6.2f} ms  "
              f"{verdict} the target")


def bench_hooks(root: Path, n: int) -> None:
    policy = make_policy(root)
    if not containment(policy).available:
        print("hooks: no sandbox here; skipped")
        return
    hooks = Hooks([HookSpec("PreToolUse", "", "cat > /dev/null", 30.0, "user", "bench")], root, policy=policy,
                  session_id="bench", transcript_path=str(root / "t.jsonl"))
    arguments = json.dumps({"command": "pytest -q"})
    payload = json.dumps({"session_id": "bench", "hook_event_name": "PreToolUse", "tool_name": "shell",
                          "tool_input": {"command": "pytest -q"}}).encode()
    plain = _median_ms(lambda: subprocess.run(["bash", "-c", "cat > /dev/null"], input=payload, cwd=root,
                                              check=True), n)
    hooked = _median_ms(lambda: hooks.pre_tool("shell", arguments), n)
    hooks.policy = replace(policy, mode="off")  # the same path without bubblewrap: v4agent's own share
    unconfined = _median_ms(lambda: hooks.pre_tool("shell", arguments), n)
    sandbox_true = _median_ms(lambda: run_command("true", root, timeout_s=30, sandbox=policy), n)
    plain_true = _median_ms(lambda: run_command("true", root, timeout_s=30), n)
    added = hooked - plain
    verdict = "meets" if added < HOOK_TARGET_MS else "MISSES"
    print(f"PreToolUse hook, median of {n} (target: < {HOOK_TARGET_MS:g} ms added, in the sandbox)")
    print(f"  plain bash {plain:7.2f} ms   hook in the sandbox {hooked:7.2f} ms   added {added:6.2f} ms  "
          f"{verdict} the target")
    print(f"  of which v4agent's own handling (the hook unconfined): {unconfined - plain:6.2f} ms; the sandbox's "
          f"start-up on this machine (`true` via run_command, sandboxed less plain): {sandbox_true - plain_true:6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--hook-runs", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-extend-") as tmp:
        root = Path(tmp)
        bench_mcp(root, args.calls)
        bench_hooks(root, args.hook_runs)


if __name__ == "__main__":
    main()
