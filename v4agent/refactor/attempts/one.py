"""One attempt: an ordinary agent session in its own worktree, started from the primed prefix, then its end state.

Runs in a worker thread. A shared stop flag (set on Ctrl-C or SIGTERM in the main thread) is checked at every
streamed piece and tool call: the attempt then ends as an interrupted session, saved and resumable.

Like any session it sends the whole tool list (``task`` when subagents are on, then the MCP tools), runs the
``task`` tool as subagents, and has its own hooks and MCP servers, opened in its worktree once that is checked
out (``open_extensions``): a hook or a server that writes files writes that attempt's files, never the user's.
The tool list itself is the run's, frozen before the priming call, so every attempt sends the same bytes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from v4agent.accounting import Ledger
from v4agent.agent.events import CallDone, Event, ToolStarted
from v4agent.agent.loop import Agent, Outcome
from v4agent.agent.request.cachediag import CacheTracker
from v4agent.agent.request.layout import Conversation, resume_message
from v4agent.agent.sessions.records import ResumeRecord, StartRecord
from v4agent.agent.sessions.store import SessionData, SessionWriter, read_session
from v4agent.agent.setup import RunSetup, agent_config, cache_tracker, configured_test_command, sandbox_policy
from v4agent.agent.subagent_rows import subagent_rows
from v4agent.agent.subagents import Subagents, read_only_mcp, with_subagents
from v4agent.core.fsutil import atomic_write_text
from v4agent.core.git import GitError, run_git
from v4agent.core.gitstart import worktree_tree
from v4agent.engine.client import RemoteEngine
from v4agent.extend.hooks_session import Extensions
from v4agent.refactor.attempts.manifest import AttemptResult
from v4agent.refactor.attempts.plan import AttemptSpec
from v4agent.refactor.attempts.worktrees import worktree_diff
from v4agent.sandbox import is_contained
from v4agent.tools.registry import ToolContext, ToolResult, run_tool
from v4agent.tools.testrun import detect_test_command, run_test_command

Say = Callable[[str], None]
Watch = Callable[[int, Event], None]  # every event of attempt N (the stream-json writer)


class Stopped(KeyboardInterrupt):
    """Raised inside an attempt's thread when the group is told to stop (the loop ends it as interrupted)."""


@dataclass
class Attempt:
    """One attempt's parts: its settings, worktree, engine, session and agent."""

    spec: AttemptSpec
    worktree: Path
    engine: RemoteEngine
    writer: SessionWriter
    agent: Agent
    ctx: ToolContext
    tools: list[dict[str, Any]]
    subagents: Subagents | None = None
    ext: Extensions | None = None

    def open_extensions(self, *, trusted: bool, say: Say) -> None:
        """Its hooks and MCP servers, started in its worktree (call once the worktree is checked out)."""
        number = self.spec.number
        ext = Extensions.open(self.ctx, project_trusted=trusted, notice=lambda line: say(f"attempt {number}: {line}"))
        ext.bind(self.writer.session_id, self.writer.path)
        listed = [s for s in self.tools if s.get("function", {}).get("name", "").startswith("mcp__")]
        if ext.schemas() != listed:  # the run's list stays what is sent; a tool its servers lack answers an error
            say(f"attempt {number}: its MCP servers list other tools than the run's; the run's list is sent")
        self.ext = ext
        self.agent.gate = ext
        if self.subagents is not None:  # subagents may call the MCP tools their server marks read-only
            self.subagents.also_read_only = read_only_mcp(ext)

    def close_extensions(self) -> None:
        """SessionEnd and the servers stopped (once)."""
        if self.ext is not None:
            self.ext.close()


def open_attempt(run: RunSetup, spec: AttemptSpec, worktree: Path, engine: RemoteEngine, start: StartRecord,
                 session_id: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]],
                 system_prompt: str, stop: threading.Event, say: Say, *, primed: bool,
                 watch: Watch | None = None) -> Attempt:
    """The attempt's session file (its own start record and messages) and agent, ready to run."""
    writer = SessionWriter.create(run.root, replace(start, repo=str(worktree), task=str(messages[2]["content"])),
                                  session_id)
    for index, message in enumerate(messages):
        writer.message(index, message)
    tracker = cache_tracker(engine)
    if primed:  # by attempt 1's priming call before the fan-out (that call records it in its own tracker)
        tracker.seed(messages[:2], tools)
    return _attempt(run, spec, worktree, engine, writer, Conversation(list(messages)), tools, tracker, start,
                    system_prompt, stop, say, watch=watch)


def resume_attempt(run: RunSetup, spec: AttemptSpec, worktree: Path, engine: RemoteEngine, session: SessionData,
                   stop: threading.Event, say: Say) -> Attempt:
    """An interrupted attempt's session, continued where it stopped (its worktree holds its work so far)."""
    writer = SessionWriter(session.path)
    writer.write(ResumeRecord(engine.settings.model, engine.settings.think))
    conversation = Conversation(session.messages)
    tools = session.tools  # exactly as sent before: part of the cached prefix
    tracker = cache_tracker(engine)
    last = max((i for i, m in enumerate(conversation.messages) if m.get("role") == "assistant"), default=1)
    tracker.seed(conversation.messages[: last + 1], tools)
    attempt = _attempt(run, spec, worktree, engine, writer, conversation, tools, tracker, session.start,
                       str(conversation.messages[0].get("content", "")), stop, say, spent=session.cost_usd)
    attempt.agent.close_dangling()
    attempt.agent.append(resume_message())
    return attempt


def _attempt(run: RunSetup, spec: AttemptSpec, worktree: Path, engine: RemoteEngine, writer: SessionWriter,
             conversation: Conversation, tools: list[dict[str, Any]], tracker: CacheTracker, start: StartRecord,
             system_prompt: str, stop: threading.Event, say: Say, spent: float = 0.0, *,
             watch: Watch | None = None) -> Attempt:
    approve = run.config.get("approve")
    holder: list[Attempt] = []
    ctx = ToolContext(worktree, approve=approve, ask=None, test_cmd=configured_test_command(run.config),
                      start_commit=str(start.git.get("commit", "")) if isinstance(start.git, dict) else None,
                      sandbox=sandbox_policy(worktree, run.config, warn_missing=False))

    def builtin(name: str, arguments: str) -> ToolResult:
        if stop.is_set():
            raise Stopped
        return run_tool(ctx, name, arguments)

    def tool(name: str, arguments: str) -> ToolResult:  # the hooks and MCP servers join once the worktree is out
        ext = holder[0].ext if holder else None
        return ext.runner(builtin)(name, arguments) if ext is not None else builtin(name, arguments)

    def observe(event: Event) -> None:
        if stop.is_set():
            raise Stopped
        if watch is not None:
            watch(spec.number, event)
        if isinstance(event, CallDone) and event.kind == "turn":
            hit = event.usage.cache_hit if event.usage else None
            ratio = f"{100 * hit / event.usage.prompt_tokens:.1f}%" if event.usage and hit is not None and \
                event.usage.prompt_tokens else "-"
            say(f"attempt {spec.number}: turn {event.turn}, cache hit {ratio}, ${event.spent_usd:.4f}")
        elif isinstance(event, ToolStarted):
            say(f"attempt {spec.number}: {event.name}")

    config = agent_config(run.config, engine)
    if config.max_cost is not None and spec.group_size > 1:  # the cap is the run's: each attempt gets its share
        config = replace(config, max_cost=config.max_cost / spec.group_size)
    runner, subagents = with_subagents(tool, tools, run.config, lambda: cache_tracker(engine))
    agent = Agent(engine=engine, conversation=conversation, tools=tools, run_tool=runner, writer=writer,
                  table=run.table, config=config, tracker=tracker,
                  system_prompt=system_prompt, observer=observe, spent_usd=spent, ledger=Ledger(run.root))
    if subagents is not None:
        subagents.attach(agent)
    attempt = Attempt(spec, worktree, engine, writer, agent, ctx, list(tools), subagents)
    holder.append(attempt)
    return attempt


def _final_tests(ctx: ToolContext, outcome: Outcome) -> str:
    """pass, fail, none or "not run": the loop's last run when fresh, else the test command in the worktree."""
    if outcome.status != "finished":
        return "not run"
    if outcome.tests_ok is not None:
        return "pass" if outcome.tests_ok else "fail"
    command = ctx.test_cmd or detect_test_command(ctx.repo_root)
    if command is None:
        return "none"
    if ctx.sandbox is None or (ctx.approve != "yes" and not is_contained(ctx.sandbox)):
        return "not run"  # nobody to approve an unsandboxed command from a worker thread
    result = run_test_command(ctx.repo_root, command, timeout_s=600, sandbox=ctx.sandbox)
    return "pass" if result.passed else "fail"


def finish_attempt(attempt: Attempt, outcome: Outcome, start_tree: str, diff_file: Path, *,
                   run_tests: bool = True) -> AttemptResult:
    """The attempt's end as the manifest records it; its diff written beside the manifest (also when it was
    stopped: the worktree goes, the work so far stays)."""
    tests = _final_tests(attempt.ctx, outcome) if run_tests else "not run"
    try:
        diff = worktree_diff(attempt.worktree, start_tree)
        names = run_git(attempt.worktree, "diff", "--name-only", "--no-renames", "-z", start_tree,
                        worktree_tree(attempt.worktree), text=True)
        changed = tuple(p for p in names.split("\0") if p)
    except GitError as exc:
        diff, changed = "", ()
        outcome.reason += f" (its diff could not be taken: {exc.reason})"
    atomic_write_text(diff_file, diff)
    return result_of(attempt.spec, attempt.writer.path, outcome, tests, changed, diff_file)


def result_of(spec: AttemptSpec, session_path: Path, outcome: Outcome, tests: str, changed: tuple[str, ...],
              diff_file: Path) -> AttemptResult:
    """Turns, tokens and cost from the attempt's session file (the priming call is the group's, not its own;
    its subagents' cost is its own)."""
    session = read_session(session_path)
    calls = [c for c in session.calls if c.kind != "prime"]
    first = calls[0] if calls else None
    return AttemptResult(
        number=spec.number, temperature=spec.temperature, strategy=spec.strategy, session_id=session.session_id,
        status=outcome.status, reason=outcome.reason, summary=outcome.summary, turns=outcome.turns, tests=tests,
        prompt_tokens=sum(c.prompt_tokens for c in calls), hit_tokens=sum(c.cache_hit or 0 for c in calls),
        first_prompt_tokens=first.prompt_tokens if first else 0,
        first_hit_tokens=(first.cache_hit or 0) if first else 0,
        cost_usd=round(sum(c.cost_usd for c in calls) + sum(float(t.cost_usd or 0.0) for t in session.subtasks), 8),
        changed_files=changed, diff_file=diff_file.name, subagents=tuple(subagent_rows(session.subtasks)))
