"""`v4agent refactor PATH "task" --attempts N`: pack and prime once, fan out N attempts, choose one, apply it.

Every attempt is an ordinary agent session (its own session file, its own worktree, its tests in the sandbox)
whose first request starts with the primed stable block, so attempts 2..N pay the hit price for the whole pack.
The attempts share one adaptive concurrency limiter, so 429s slow the group down instead of failing it, and at
most ``--parallel`` run at once. Ctrl-C or SIGTERM stops every attempt (each session saved, resumable) and the
worktrees are removed however the run ends, unless ``--keep-worktrees``.

Every attempt sends the same tool list as the priming call: the built-ins, ``task`` when subagents are on, and
the MCP tools, listed once by the run's own extensions (opened at the user's root, which also run the
SessionStart and UserPromptSubmit hooks on the task once for all attempts). Each attempt then opens its own
hooks and MCP servers in its worktree (``one.Attempt.open_extensions``): one hub per attempt, so a server or
hook that writes files changes that attempt's files and never the user's tree or another attempt's.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, replace
from typing import Any

from rich.markup import escape

from v4agent.agent.request.layout import Conversation, prefix_hash
from v4agent.agent.sessions.lock import note_session, release_session_locks
from v4agent.agent.sessions.records import EndRecord, StartRecord
from v4agent.agent.sessions.store import new_session_id, read_session, recent_prefix_seen
from v4agent.agent.setup import RunSetup, open_workspace, start_run, tool_context
from v4agent.core.errors import ExitCode, Interrupted, UsageError
from v4agent.core.git import GitError
from v4agent.core.gitstart import GitStart, capture_start, dirty_paths
from v4agent.core.signals import stop_on_signals
from v4agent.engine.limiter import ConcurrencyLimiter
from v4agent.engine.types import EngineError, EngineUnreachable
from v4agent.extend.hooks_session import Extensions
from v4agent.extend.instructions import with_instructions
from v4agent.prompts import load_prompt
from v4agent.refactor.attempts import manifest as store
from v4agent.refactor.attempts.choose import choose_and_apply
from v4agent.refactor.attempts.fanout import FanOut, say
from v4agent.refactor.attempts.manifest import AttemptResult, GroupRecord
from v4agent.refactor.attempts.one import Attempt, open_attempt
from v4agent.refactor.attempts.plan import (
    SELECTIONS,
    AttemptSpec,
    attempt_task,
    default_parallel,
    plan_attempts,
)
from v4agent.refactor.attempts.report import print_report
from v4agent.refactor.attempts.stream import AttemptStream
from v4agent.refactor.extensions import RefactorExtensions, open_extensions, open_stream
from v4agent.refactor.request import RefactorRequest
from v4agent.tools.task import session_tool_schemas
from v4agent.ui.console import warn
from v4agent.ui.trustprompt import ask_trust_on_terminal

_WHY_GIT = "attempts run in git worktrees of the starting commit"
DEFAULT_LIMIT = 8  # the engine's starting concurrency limit when the run does not say (engine.limiter)


@dataclass(frozen=True)
class AttemptsRequest:
    """The --attempts flags beside the refactor request."""

    count: int
    parallel: int | None = None
    strategies: tuple[str, ...] = ()
    select: str = "judge"
    keep_worktrees: bool = False


def run_attempts(request: RefactorRequest, attempts: AttemptsRequest) -> None:
    """Run the best-of-N refactor; SIGTERM and SIGHUP stop it like Ctrl-C."""
    try:
        with stop_on_signals(), contextlib.ExitStack() as cleanup:  # the run's MCP servers stop on the way out
            _run(request, attempts, cleanup)
    finally:
        release_session_locks()


def _check(request: RefactorRequest, attempts: AttemptsRequest) -> None:
    if attempts.select not in SELECTIONS:
        raise UsageError(f"--select must be tests, judge or ask, not {attempts.select!r}")
    if attempts.parallel is not None and attempts.parallel < 1:
        raise UsageError(f"--parallel must be at least 1, not {attempts.parallel}")
    if request.resume is not None or request.plan or request.plan_then_act or request.commit or request.branch:
        raise UsageError("--attempts works with a new task only: not with --resume, --plan, --plan-then-act, "
                         "--commit, --commit-end or --branch")
    if not request.task.strip() and not request.command:
        raise UsageError('give a task: v4agent refactor PATH "what to do" --attempts N')


def _lead_extensions(run: RunSetup, cleanup: contextlib.ExitStack) -> Extensions:
    """The run's own hooks and MCP servers at the user's root: the MCP tool list, and the prompt hooks."""
    ctx = tool_context(run.workspace, ask=None)
    ext = Extensions.open(ctx, project_trusted=run.workspace.config.untrusted is None,
                          notice=lambda line: warn(escape(line)))
    cleanup.callback(ext.close)
    return ext


def _run(request: RefactorRequest, attempts: AttemptsRequest, cleanup: contextlib.ExitStack) -> None:
    _check(request, attempts)
    select = attempts.select
    if select == "ask" and not (sys.stdin.isatty() and sys.stderr.isatty()):
        warn("--select ask needs a terminal; choosing with the judge instead")
        select = "judge"
    workspace = open_workspace(request.path, request.config_flags(), why=_WHY_GIT,
                               ask_trust=ask_trust_on_terminal if sys.stdin.isatty() else None,
                               warn=lambda line: warn(escape(line)))
    try:
        run = start_run(workspace)
    except EngineError as exc:
        raise EngineUnreachable(str(exc), hint=exc.hint) from None
    root = workspace.root
    dirty = [p for p in dirty_paths(root) if not p.startswith(".v4agent/")]
    if dirty and not request.allow_dirty:
        raise UsageError(f"the working tree has uncommitted changes ({', '.join(dirty[:8])}); commit or stash "
                         "them, or pass --allow-dirty")
    specs = plan_attempts(attempts.count, list(attempts.strategies))
    ext = open_extensions(request, root, warn=lambda line: warn(escape(line)))
    group = new_session_id()
    note_session(root, group)
    try:
        git = capture_start(root, group)
    except GitError as exc:
        raise UsageError(str(exc)) from None
    limit = attempts.parallel or default_parallel(DEFAULT_LIMIT, len(specs))
    fan = FanOut(run, group, git.tree, git.commit, ConcurrencyLimiter(initial=limit, maximum=max(limit, DEFAULT_LIMIT)),
                 trusted=workspace.config.untrusted is None)
    fan.start_checkouts([spec.number for spec in specs])  # beside the packing and the priming call
    lead = _lead_extensions(run, cleanup)
    lead.bind(group, "")
    task, refusal = lead.prompt_context(ext.task, source="startup")
    if task is None:
        fan.cleanup(keep=False)
        raise UsageError(f"a UserPromptSubmit hook refused the task: {refusal}")
    ext = replace(ext, task=task)
    record = GroupRecord(group, ext.task, git.tree, git.commit)
    stream: AttemptStream | None = None
    try:
        record, stream = _pack_and_run(fan, record, request, ext, specs, limit, git, select, lead)
    finally:
        fan.cleanup(keep=attempts.keep_worktrees)
        if record.attempts:
            store.save(root, record)
    if record.status == "interrupted":
        if stream is not None:
            stream.end({"status": "interrupted", "exit_code": int(ExitCode.INTERRUPTED), **record.to_json()})
        raise Interrupted(f"interrupted; every attempt's session and work so far are saved: "
                          f"v4agent attempts resume {group}")
    print_report(root, record, as_json=request.as_json, stream=stream)


def _pack_and_run(fan: FanOut, record: GroupRecord, request: RefactorRequest, ext: RefactorExtensions,
                  specs: list[AttemptSpec], limit: int, git: GitStart, select: str,
                  lead: Extensions) -> tuple[GroupRecord, AttemptStream | None]:
    """Pack, prime, run the attempts, choose one and apply it; the record as it ends (and the stream)."""
    from v4agent.refactor.run import _build_pack  # one packer entry for both refactor paths

    run = fan.run_setup
    say("packing the repository…")
    snapshot = _build_pack(run.workspace, run.engine.settings.model, request.budget)
    system_prompt = with_instructions(load_prompt("system.md"), ext.instructions)
    # Frozen for the run: the built-ins (task among them when subagents are on), then the MCP tools, listed once.
    tools = session_tool_schemas(subagents=bool(run.config.get("subagents.enabled"))) + lead.schemas()
    base = Conversation.start(system_prompt, snapshot.text, ext.task).messages
    eng = run.engine
    phash = prefix_hash(base[:2], tools, eng.settings.model, eng.settings.think)
    record = replace(record, pack_tokens=snapshot.token_count)
    start = StartRecord(task=ext.task, repo=str(run.root), engine=eng.name, base_url=eng.base_url,
                        model=eng.settings.model, think=eng.settings.think, max_tokens=eng.settings.max_tokens,
                        tools=tuple(tools), prefix_hash=phash, git=git.to_json(), pack_tokens=snapshot.token_count,
                        undo="attempt")
    say(f"attempts run {record.group}: {len(specs)} attempts, {snapshot.token_count:,} pack tokens, model "
        f"{eng.settings.model}")
    seen = recent_prefix_seen(run.root, phash)
    writer = open_stream(request, run, record.group, ext.instructions, system_prompt,
                         {"tokens": snapshot.token_count, "files": len(snapshot.files)}, resumed=False,
                         extra={"attempts": len(specs)})
    stream = AttemptStream(writer) if writer is not None else None
    record = _fresh(fan, record, specs, limit, start, base, tools, system_prompt,
                    prime=request.prime != "never" and not seen, seen=seen, stream=stream)
    return choose_and_apply(run, record, base[:2], tools, select), stream


def _fresh(fan: FanOut, record: GroupRecord, specs: list[AttemptSpec], parallel: int, start: StartRecord,
           base: list[dict[str, Any]], tools: list[dict[str, Any]], system_prompt: str, *, prime: bool,
           seen: bool, stream: AttemptStream | None = None) -> GroupRecord:
    """Open every attempt's session, check the worktrees out beside the priming call, then run them all."""
    root = fan.run_setup.root
    opened: list[Attempt] = []
    for spec in specs:
        task = attempt_task(str(base[2]["content"]), spec)
        messages = [*base[:2], {**base[2], "content": task}]
        # Attempt 1 makes the priming call, so its tracker learns the prefix from it; the others start primed.
        opened.append(open_attempt(fan.run_setup, spec, fan.worktree(spec.number), fan.engine(spec), start,
                                   f"{record.group}-{spec.number}", messages, tools, system_prompt, fan.stop, say,
                                   primed=seen or (prime and spec.number > 1), watch=stream))
    record = replace(record, attempts=tuple(
        AttemptResult(a.spec.number, a.spec.temperature, a.spec.strategy, a.writer.session_id, "running")
        for a in opened))
    store.save(root, record)
    if prime:
        try:
            opened[0].agent.prime()
        except KeyboardInterrupt:
            for a in opened:
                a.writer.write(EndRecord("interrupted", "interrupted while priming", ""))
            return replace(record, status="interrupted")
        calls = [c for c in read_session(opened[0].writer.path).calls if c.kind == "prime"]
        record = replace(record, prime_cost_usd=sum(c.cost_usd for c in calls))
        say(f"primed the pack once (${record.prime_cost_usd:.4f}); {len(opened)} attempts start from it")
    return fan.drive(record, opened, parallel, lambda attempt: attempt.agent.run(), stream=stream)
