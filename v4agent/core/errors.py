"""The CLI's exit statuses and the root of every user-facing error, which carries its own status and hint.

``ExitCode`` is documented in the README; scripts and CI rely on it. ``V4AgentError`` is what a command raises
when it cannot go on: the entry point (``v4agent.cli.app.main``) prints ``describe(exc)`` and exits with the
class's ``exit_code``, so no command formats or maps errors itself. A subclass names its status on its class
line: ``class ConfigError(V4AgentError, exit_code=ExitCode.USAGE)``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, ClassVar

__all__ = ["ExitCode", "Interrupted", "UsageError", "V4AgentError", "describe"]


class ExitCode(IntEnum):
    """Exit statuses of the CLI."""

    OK = 0  # finished (for refactor: finished with tests passing)
    FAILED = 1  # the task or command failed
    USAGE = 2  # bad arguments, bad configuration, bad input path
    TESTS_FAILING = 3  # finished, but the project's tests fail
    LIMIT_REACHED = 4  # --max-cost or --max-turns stopped the run
    INTERRUPTED = 5  # Ctrl-C; the session is saved and resumable
    ENGINE_UNREACHABLE = 6  # no API key, engine down, or auth refused; offline work was still done
    REVIEW_FINDINGS = 7  # review found issues at or above --fail-on
    REVIEW_INCOMPLETE = 8  # the review did not happen: the model never reported its findings
    SANDBOX_NOT_ENFORCED = 9  # `sandbox check`: a probe found a property not enforced, or no mechanism


class V4AgentError(Exception):
    """Root of the errors a user sees: the message says what is wrong, ``hint`` what to do about it."""

    exit_code: ClassVar[ExitCode] = ExitCode.FAILED
    hint: str = ""

    def __init_subclass__(cls, *, exit_code: ExitCode | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if exit_code is not None:  # otherwise inherited from the parent class
            cls.exit_code = exit_code

    def __init__(self, *args: object, hint: str = "") -> None:
        super().__init__(*args)
        self.hint = hint


class UsageError(V4AgentError, exit_code=ExitCode.USAGE):
    """Bad arguments or a bad input path, found by a command before it starts its work."""


class Interrupted(V4AgentError, exit_code=ExitCode.INTERRUPTED):
    """Ctrl-C stopped a command; the message says what was kept (a saved session to resume)."""


def describe(exc: BaseException) -> str:
    """The message, then the hint (if any) on a line of its own."""
    hint = getattr(exc, "hint", "")
    return f"{exc}\nhint: {hint}" if hint else str(exc)
