"""A refactor that never got a billed call (its first call failed: a refused key, a 500, no connection) keeps no
session: nothing was spent, changed or cached, so there is nothing to resume, undo or list. A run with at least
one recorded call keeps its session whatever happened after it."""

from __future__ import annotations

import contextlib
from pathlib import Path

from v4agent.agent.sessions.empty import discard_if_empty
from v4agent.core.git import GitError, run_git
from v4agent.core.gitstart import GitStart, leave_created_branch

__all__ = ["drop_unbilled"]


def drop_unbilled(root: Path, session_path: Path, start: GitStart | None) -> bool:
    """Delete the session file when it records no call, with its start ref and an untouched ``--branch``.

    True when the session was dropped. The start ref only kept the starting tree reachable for undo.
    """
    if not discard_if_empty(session_path):
        return False
    if start is not None:
        with contextlib.suppress(GitError):
            run_git(root, "update-ref", "-d", start.ref)
        with contextlib.suppress(GitError):
            leave_created_branch(root, start)
    return True
