"""A session that never made a call (its start failed, or a chat got no input) is not kept: there is nothing to
resume or undo in it, and `v4agent sessions` would only list noise."""

from __future__ import annotations

import contextlib
from pathlib import Path

from v4agent.agent.sessions.store import SessionError, read_session

__all__ = ["discard_if_empty"]


def discard_if_empty(path: Path) -> bool:
    """Delete the session file at ``path`` when it records no model call; True when it was deleted."""
    try:
        session = read_session(path)
    except (OSError, SessionError):
        return False
    if session.calls:
        return False
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return True
