"""One subagent: a read-only agent run forked from the main conversation at the request just sent.

Its first request is the main request's messages, unchanged, plus one user message with the task, so the
provider's cache serves everything up to the fork point at the hit price. It sends the main session's tool
schemas byte for byte (they sit in the cached prefix) but runs only the read-only ones: any other call,
``task`` included (no nesting), answers a tool error. It has its own turn and cost limits, its own session
file beside the parent's, and its calls go to the same ledger under its own id.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from v4agent.accounting import Ledger, PriceTable
from v4agent.agent.events import Event, ToolRunner
from v4agent.agent.loop import Agent, AgentConfig
from v4agent.agent.request.cachediag import CacheTracker
from v4agent.agent.request.layout import Conversation, Message
from v4agent.agent.sessions.blobs import outline_contents
from v4agent.agent.sessions.records import CallRecord, MessageRecord, SessionRecord, StartRecord
from v4agent.agent.sessions.store import SessionWriter
from v4agent.engine.types import Engine, ToolSchema
from v4agent.tools.tool import ToolResult

__all__ = ["READ_ONLY", "SUBAGENTS_DIR", "ForkPoint", "SubagentLimits", "SubagentResult", "read_only_runner", "run_subagent",
           "task_message"]

SUBAGENTS_DIR = "subagents"  # under the sessions directory: not a session of its own to list or resume

# What a subagent may run: it looks, and finish hands back its summary.
READ_ONLY = frozenset({"read_file", "list_files", "grep", "git_diff", "finish"})


@dataclass(frozen=True)
class SubagentLimits:
    """A subagent's own limits (config ``subagents.*``): model calls, and USD (None: only the parent's)."""

    max_turns: int = 12
    max_cost: float | None = 0.5
    parallel: int = 4


@dataclass(frozen=True)
class ForkPoint:
    """Where subagents fork: the main request's messages and tools, and what the main run was built with."""

    messages: tuple[Message, ...]
    tools: tuple[ToolSchema, ...]
    system_prompt: str
    engine: Engine
    table: PriceTable
    config: AgentConfig
    ledger: Ledger | None
    parent_id: str
    parent_turn: int
    sessions_dir: Path  # the parent's session directory: subagent files go in its subagents/ folder


@dataclass(frozen=True)
class SubagentResult:
    """How one subagent ended, as the parent session records it."""

    index: int
    description: str
    session_id: str
    status: str
    reason: str
    summary: str
    turns: int
    cost_usd: float
    prompt_tokens: int
    cache_hit: int
    output_tokens: int
    first_prompt: int  # its first request: prompt tokens and billed hit (the fork's cache test)
    first_hit: int
    fork_tokens: int  # the forked prefix as the tracker counts it

    def tool_content(self) -> str:
        """The tool result the main conversation gets: a header line, then the summary (nothing else)."""
        head = (f"[subagent {self.description!r}: {self.status}, {self.turns} call(s), "
                f"${self.cost_usd:.4f}]")
        if self.status == "finished" and self.summary.strip():
            return f"{head}\n{self.summary.strip()}"
        return f"{head}\nThe subagent ended without a summary: {self.reason}"


def task_message(description: str, prompt: str) -> Message:
    """The user message appended at the fork point: who the subagent is, what it may do, its task."""
    return {"role": "user", "content": (
        "(You are now a subagent: a helper forked from the conversation above to do one task and report back. "
        "You can only look: read_file, list_files, grep and git_diff work; every other tool answers an error, "
        "and the task tool is not available to you. Do not try to change anything. When you are done, call "
        "finish with a summary of what you found: it is all the main agent will see, so be concrete (paths, "
        "line numbers, names) and brief.)\n\n"
        f"Task: {description.strip()}\n\n{prompt.strip()}")}


def read_only_runner(runner: Callable[[str, str], ToolResult], also: frozenset[str] = frozenset()) -> ToolRunner:
    """``runner`` limited to the read-only tools (and ``also``: MCP tools their server marks read-only); anything
    else is refused as a tool error, never run."""
    permitted = READ_ONLY | also
    allowed = ", ".join(sorted(permitted - {"finish"}))

    def run(name: str, arguments: str) -> ToolResult:
        if name in permitted:
            return runner(name, arguments)
        return ToolResult(f"{name}: refused: a subagent may only read ({allowed}), then call finish with a "
                          "summary; changes are the main agent's job.", False)

    return run


class _ForkWriter(SessionWriter):
    """A subagent's session file: large contents go to the parent's blob store, shared with the parent."""

    def __init__(self, path: Path, session_id: str, blobs_in: Path) -> None:
        super().__init__(path)
        self.session_id = session_id  # the ledger's id: the parent's, then the fork's place in it
        self.blobs_in = blobs_in
        self.calls: list[CallRecord] = []  # this run's calls, for the parent's record

    def write(self, record: SessionRecord) -> None:
        """Append one record durably; keep the calls."""
        super().write(record)
        if isinstance(record, CallRecord):
            self.calls.append(record)

    def message(self, index: int, message: Message) -> None:
        """Append one message, a large content stored once in the parent's blobs."""
        self.write(MessageRecord(index, outline_contents(message, self.blobs_in)))


def _stop_on(cancel: threading.Event) -> Callable[[Event], None]:
    """An observer that ends the subagent's call in flight once ``cancel`` is set (the parent was stopped)."""
    def observe(event: Event) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt("the main session was stopped")
    return observe


def run_subagent(fork: ForkPoint, *, index: int, description: str, prompt: str, limits: SubagentLimits,
                 runner: Callable[[str, str], ToolResult], tracker: CacheTracker,
                 max_cost: float | None, cancel: threading.Event,
                 also_read_only: frozenset[str] = frozenset()) -> SubagentResult:
    """Run one subagent to its end (finish, a text answer, or a limit); never raises for the model's doing."""
    name = f"t{fork.parent_turn}-{index}"
    session_id = f"{fork.parent_id}.sub-{name}"
    writer = _ForkWriter(fork.sessions_dir / SUBAGENTS_DIR / f"{session_id}.jsonl", session_id, fork.sessions_dir)
    # The forked messages are the parent's (its file has them): this file starts at the task message.
    writer.write(StartRecord(id=session_id, task=f"{description}\n\n{prompt}", kind="subagent",
                             model=fork.engine.settings.model, tools=fork.tools))
    messages = [*fork.messages, task_message(description, prompt)]
    writer.message(len(messages) - 1, messages[-1])
    fork_tokens = tracker.seed(list(fork.messages), list(fork.tools))
    config = AgentConfig(engine_name=fork.config.engine_name, max_turns=limits.max_turns, max_cost=max_cost,
                         window=fork.config.window, max_output=fork.config.max_output,
                         compact_margin=fork.config.compact_margin, compact_min_gain=fork.config.compact_min_gain,
                         loop_limit=fork.config.loop_limit, text_ends_turn=True)
    agent = Agent(engine=fork.engine, conversation=Conversation(messages), tools=fork.tools,
                  run_tool=read_only_runner(runner, also_read_only), writer=writer, table=fork.table, config=config,
                  tracker=tracker, system_prompt=fork.system_prompt, observer=_stop_on(cancel), ledger=fork.ledger)
    outcome = agent.run()
    calls = writer.calls
    first = calls[0] if calls else None
    return SubagentResult(
        index=index, description=description, session_id=session_id, status=outcome.status,
        reason=outcome.reason, summary=outcome.summary, turns=outcome.turns, cost_usd=outcome.spent_usd,
        prompt_tokens=sum(int(c.prompt_tokens or 0) for c in calls),
        cache_hit=sum(int(c.cache_hit or 0) for c in calls),
        output_tokens=sum(int(c.output_tokens or 0) for c in calls),
        first_prompt=int(first.prompt_tokens or 0) if first else 0,
        first_hit=int(first.cache_hit or 0) if first else 0, fork_tokens=fork_tokens,
    )
