"""The approval policy for shell commands and edits: ``ask`` (default), ``edits``, ``yes``.

- ``yes``: everything runs without asking.
- ``edits``: file edits run without asking; shell commands ask.
- ``ask``: shell commands and edits ask. With no way to ask (no TTY, so no ``ask`` callback), shell commands
  are refused and edits go ahead: they are confined to the repository and ``v4agent undo`` reverts them.
An answer of ``always`` approves that kind of action for the rest of the session.

Commands (``gate_command``, the one rule for every command v4agent runs): the project's own test command
needs no approval while the sandbox contains it, so a headless run still tests its work; every other command
follows the policy above. With no sandbox, every command does, the test command included, and ``yes`` then
means running it unsandboxed.

``preapproved()``: within it, this thread's questions are answered yes: the one call a PreToolUse hook allowed
(only where it runs confined: ``v4agent.extend.hooks_gate`` decides) or the user confirmed at a hook's ask.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal

__all__ = ["Answer", "ApprovalRequest", "Asker", "Kind", "Policy", "decide", "gate_command", "preapproved"]

Policy = Literal["ask", "edits", "yes"]
Answer = Literal["yes", "no", "always"]
Kind = Literal["shell", "edit", "mcp"]  # mcp: a call to an MCP server's tool, asked about like a command


@dataclass(frozen=True)
class ApprovalRequest:
    """What a tool asks approval for, with the one-line summary and diff shown to the user."""

    kind: Kind  # "shell", "edit" or "mcp"
    tool: str  # the tool asking: "shell", "run_tests", "edit_file", ...
    summary: str  # one line: the command, or "edit_file src/x.py"
    detail: str = ""  # the diff of an edit, when there is one


Asker = Callable[[ApprovalRequest], Answer]
_PREAPPROVED: ContextVar[bool] = ContextVar("v4agent_preapproved", default=False)  # per thread: never leaks


@contextlib.contextmanager
def preapproved() -> Iterator[None]:
    """Within: every approval question of this thread is answered yes (one tool call's, see the module)."""
    token = _PREAPPROVED.set(True)
    try:
        yield
    finally:
        _PREAPPROVED.reset(token)


def decide(policy: str, request: ApprovalRequest, ask: Asker | None, always: set[str]) -> tuple[bool, str]:
    """(allowed, reason when refused). ``always`` is the session's set of kinds approved for good."""
    if policy == "yes" or request.kind in always or _PREAPPROVED.get():
        return True, ""
    if request.kind == "edit" and policy == "edits":
        return True, ""
    if ask is None:
        if request.kind == "edit":
            return True, ""
        return False, (
            f"refused: {request.tool} needs approval ({request.summary!r}) and there is no terminal to ask; "
            "the user can allow shell commands with --yes (or --approve yes)"
        )
    answer = ask(request)
    if answer == "always":
        always.add(request.kind)
        return True, ""
    if answer == "yes":
        return True, ""
    return False, f"refused: the user declined {request.tool} ({request.summary!r})"


def gate_command(policy: str, request: ApprovalRequest, ask: Asker | None, always: set[str], *, contained: bool,
                 project_tests: bool) -> tuple[bool, str]:
    """(allowed, reason when refused) for a command. ``project_tests``: the configured or detected test command,
    not one the model wrote; ``contained``: the command runs in the sandbox."""
    if project_tests and contained:
        return True, ""
    allowed, reason = decide(policy, request, ask, always)
    if not allowed and not contained:
        reason += "; no sandbox is available, so every command needs approval (see `v4agent sandbox check`)"
    return allowed, reason
