"""`v4agent undo`: restore the starting state of the last agent session (files, and the branch it created)."""

from __future__ import annotations

from pathlib import Path

import typer

from v4agent.core.errors import ExitCode, UsageError
from v4agent.core.git import GitError, repo_root
from v4agent.core.gitstart import GitStart, restore_start
from v4agent.ui.console import error, stdout, warn


def undo(
    path: Path = typer.Argument(Path("."), help="The repository."),
    session_id: str | None = typer.Option(None, "--session", help="Session id (default: the latest)."),
    force: bool = typer.Option(False, "--force", help="Undo again even if the session was already undone."),
) -> None:
    """Restore the starting state of the last agent session (files, and the branch it created)."""
    from v4agent.agent.sessions.lock import SessionLocked, hold_session_lock  # here: most commands never undo
    from v4agent.agent.sessions.records import UndoRecord
    from v4agent.agent.sessions.store import SessionWriter, find_session

    root = repo_root(path.resolve())
    if root is None:
        error(f"{path} is not inside a git repository")
        raise typer.Exit(ExitCode.USAGE)
    session = find_session(root, session_id)
    raw = session.start.git
    if not isinstance(raw, dict):
        error(f"session {session.session_id} recorded no starting state")
        raise typer.Exit(ExitCode.FAILED)
    if session.undone and not force:
        error(f"session {session.session_id} was already undone (use --force to restore again)")
        raise typer.Exit(ExitCode.USAGE)
    try:  # held while restoring: no session may run (or start) under the files being put back
        lock = hold_session_lock(root, command="v4agent undo")
    except SessionLocked as exc:
        raise UsageError(f"cannot undo while {exc.holder.describe()} is running on {root}",
                         hint="undo after that session ends") from None
    try:
        try:
            touched = restore_start(root, GitStart.from_json(raw), warn=warn)
        except (GitError, OSError) as exc:
            error(f"undo failed: {exc}")
            raise typer.Exit(ExitCode.FAILED) from None
        SessionWriter(session.path).write(UndoRecord(tuple(touched)))
    finally:
        lock.release()
    if not touched:
        stdout.print(f"session {session.session_id}: nothing to restore")
        return
    stdout.print(f"session {session.session_id}: restored {len(touched)} file(s) to the starting state:")
    for rel in touched:
        stdout.print(f"  {rel}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add the ``undo`` command to ``app``."""
    app.command("undo")(undo)
