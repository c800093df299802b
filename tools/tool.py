"""The tool record: one frozen description per tool, plus the context a tool runs in and what it returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from v4agent.sandbox import SandboxPolicy, make_policy
from v4agent.tools.approval import Asker

__all__ = ["Handler", "Tool", "ToolContext", "ToolResult"]


@dataclass
class ToolContext:
    """What every tool call of one session shares: the repository, the approval policy, the test command."""

    repo_root: Path
    approve: Literal["ask", "edits", "yes"] = "ask"
    ask: Asker | None = None  # None when there is no terminal to ask on
    test_cmd: str | None = None  # --test-cmd / config; None = detect
    start_commit: str | None = None  # the session's starting commit; None = HEAD
    default_timeout_s: float = 600
    always: set[str] = field(default_factory=set)  # kinds the user approved with "always"
    sandbox: SandboxPolicy | None = None  # None: the default policy for the repository (confined, no network)

    def __post_init__(self) -> None:
        self.repo_root = Path(self.repo_root).resolve()
        if self.sandbox is None:
            self.sandbox = make_policy(self.repo_root)


@dataclass(frozen=True)
class ToolResult:
    """One tool run as the model and the session log see it."""

    content: str
    ok: bool
    changed_paths: tuple[str, ...] = ()
    finished: bool = False
    summary: str = ""
    diff: str = ""


Handler = Callable[[ToolContext, dict[str, Any]], ToolResult]


@dataclass(frozen=True)
class Tool:
    """One tool: its schema parts, its handler, and the properties the agent, the chat and redaction ask about.

    ``properties`` maps each argument to its JSON-schema (type and description, in that order: the rendered
    schema is part of the cached prompt prefix, so its bytes must never change).
    """

    name: str
    description: str
    properties: Mapping[str, Mapping[str, str]]
    required: tuple[str, ...]
    handler: Handler
    edits_files: bool = False  # changes files itself and names them in ``changed_paths``
    runs_command: bool = False  # runs a command, which may change files behind the model's back
    diff_output: bool = False  # its output is a unified diff (redacted as one)

    @property
    def changes_files(self) -> bool:
        """Whether running it may change the working tree (by an edit or by a command)."""
        return self.edits_files or self.runs_command
