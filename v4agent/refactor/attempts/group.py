"""`v4agent refactor PATH "task" --attempts N`: pack and prime once, fan out N attempts, choose one, apply it.

Every attempt is an ordinary agent session (its own session file, its own worktree, its tests in the sandbox)
whose first request starts with the primed stable block, so attempts 2..N pay the hit price for the whole pack.
The attempts share one adaptive concurrency limiter, so 429s slow the group down instead of failing it, and at
most ``--parallel`` run at once. Ctrl-C or SIGTERM stops every attempt (each session saved, resumable) and the
worktrees are removed however the run ends, unless ``--keep-worktrees``.
"""

from __future__ import annotations

import sys
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.markup import escape

from v4agent.agent.engine_choice import open_remote_engine
from v4agent.agent.loop import Outcome
from v4agent.agent.request.layout import Conversation, prefix_hash
from v4agent.agent.sessions.lock import note_session, release_session_locks
from v4agent.agent.sessions.records import EndRecord, StartRecord
from v4agent.agent.sessions.store import new_session_id, recent_prefix_seen
from v4agent.agent.setup import RunSetup, open_workspace, start_run
from v4agent.core.errors import Interrupted, UsageError
from v4agent.core.git import GitError
from v4agent.core.gitstart import GitStart, capture_start, dirty_paths
from v4agent.core.signals import stop_on_signals
from v4agent.engine.client import RemoteEngine
from v4agent.engine.limiter import ConcurrencyLimiter
from v4agent.engine.types import EngineError, EngineUnreachable
from v4agent.extend.instructions import with_instructions
from v4agent.prompts import load_prompt
from v4agent.refactor.attempts import manifest as store
from v4agent.refactor.attempts.choose import choose_and_apply
from v4agent.refactor.attempts.manifest import AttemptResult, GroupRecord
from v4agent.refactor.attempts.one import Attempt, finish_attempt, open_attempt
from v4agent.refactor.attempts.plan import (
    SELECTIONS,
    AttemptSpec,
    attempt_task,
    default_parallel,
    plan_attempts,
)
from v4agent.refactor.attempts.report import print_report
from v4agent.refactor.attempts.worktrees import add_worktree, discard_worktree, group_dir
from v4agent.refactor.extensions import open_extensions
from v4agent.refactor.request import RefactorRequest
from v4agent.tools.registry import tool_schemas
from v4agent.ui.console import stderr, warn
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
        with stop_on_signals():
            _run(request, attempts)
    finally:
        release_session_locks()


def _say(line: str) -> None:
    stderr.print(line, markup=False, highlight=False)


def _check(request: RefactorRequest, attempts: AttemptsRequest) -> None:
    if attempts.select not in SELECTIONS:
        raise UsageError(f"--select must be tests, judge or ask, not {attempts.select!r}")
    if attempts.parallel is not None and attempts.parallel < 1:
        raise UsageError(f"--parallel must be at least 1, not {attempts.parallel}")
    if request.resume is not None or request.plan or request.plan_then_act or request.commit or request.branch \
            or request.stream:
        raise UsageError("--attempts works with a new task only: not with --resume, --plan, --plan-then-act, "
                         "--commit, --commit-end, --branch or --format stream-json")
    if not request.task.strip() and not request.command:
        raise UsageError('give a task: v4agent refactor PATH "what to do" --attempts N')


def _run(request: RefactorRequest, attempts: AttemptsRequest) -> None:
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
    from v4agent.refactor.run import _build_pack  # one packer entry for both refactor paths

    _say("packing the repository…")
    snapshot = _build_pack(workspace, run.engine.settings.model, request.budget)
    system_prompt = with_instructions(load_prompt("system.md"), ext.instructions)
    tools = tool_schemas()
    base = Conversation.start(system_prompt, snapshot.text, ext.task).messages
    eng = run.engine
    phash = prefix_hash(base[:2], tools, eng.settings.model, eng.settings.think)
    group = new_session_id()
    note_session(root, group)
    try:
        git = capture_start(root, group)
    except GitError as exc:
        raise UsageError(str(exc)) from None
    record = GroupRecord(group, ext.task, git.tree, git.commit, pack_tokens=snapshot.token_count)
    start = StartRecord(task=ext.task, repo=str(root), engine=eng.name, base_url=eng.base_url,
                        model=eng.settings.model, think=eng.settings.think, max_tokens=eng.settings.max_tokens,
                        tools=tuple(tools), prefix_hash=phash, git=git.to_json(), pack_tokens=snapshot.token_count,
                        undo="attempt")
    _say(f"attempts run {group}: {len(specs)} attempts, {snapshot.token_count:,} pack tokens, model "
         f"{eng.settings.model}")
    limit = attempts.parallel or default_parallel(DEFAULT_LIMIT, len(specs))
    limiter = ConcurrencyLimiter(initial=limit, maximum=max(limit, DEFAULT_LIMIT))
    fan = _FanOut(run, git, start, base, tools, system_prompt, limiter, group)
    try:
        seen = recent_prefix_seen(root, phash)
        record = fan.run(record, specs, limit, prime=request.prime != "never" and not seen, seen=seen)
        record = choose_and_apply(run, record, base[:2], tools, select)
    finally:
        fan.cleanup(keep=attempts.keep_worktrees)
        store.save(root, record)
    if record.status == "interrupted":
        raise Interrupted(f"interrupted; every attempt's session is saved (`v4agent attempts show {group}`)")
    print_report(root, record, as_json=request.as_json)


class _FanOut:
    """The attempts of one run: worktrees, engines, sessions, threads, and the stop flag they share."""

    def __init__(self, run: RunSetup, git: GitStart, start: StartRecord, base: list[dict[str, Any]],
                 tools: list[dict[str, Any]], system_prompt: str, limiter: ConcurrencyLimiter, group: str) -> None:
        self.run_setup, self.git, self.start, self.base = run, git, start, base
        self.tools, self.system_prompt, self.limiter, self.group = tools, system_prompt, limiter, group
        self.stop = threading.Event()
        self.worktrees: list[Path] = []
        self._lock = threading.Lock()
        self._made: list[Future[None]] = []
        self.engines: list[RemoteEngine] = []

    def _engine(self, spec: AttemptSpec) -> RemoteEngine:
        """The run's engine for attempt 1; for the others, the same settings at their own temperature."""
        main = self.run_setup.engine
        if spec.temperature is None or type(main) is not RemoteEngine:
            engine = main  # a local engine is one server: every attempt shares it
        else:
            engine = open_remote_engine(self.run_setup.config, overrides={"temperature": spec.temperature})
            self.engines.append(engine)
        engine.limiter = self.limiter
        return engine

    def _open(self, spec: AttemptSpec, *, primed: bool) -> Attempt:
        worktree = group_dir(self.run_setup.root, self.group) / str(spec.number)  # made by _checkout
        task = attempt_task(str(self.base[2]["content"]), spec)
        messages = [*self.base[:2], {**self.base[2], "content": task}]
        return open_attempt(self.run_setup, spec, worktree, self._engine(spec), self.start, f"{self.group}-{spec.number}",
                            messages, self.tools, self.system_prompt, self.stop, _say, primed=primed)

    def _checkout(self, number: int) -> None:
        """Make attempt ``number``'s worktree (in a thread: checkouts run beside each other and the priming)."""
        path = add_worktree(self.run_setup.root, self.group, number, self.git.commit)
        with self._lock:
            self.worktrees.append(path)

    def run(self, record: GroupRecord, specs: list[AttemptSpec], parallel: int, *, prime: bool,
            seen: bool) -> GroupRecord:
        """Prime (attempt 1's session makes the call), then run every attempt, at most ``parallel`` at once."""
        root = self.run_setup.root
        # Attempt 1 makes the priming call, so its tracker learns the prefix from it; the others start primed.
        opened = [self._open(spec, primed=seen or (prime and spec.number > 1)) for spec in specs]
        record = replace(record, attempts=tuple(
            AttemptResult(a.spec.number, a.spec.temperature, a.spec.strategy, a.writer.session_id, "running")
            for a in opened))
        store.save(root, record)
        checkouts = ThreadPoolExecutor(max_workers=min(4, len(opened)), thread_name_prefix="checkout")
        made = {a.spec.number: checkouts.submit(self._checkout, a.spec.number) for a in opened}
        self._made = list(made.values())
        checkouts.shutdown(wait=False)
        if prime:
            try:
                opened[0].agent.prime()
            except KeyboardInterrupt:
                for a in opened:
                    a.writer.write(EndRecord("interrupted", "interrupted while priming", ""))
                wait(list(made.values()))
                return replace(record, status="interrupted")
            calls = [c for c in _calls(opened[0]) if c.kind == "prime"]
            record = replace(record, prime_cost_usd=sum(c.cost_usd for c in calls))
            _say(f"primed the pack once (${record.prime_cost_usd:.4f}); {len(opened)} attempts start from it")
        lock = threading.Lock()
        results: dict[int, AttemptResult] = {}

        def work(attempt: Attempt) -> None:
            made[attempt.spec.number].result()  # its worktree, checked out meanwhile
            if self.stop.is_set():
                outcome = Outcome("interrupted", "stopped before it started; resume with --resume", "", 0, 0.0, None,
                                  [])
                attempt.writer.write(EndRecord(outcome.status, outcome.reason, ""))
            else:
                outcome = attempt.agent.run()
            diff_file = group_dir(root, self.group) / f"{attempt.spec.number}.diff"
            result = finish_attempt(attempt, outcome, self.git.tree, diff_file, run_tests=not self.stop.is_set())
            with lock:
                results[attempt.spec.number] = result
            _say(f"attempt {attempt.spec.number}: {result.status}, tests {result.tests}, ${result.cost_usd:.4f}")

        interrupted = False
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="attempt") as pool:
            pending: set[Future[None]] = {pool.submit(work, a) for a in opened}
            while pending:
                try:
                    done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    for future in done:
                        future.result()
                except Exception:
                    self.stop.set()  # an attempt's machinery failed (not its model): stop the others, then say so
                    raise
                except KeyboardInterrupt:
                    interrupted = True
                    self.stop.set()
                    _say("stopping every attempt…")
        for _number, result in sorted(results.items()):
            record = record.with_attempt(result)
        return replace(record, status="interrupted" if interrupted else "done")

    def cleanup(self, *, keep: bool) -> None:
        """Remove the worktrees (unless kept) and close the engines opened for the attempts."""
        wait(self._made)  # a checkout still running would leave a worktree behind
        for engine in self.engines:
            engine.close()
        if keep:
            _say(f"worktrees kept under {group_dir(self.run_setup.root, self.group)}")
            return
        for path in self.worktrees:
            discard_worktree(self.run_setup.root, path)


def _calls(attempt: Attempt) -> list[Any]:
    from v4agent.agent.sessions.store import read_session

    return list(read_session(attempt.writer.path).calls)
