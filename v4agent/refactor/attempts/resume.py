"""`v4agent attempts resume RUN`: continue an interrupted best-of-N run where each attempt stopped.

Each unfinished attempt gets its worktree back (the start commit, then the diff it had when it stopped) and its
own session continues, appended to as any resumed session is; the finished ones keep their results. Then the
selection runs as on a fresh run. The endpoint comes from the command line and configuration, never from the
session files.
"""

from __future__ import annotations

import sys
from dataclasses import replace

from rich.markup import escape

from v4agent.agent.sessions.lock import note_session, release_session_locks
from v4agent.agent.sessions.store import find_resumable
from v4agent.agent.setup import open_workspace, start_run
from v4agent.core.errors import Interrupted, UsageError
from v4agent.core.signals import stop_on_signals
from v4agent.engine.limiter import ConcurrencyLimiter
from v4agent.engine.types import EngineError, EngineUnreachable
from v4agent.refactor.attempts import manifest as store
from v4agent.refactor.attempts.choose import choose_and_apply
from v4agent.refactor.attempts.fanout import FanOut, say
from v4agent.refactor.attempts.group import DEFAULT_LIMIT, AttemptsRequest
from v4agent.refactor.attempts.one import resume_attempt
from v4agent.refactor.attempts.plan import SELECTIONS, AttemptSpec, default_parallel
from v4agent.refactor.attempts.report import print_report
from v4agent.refactor.attempts.worktrees import group_dir
from v4agent.refactor.request import RefactorRequest
from v4agent.ui.console import warn

_UNFINISHED = ("interrupted", "running", "pending")


def resume_attempts(request: RefactorRequest, group: str, attempts: AttemptsRequest) -> None:
    """Resume run ``group``; SIGTERM and SIGHUP stop it like Ctrl-C."""
    try:
        with stop_on_signals():
            _resume(request, group, attempts)
    finally:
        release_session_locks()


def _resume(request: RefactorRequest, group: str, attempts: AttemptsRequest) -> None:
    select = attempts.select
    if select not in SELECTIONS:
        raise UsageError(f"--select must be tests, judge or ask, not {select!r}")
    if select == "ask" and not (sys.stdin.isatty() and sys.stderr.isatty()):
        warn("--select ask needs a terminal; choosing with the judge instead")
        select = "judge"
    workspace = open_workspace(request.path, request.config_flags(), why="attempts run in git worktrees",
                               warn=lambda line: warn(escape(line)))
    root = workspace.root
    record = store.load(root, group)
    # "running": the run was killed outright (start_run below refuses if its process still holds the lock).
    if record.status not in ("interrupted", "running"):
        raise UsageError(f"attempts run {group} was not interrupted ({record.status}): nothing to resume",
                         hint=f"`v4agent attempts show {group}`; `v4agent attempts apply {group} N`")
    todo = [a for a in record.attempts if a.status in _UNFINISHED]
    sessions = {a.number: find_resumable(root, a.session_id) for a in todo}
    try:
        run = start_run(workspace)
    except EngineError as exc:
        raise EngineUnreachable(str(exc), hint=exc.hint) from None
    note_session(root, group)
    limit = attempts.parallel or default_parallel(DEFAULT_LIMIT, max(1, len(todo)))
    fan = FanOut(run, group, record.start_tree, record.start_commit,
                 ConcurrencyLimiter(initial=limit, maximum=max(limit, DEFAULT_LIMIT)),
                 trusted=workspace.config.untrusted is None)
    base = group_dir(root, group)
    try:
        fan.start_checkouts([a.number for a in todo], {a.number: base / a.diff_file for a in todo if a.diff_file})
        opened = [resume_attempt(run, spec, fan.worktree(spec.number), fan.engine(spec), sessions[spec.number],
                                 fan.stop, say)
                  for spec in (AttemptSpec(a.number, a.temperature, a.strategy, len(record.attempts)) for a in todo)]
        say(f"resuming {len(opened)} of {len(record.attempts)} attempts of run {group}")
        record = fan.drive(replace(record, status="running"), opened, limit, lambda attempt: attempt.agent.run())
        first = sessions.get(todo[0].number) if todo else find_resumable(root, record.attempts[0].session_id)
        assert first is not None
        record = choose_and_apply(run, record, first.messages[:2], first.tools, select)  # the judge hits the pack
    finally:
        fan.cleanup(keep=attempts.keep_worktrees)
        store.save(root, record)
    if record.status == "interrupted":
        raise Interrupted(f"interrupted again; resume with: v4agent attempts resume {group}")
    print_report(root, record, as_json=request.as_json)
