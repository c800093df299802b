"""The ``task`` tool's runner: the subagents one reply asks for, run in parallel from the request just sent.

The loop hands each reply's tool calls to ``before_tools`` before it runs them one by one; the ``task`` calls
among them start then, all at once (at most ``subagents.parallel``, and the engine's shared concurrency limit
bounds their requests), and when the loop reaches each ``task`` call its result is ready. The parent session
records each subagent (``SubtaskRecord``: its id, end, tokens and cost) and its spend counts against the
parent's ``max_cost``; the main conversation gets only the summary.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from v4agent.agent.events import Notice
from v4agent.agent.loop import Agent
from v4agent.agent.request.cachediag import CacheTracker
from v4agent.agent.request.layout import Message
from v4agent.agent.sessions.records import SubtaskRecord
from v4agent.agent.subagent import ForkPoint, SubagentLimits, SubagentResult, run_subagent
from v4agent.core.config import Config, ConfigError
from v4agent.engine.types import ToolCall, ToolSchema
from v4agent.extend.hooks_session import Extensions
from v4agent.extend.planmode import ModeGate
from v4agent.tools.args import BadArguments, parse_arguments
from v4agent.tools.task import TASK_TOOL, TASK_TOOL_NAME, offers_task
from v4agent.tools.tool import ToolResult

__all__ = ["Subagents", "limits_from", "read_only_mcp", "with_subagents"]


def read_only_mcp(ext: Extensions) -> frozenset[str]:
    """The session's MCP tools their server marks read-only (``readOnlyHint``): subagents may call them."""
    hub = ext.hub
    return frozenset(tool.qualified for tool in hub.tools if tool.read_only) if hub is not None else frozenset()


def limits_from(config: Config) -> SubagentLimits:
    """The ``subagents.*`` limits; a count below 1 is a configuration error."""
    turns, parallel = int(config.get("subagents.max_turns")), int(config.get("subagents.parallel"))
    if turns < 1 or parallel < 1:
        raise ConfigError("subagents.max_turns and subagents.parallel must be at least 1")
    cost = config.get("subagents.max_cost")
    return SubagentLimits(turns, float(cost) if cost is not None else None, parallel)


def with_subagents(runner: Callable[[str, str], ToolResult], tools: Sequence[ToolSchema], config: Config,
                   new_tracker: Callable[[], CacheTracker], *,
                   also_read_only: frozenset[str] = frozenset()) -> tuple[ModeGate, Subagents | None]:
    """A session's tool runner: plan mode's gate, over the task runner when the session's tools offer task
    (``task`` only looks, so plan mode lets it run). ``also_read_only``: tools that plan mode and subagents let
    run besides the built-in read-only ones (MCP tools their server marks read-only)."""
    if not offers_task(tools):
        return ModeGate(runner, also_read_only=set(also_read_only)), None
    subagents = Subagents(runner, limits_from(config), new_tracker, also_read_only)
    return ModeGate(subagents, also_read_only={TASK_TOOL_NAME, *also_read_only}), subagents


class Subagents:
    """Wraps a session's tool runner: ``task`` calls run as subagents, every other call goes to ``runner``."""

    def __init__(self, runner: Callable[[str, str], ToolResult], limits: SubagentLimits,
                 new_tracker: Callable[[], CacheTracker], also_read_only: frozenset[str] = frozenset()) -> None:
        self.runner = runner
        self.also_read_only = also_read_only  # MCP tools their server marks read-only
        self.limits = limits
        self.new_tracker = new_tracker  # a fresh cache mirror per subagent (trackers are not shared by threads)
        self.agent: Agent | None = None
        self.results: list[SubagentResult] = []
        self._ready: dict[str, list[ToolResult]] = {}

    def attach(self, agent: Agent) -> None:
        """Serve ``agent``: its replies' task calls fork its conversation."""
        self.agent = agent
        agent.before_tools = self.before_tools

    def __call__(self, name: str, arguments: str) -> ToolResult:
        """Run one call: a prepared task's result, a task's argument error, or the ordinary tool."""
        if name != TASK_TOOL_NAME:
            return self.runner(name, arguments)
        ready = self._ready.get(arguments)
        if ready:
            return ready.pop(0)
        try:
            _task_args(arguments)
        except BadArguments as exc:
            return ToolResult(f"task: bad arguments: {exc}", False)
        return ToolResult("task: refused: subagents run only from a reply of the main session", False)

    def before_tools(self, calls: Sequence[ToolCall], sent: Sequence[Message]) -> None:
        """Run the reply's task calls now, in parallel, forked from ``sent`` (the request that got the reply)."""
        agent = self.agent
        tasks: list[tuple[str, dict[str, Any]]] = []
        for call in calls:
            if call.name != TASK_TOOL_NAME:
                continue
            try:
                tasks.append((call.arguments, _task_args(call.arguments)))
            except BadArguments:
                continue  # answered as a tool error when the loop reaches it
        if agent is None or not tasks:
            return
        fork = ForkPoint(tuple(dict(m) for m in sent), tuple(agent.tools), agent.system_prompt, agent.engine,
                         agent.table, agent.config, agent.meter.ledger, agent.writer.session_id, agent.turn,
                         agent.writer.path.parent)
        cap = self._cost_cap(agent, len(tasks))
        cancel = threading.Event()
        agent.observer(Notice(f"starting {len(tasks)} subagent(s): "
                              + "; ".join(str(a["description"]) for _, a in tasks)))
        with ThreadPoolExecutor(max_workers=max(1, min(self.limits.parallel, len(tasks))),
                                thread_name_prefix="subagent") as pool:
            futures = [pool.submit(self._one, fork, index, args, cap, cancel)
                       for index, (_, args) in enumerate(tasks, start=1)]
            try:
                wait(futures)
            except BaseException:  # Ctrl-C: each subagent ends its call in flight and records its end
                cancel.set()
                raise
        for (raw, _), future in zip(tasks, futures, strict=True):
            self._record(agent, raw, future.result())

    def _one(self, fork: ForkPoint, index: int, args: dict[str, Any], cap: float | None,
             cancel: threading.Event) -> SubagentResult:
        description = str(args["description"])
        try:
            return run_subagent(fork, index=index, description=description, prompt=str(args["prompt"]),
                                limits=self.limits, runner=self.runner, tracker=self.new_tracker(), max_cost=cap,
                                cancel=cancel, also_read_only=self.also_read_only)
        except (OSError, ValueError) as exc:  # its session file cannot be written: the parent goes on
            return SubagentResult(index, description, "", "failed", f"the subagent could not start: {exc}", "",
                                  0, 0.0, 0, 0, 0, 0, 0, 0)

    def _cost_cap(self, agent: Agent, count: int) -> float | None:
        """Each subagent's cost limit: its own, and its share of what the parent's ``max_cost`` leaves."""
        caps = [self.limits.max_cost] if self.limits.max_cost is not None else []
        if agent.config.max_cost is not None:
            caps.append(max(0.0, agent.config.max_cost - agent.meter.spent_usd) / count)
        return min(caps) if caps else None

    def _record(self, agent: Agent, raw: str, result: SubagentResult) -> None:
        self.results.append(result)
        agent.meter.guard.add(result.cost_usd)  # the parent's limit covers its subagents
        agent.writer.write(SubtaskRecord(
            agent.turn, result.index, result.description, result.session_id, result.status, result.turns,
            round(result.cost_usd, 10), result.prompt_tokens, result.cache_hit, result.output_tokens,
            result.first_prompt, result.first_hit, result.fork_tokens))
        ratio = f"{result.first_hit / result.first_prompt:.1%}" if result.first_prompt else "-"
        agent.observer(Notice(f"subagent {result.description!r}: {result.status}, {result.turns} call(s), "
                              f"${result.cost_usd:.4f}, first request hit {ratio}"))
        self._ready.setdefault(raw, []).append(ToolResult(result.tool_content(), result.status == "finished"))


def _task_args(arguments: str) -> dict[str, Any]:
    args = parse_arguments(TASK_TOOL, arguments)
    for key in ("description", "prompt"):
        if not str(args.get(key) or "").strip():
            raise BadArguments(f"{key} is empty")
    return args
