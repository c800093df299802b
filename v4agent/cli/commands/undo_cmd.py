"""`v4agent undo`: put back what an agent session changed, only where nobody has changed it since.

Exit status: 0 when everything the session did is undone (or there was nothing to undo, or ``--dry-run``);
1 when something was left alone (a file changed since the session, a commit that could not be reverted) or the
confirmation was declined; 2 for a usage error (no such session, already undone, a bad ``--to``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from v4agent.core.errors import ExitCode, UsageError
from v4agent.core.git import GitError, repo_root
from v4agent.core.pathtext import display_path
from v4agent.ui.console import error, stderr, stdout, warn

if TYPE_CHECKING:
    from v4agent.agent.sessions.store import SessionData
    from v4agent.agent.undoapply import UndoResult
    from v4agent.agent.undoplan import UndoPlan


def _say(line: str) -> None:
    stdout.print(line, markup=False, highlight=False, soft_wrap=True)


def _what(plan: UndoPlan) -> str:
    if plan.legacy:
        return "the files it changed (recorded before per-file checkpoints)"
    if not plan.turns:
        return "nothing recorded after turn " + str(plan.to_turn) if plan.to_turn else "no file changes recorded"
    turns = ", ".join(map(str, plan.turns))
    return f"turn(s) {turns}" + (" (the whole session)" if plan.to_turn == 0 else f" (back to turn {plan.to_turn})")


def _confirm() -> bool:
    from rich.prompt import Confirm

    try:
        return Confirm.ask("undo these?", default=False, console=stderr)
    except (EOFError, KeyboardInterrupt):
        return False


def _report(root: Path, session: SessionData, result: UndoResult, plan: UndoPlan, force: bool) -> bool:
    """Say what was done; True when the session is wholly undone."""
    if result.done or result.reverted:
        _say(f"session {session.session_id}: restored {len(result.done)} file(s)"
             + (f", reverted {len(result.reverted)} commit(s)" if result.reverted else "") + ":")
        for step in result.done:
            _say(f"  {display_path(step.path)}")
        for commit in result.reverted:
            _say(f"  revert of {commit[:12]}")
    else:
        _say(f"session {session.session_id}: nothing restored")
    if result.saved_dir is not None:
        where = display_path(result.relative_dir(root))
        _say(f"saved what undo replaced ({len(result.saved)} file(s)) under {where}/; "
             f"to get one back: cp -p {where}/PATH PATH")
    left = plan.left_alone(force)
    for step in left:
        _say(f"left alone: {display_path(step.path)}: {step.why}")
    for what, why in result.failed:
        _say(f"not undone: {display_path(what)}: {why}")
    for problem in plan.problems:
        _say(f"not undone: {problem}")
    return not left and not result.failed and not plan.problems


def undo(
    path: Path = typer.Argument(Path("."), help="The repository."),
    session_id: str | None = typer.Option(None, "--session", help="Session id (default: the latest)."),
    to_turn: int | None = typer.Option(None, "--to", help="Undo only the turns after this one (a checkpoint)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be done; change nothing."),
    force: bool = typer.Option(False, "--force", help="Also restore files changed since the session (saved "
                               "first), and undo a session again."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask on a terminal."),
) -> None:
    """Undo an agent session: put back the files it changed, where nobody changed them since."""
    from v4agent.agent.sessions.lock import SessionLocked, hold_session_lock  # here: most commands never undo
    from v4agent.agent.sessions.store import find_session

    root = repo_root(path.resolve())
    if root is None:
        error(f"{path} is not inside a git repository")
        raise typer.Exit(ExitCode.USAGE)
    if to_turn is not None and to_turn < 0:
        raise UsageError("--to takes a turn number, 0 or more (0: the whole session)")
    session = find_session(root, session_id)
    if session.unreadable_lines:
        warn(f"session {session.session_id}: {session.unreadable_lines} line(s) of its file are unreadable and "
             "were skipped; what they recorded cannot be undone")
    if session.undone and not force and not to_turn:
        error(f"session {session.session_id} was already undone (use --force to restore again)")
        raise typer.Exit(ExitCode.USAGE)
    lock = None
    if not dry_run:
        try:  # held from the plan to the last write: no session may change the files meanwhile
            lock = hold_session_lock(root, command="v4agent undo")
        except SessionLocked as exc:
            raise UsageError(f"cannot undo while {exc.holder.describe()} is running on {root}",
                             hint="undo after that session ends") from None
    try:
        _undo(root, session, to_turn or 0, dry_run=dry_run, force=force, yes=yes)
    finally:
        if lock is not None:
            lock.release()


def _undo(root: Path, session: SessionData, to_turn: int, *, dry_run: bool, force: bool, yes: bool) -> None:
    from v4agent.agent.sessions.records import UndoRecord
    from v4agent.agent.sessions.store import SessionWriter
    from v4agent.agent.undoapply import apply_plan
    from v4agent.agent.undoplan import describe_plan, plan_session
    from v4agent.core.gitstart import GitStart, leave_created_branch

    try:
        plan = plan_session(root, session, to_turn)
    except GitError as exc:
        error(f"undo failed: {exc}")
        raise typer.Exit(ExitCode.FAILED) from None
    ask = bool(plan.acting(force) or plan.reverts) and sys.stdin.isatty() and not yes
    lines = describe_plan(plan, force)
    if dry_run or ask or not lines:  # otherwise the report below says it all
        _say(f"session {session.session_id}: undo {_what(plan)}" + (":" if lines else ""))
        for line in lines:
            _say(line)
    if dry_run:
        _say("dry run: nothing was changed")
        return
    if ask and not _confirm():
        _say("nothing was changed")
        raise typer.Exit(ExitCode.FAILED)
    try:
        result = apply_plan(root, plan, force=force)
    except (GitError, OSError) as exc:
        error(f"undo failed: {exc}")
        raise typer.Exit(ExitCode.FAILED) from None
    complete = _report(root, session, result, plan, force)
    skipped = tuple(s.path for s in plan.left_alone(force)) + tuple(what for what, _ in result.failed)
    SessionWriter(session.path).write(UndoRecord(
        tuple(s.path for s in result.done), to_turn, skipped, result.reverted, result.relative_dir(root),
        closes=complete))
    raw = session.start.git
    if complete and to_turn == 0 and isinstance(raw, dict):
        leave_created_branch(root, GitStart.from_json(raw), warn=warn)
    if not complete:
        raise typer.Exit(ExitCode.FAILED)


def register(app: typer.Typer) -> None:
    """Add the ``undo`` command to ``app``."""
    app.command("undo")(undo)
