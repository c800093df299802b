"""The body of `v4agent refactor PATH "task"`: the main job. Pack the repository, then let the model work on the task.

Git safety first (a dirty tree is refused unless --allow-dirty; the starting state is recorded so `v4agent undo`
can restore it), then the pack, the engine, the priming call and the agent loop. Progress goes to stderr; the
final report (diff, summary, tests, cost) to stdout, or one JSON document with --json.
"""

from __future__ import annotations

import contextlib
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.prompt import Prompt
from rich.text import Text

from v4agent.accounting import (
    Ledger,
    estimate_pack_cost,
    price_call,
)
from v4agent.agent.loop import Agent
from v4agent.agent.request.cachediag import CacheTracker
from v4agent.agent.request.layout import (
    ASSUMED_UNIT_INTERVAL,
    Conversation,
    prefix_hash,
    priming_pays,
    resume_message,
    task_message,
)
from v4agent.agent.resume import resumed_settings
from v4agent.agent.sessions.lock import note_session, release_session_locks
from v4agent.agent.sessions.records import ResumeRecord, StartRecord
from v4agent.agent.sessions.store import (
    SessionData,
    SessionWriter,
    find_resumable,
    recent_prefix_seen,
)
from v4agent.agent.setup import (
    RunSetup,
    Workspace,
    agent_config,
    cache_tracker,
    open_workspace,
    pack_repository,
    start_run,
    tool_context,
)
from v4agent.agent.streamjson import StreamWriter
from v4agent.agent.subagents import read_only_mcp, with_subagents
from v4agent.core.errors import ExitCode, Interrupted, UsageError
from v4agent.core.git import GitError
from v4agent.core.gitstart import GitStart, capture_start, dirty_paths
from v4agent.core.signals import stop_on_signals
from v4agent.engine.types import EngineError, EngineUnreachable, Usage
from v4agent.extend.hooks_session import Extensions
from v4agent.extend.instructions import with_instructions
from v4agent.prompts import load_prompt
from v4agent.refactor.drive import drive
from v4agent.refactor.extensions import open_extensions, open_stream, start_plan
from v4agent.refactor.request import PRIME_POLICIES, RefactorRequest
from v4agent.refactor.unbilled import drop_unbilled
from v4agent.tools.approval import Answer, ApprovalRequest, Asker
from v4agent.tools.registry import ToolContext, run_tool
from v4agent.tools.task import session_tool_schemas
from v4agent.ui.console import error, stderr, stdout, warn
from v4agent.ui.trustprompt import ask_trust_on_terminal
from v4agent.ui.visible import hidden_note, visible_text

if TYPE_CHECKING:
    from v4agent.pack import Snapshot

_WHY_GIT = "refactor records the starting commit so that `v4agent undo` can restore it"


def _ask(request: ApprovalRequest) -> Answer:
    """Ask on the terminal; the command (or path and diff) is shown whole, its escapes written out."""
    what = {"shell": "run", "mcp": "call an MCP tool"}.get(request.kind, "make this edit")
    stderr.print(Text.assemble((request.tool, "bold"), f" wants to {what}:"), highlight=False)
    stderr.print(visible_text(request.summary), highlight=False, soft_wrap=True)
    note = hidden_note(request.summary, request.detail)
    if note:
        stderr.print(Text(note, style="yellow"), highlight=False)
    if request.detail:
        stderr.print(visible_text(request.detail), highlight=False, soft_wrap=True)
    answer = Prompt.ask("allow?", choices=["yes", "no", "always"], default="no", console=stderr)
    return "always" if answer == "always" else "yes" if answer == "yes" else "no"



def _build_pack(workspace: Workspace, model: str, budget: int | None) -> Snapshot:
    from v4agent.pack.options import PackError  # imported when used: the packer's modules are heavy

    try:
        return pack_repository(workspace, model=model, budget=budget)
    except PackError as exc:
        raise UsageError(f"cannot pack {workspace.root}: {exc}") from None
    except KeyboardInterrupt:
        raise Interrupted("interrupted while packing") from None


def _offline(workspace: Workspace, request: RefactorRequest, exc: EngineError) -> typer.Exit:
    """No engine: still pack, show what a run would cost per model, and say exactly what to set."""
    model = str(workspace.config.get("model") or "deepseek-v4-flash")
    snapshot = _build_pack(workspace, model, request.budget)
    estimates = estimate_pack_cost(workspace.table, snapshot.token_count, datetime.now(UTC))
    hint = exc.hint or "set DEEPSEEK_API_KEY, or pass --engine/--base-url for another server"
    if request.as_json or request.stream:
        report = {
            "status": "engine_unreachable", "error": str(exc), "hint": hint, "pack_tokens": snapshot.token_count,
            "files": len(snapshot.files), "estimates": [e.__dict__ for e in estimates],
            "exit_code": int(ExitCode.ENGINE_UNREACHABLE),
        }
        if request.stream:
            StreamWriter(sys.stdout).end(report)
        else:
            print(json.dumps(report, indent=2))
    else:
        from v4agent.refactor.progress import estimate_table

        count = len(snapshot.files)
        stdout.print(f"Packed {count} file{'' if count == 1 else 's'} into {snapshot.token_count:,} tokens.")
        stdout.print(estimate_table(estimates))
    error(f"{exc}")
    stderr.print(f"hint: {hint}", markup=False, highlight=False)
    return typer.Exit(ExitCode.ENGINE_UNREACHABLE)


def _start_record(run: RunSetup, task: str, tools: list[dict[str, Any]], phash: str, git: GitStart,
                  pack_tokens: int) -> StartRecord:
    s = run.engine.settings
    return StartRecord(task=task, repo=str(run.root), engine=run.engine.name, base_url=run.engine.base_url,
                       model=s.model, think=s.think, max_tokens=s.max_tokens, tools=tuple(tools),
                       prefix_hash=phash, git=git.to_json(), pack_tokens=pack_tokens, undo="checkpoints")


def run_refactor(request: RefactorRequest) -> None:
    """Let the model carry out the request's task on its repository, with tools, tests and a cost report.

    SIGTERM and SIGHUP stop it like Ctrl-C (the session saved, exit 5); it holds the repository's session lock.
    """
    try:
        with stop_on_signals(), contextlib.ExitStack() as cleanup:  # the session's MCP servers stop on the way out
            _run_refactor(request, cleanup)
    finally:
        release_session_locks()


def _open_extensions(workspace: Workspace, ctx: ToolContext, sid: str, cleanup: contextlib.ExitStack) -> Extensions:
    """The session's MCP servers and hooks (a repository's only when trusted), closed when the command ends."""
    ext = Extensions.open(ctx, project_trusted=workspace.config.untrusted is None,
                          notice=lambda line: warn(escape(line)))
    cleanup.callback(ext.close)
    from v4agent.agent.sessions.store import sessions_dir

    ext.bind(sid, sessions_dir(workspace.root, create=False) / f"{sid}.jsonl")
    return ext


def _hooked_prompt(ext: Extensions, task: str, source: str) -> str:
    prompt, refusal = ext.prompt_context(task, source=source)
    if prompt is None:
        raise UsageError(f"a UserPromptSubmit hook refused the task: {refusal}")
    return prompt


def _run_refactor(request: RefactorRequest, cleanup: contextlib.ExitStack) -> None:
    flags = request.config_flags()
    # SetupError, ConfigError, PriceTableError and SessionError are usage errors (exit 2): the entry point says so.
    workspace = open_workspace(request.path, flags, why=_WHY_GIT, ask_trust=ask_trust_on_terminal if sys.stdin.isatty() else None,
                               warn=lambda line: warn(escape(line)))
    if request.prime not in PRIME_POLICIES:
        raise UsageError(f"--prime must be auto, always or never, not {request.prime!r}")
    if request.resume is None and not request.task.strip() and not request.command:
        raise UsageError('give a task: v4agent refactor PATH "what to do"')
    root = workspace.root
    session = find_resumable(root, request.resume or None) if request.resume is not None else None
    overrides: dict[str, Any] = {}
    if session is not None:  # the session's own settings, unless overridden: they are the cache key
        overrides = resumed_settings(session, workspace.config, flags, ("engine", "model", "think", "base_url"))
    try:
        run = start_run(workspace, session=session, overrides=overrides)
    except EngineError as exc:
        if session is not None:
            raise EngineUnreachable(str(exc), hint=exc.hint) from None  # a resume needs its engine: exit 6
        raise _offline(workspace, request, exc) from None
    eng = run.engine
    ask = _ask if sys.stdin.isatty() else None
    if session is not None:
        _resume(run, session, request, ask, cleanup)
        return
    dirty = [p for p in dirty_paths(root) if not p.startswith(".v4agent/")]
    if dirty and not request.allow_dirty:
        shown = ", ".join(dirty[:8]) + (f" and {len(dirty) - 8} more" if len(dirty) > 8 else "")
        raise UsageError(f"the working tree has uncommitted changes ({shown}); commit or stash them, or pass "
                         "--allow-dirty")
    rx = open_extensions(request, root, warn=lambda line: warn(escape(line)))
    stderr.print("packing the repository…", style="dim")
    snapshot = _build_pack(workspace, eng.settings.model, request.budget)
    # The instruction files join the system message: the stable block before the pack, recorded with it.
    system_prompt = with_instructions(load_prompt("system.md"), rx.instructions)
    from v4agent.agent.sessions.store import new_session_id

    sid = new_session_id()
    ctx = tool_context(workspace, ask=ask)
    ext = _open_extensions(workspace, ctx, sid, cleanup)
    task = _hooked_prompt(ext, rx.task, "startup")
    tools = session_tool_schemas(subagents=bool(run.config.get("subagents.enabled"))) + ext.schemas()  # frozen for
    # the session: the built-ins (task among them when subagents are on), then the MCP tools, listed once
    conversation = Conversation.start(system_prompt, snapshot.text, task)
    phash = prefix_hash(conversation.messages[:2], tools, eng.settings.model, eng.settings.think)
    primed_before = recent_prefix_seen(root, phash)
    note_session(root, sid)
    try:
        git = capture_start(root, sid, new_branch=request.branch)
    except GitError as exc:
        raise UsageError(str(exc)) from None
    ctx.start_commit = git.commit
    writer = SessionWriter.create(root, _start_record(run, rx.task, tools, phash, git, snapshot.token_count),
                                  sid)
    for index, message in enumerate(conversation.messages):
        writer.message(index, message)
    stderr.print(f"session {sid}: {snapshot.token_count:,} pack tokens, model {eng.settings.model}",
                 markup=False, highlight=False)
    tracker = cache_tracker(eng)
    if primed_before:
        tracker.seed(conversation.messages[:2], tools)
    agent = _agent(run, conversation, tools, ctx, writer, tracker, system_prompt, snapshot, 0.0, ext)
    stream = open_stream(request, run, sid, rx.instructions, system_prompt,
                         {"tokens": snapshot.token_count, "files": len(snapshot.files)}, resumed=False)
    if rx.plan:
        start_plan(agent)
    prime = request.prime
    do_prime = not primed_before and (prime == "always" or (prime == "auto" and _priming_pays(
        run, tracker.render(conversation.messages[:2], tools).prompt_tokens)))
    if not do_prime:
        why = "primed by an earlier session" if primed_before else f"--prime {prime}"
        stderr.print(f"no priming call ({why})", style="dim")
    try:
        drive(run, request, agent, writer, git, prime=do_prime, ctx=ctx, stream=stream)
    except typer.Exit:
        raise  # the report named the session
    except BaseException:  # a start that failed before its first call leaves no empty session behind
        drop_unbilled(root, writer.path, git)
        raise


def _priming_pays(run: RunSetup, prefix_tokens: int) -> bool:
    """The auto policy: prime when the tail a later session would miss is worth more than the priming call."""
    now, model, engine = datetime.now(UTC), run.engine.settings.model, run.engine.name
    per_m = 1_000_000
    hit = price_call(run.table, model, Usage(per_m, 0, cache_hit=per_m, cache_miss=0), now, engine=engine)
    miss = price_call(run.table, model, Usage(per_m, 0, cache_hit=0, cache_miss=per_m), now, engine=engine)
    return priming_pays(prefix_tokens, interval=ASSUMED_UNIT_INTERVAL, hit_usd_per_m=hit.total_usd,
                        miss_usd_per_m=miss.total_usd)


def _agent(run: RunSetup, conversation: Conversation, tools: list[dict[str, Any]], ctx: ToolContext,
           writer: SessionWriter, tracker: CacheTracker, system_prompt: str, snapshot: Snapshot | None,
           spent: float, ext: Extensions) -> Agent:
    runner, subagents = with_subagents(ext.runner(lambda name, arguments: run_tool(ctx, name, arguments)), tools,
                                       run.config, lambda: cache_tracker(run.engine),
                                       also_read_only=read_only_mcp(ext))
    agent = Agent(engine=run.engine, conversation=conversation, tools=tools, run_tool=runner, writer=writer,
                  table=run.table, config=agent_config(run.config, run.engine), tracker=tracker,
                  system_prompt=system_prompt, snapshot=snapshot, spent_usd=spent, ledger=Ledger(run.root), gate=ext)
    if subagents is not None:
        subagents.attach(agent)
    return agent


def _resume(run: RunSetup, session: SessionData, request: RefactorRequest, ask: Asker | None,
            cleanup: contextlib.ExitStack) -> None:
    raw_git = session.start.git
    if session.start.undo == "attempt":  # its work lives in a worktree, not in this tree
        raise UsageError(f"session {session.session_id} is one attempt of a best-of-N run; resume the run with "
                         f"`v4agent attempts resume {session.session_id.rsplit('-', 1)[0]}`")
    if not isinstance(raw_git, dict) or len(session.messages) < 3:
        raise UsageError(f"session {session.session_id} cannot be resumed (no start state)")
    git = GitStart.from_json(raw_git)
    s = run.engine.settings
    if (s.model, s.think) != (session.start.model, session.start.think):
        prefix = int(session.calls[-1].prompt_tokens or 0) if session.calls else 0
        miss = price_call(run.table, s.model, Usage(prefix, 0, cache_hit=0, cache_miss=prefix), datetime.now(UTC),
                          engine=run.engine.name)
        warn(f"model/think changed from {session.start.model}/{session.start.think} to "
             f"{s.model}/{s.think}: that starts a new cache, so the whole prefix (~{prefix:,} tokens) is billed "
             f"as misses once (about ${miss.total_usd:.4f})")
    writer = SessionWriter(session.path)
    writer.write(ResumeRecord(s.model, s.think))
    conversation = Conversation(session.messages)
    tools = session.tools  # exactly as sent before: they are part of the cached prefix
    tracker = cache_tracker(run.engine)
    last_assistant = max((i for i, m in enumerate(conversation.messages) if m.get("role") == "assistant"), default=1)
    tracker.seed(conversation.messages[: last_assistant + 1], tools)
    ctx = tool_context(run.workspace, ask=ask, start_commit=git.commit)
    # The system message as recorded (with the instruction files read when the session started): a compaction
    # rebuilds the prefix from it, so the files' later content never enters a resumed session.
    system_text = str(conversation.messages[0].get("content", ""))
    ext = _open_extensions(run.workspace, ctx, session.session_id, cleanup)  # the tools stay those sent before
    agent = _agent(run, conversation, tools, ctx, writer, tracker, system_text, None, session.cost_usd, ext)
    stream = open_stream(request, run, session.session_id, None, system_text,
                         {"tokens": int(session.start.pack_tokens or 0), "files": None}, resumed=True)
    agent.close_dangling()
    task = _hooked_prompt(ext, request.task, "resume") if request.task.strip() else ""
    agent.append(task_message(task) if task.strip() else resume_message())
    stderr.print(f"resuming session {session.session_id} ({session.turns} turns so far)", markup=False)
    drive(run, request, agent, writer, git, prime=False, ctx=ctx, stream=stream)
