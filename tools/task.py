"""The ``task`` tool: hand one exploration to a read-only subagent forked from the conversation so far.

Its record lives here, apart from ``registry.TOOLS``: whether a session offers it is decided once, when the
session starts (config ``subagents.enabled``), and recorded with the tool list, so the list stays byte-stable
for the whole session. The tool runs in the agent layer (``v4agent.agent.subagents``), which can fork the
conversation; this handler only answers when no subagent runner is attached.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from v4agent.engine.types import ToolSchema
from v4agent.tools.registry import TOOLS, Tool, ToolContext, ToolResult, _schema, tool_schemas

__all__ = ["TASK_TOOL", "TASK_TOOL_NAME", "offers_task", "session_tool_schemas"]

TASK_TOOL_NAME = "task"


def _no_runner(ctx: ToolContext, a: dict[str, Any]) -> ToolResult:
    return ToolResult("task: subagents are not available in this session; do the exploration yourself", False)


TASK_TOOL = Tool(
    TASK_TOOL_NAME,
    "Delegate an exploration to a subagent: it starts from this conversation as it stands (so it already "
    "knows the repository), may only read (read_file, list_files, grep, git_diff), and returns a summary of "
    "what it found; only that summary enters this conversation. Use it for questions that need many reads "
    "whose details you will not need afterwards. Several task calls in one reply run in parallel.",
    {
        "description": {"type": "string", "description": "A short name for the task (a few words)."},
        "prompt": {"type": "string", "description": "What to find out and what the summary must contain."},
    },
    ("description", "prompt"),
    _no_runner,
)

# Sorted by name, as the registry sends them: ``task`` sits between ``shell`` and ``write_file``.
_WITH_TASK: tuple[ToolSchema, ...] = tuple(_schema(t) for t in sorted((*TOOLS, TASK_TOOL), key=lambda t: t.name))


def session_tool_schemas(*, subagents: bool) -> list[ToolSchema]:
    """The tool schemas a new session sends: the registry's, plus ``task`` when subagents are on."""
    return copy.deepcopy(list(_WITH_TASK)) if subagents else tool_schemas()


def offers_task(tools: Sequence[ToolSchema]) -> bool:
    """Whether a session's recorded tool list holds ``task`` (a resumed session keeps what it started with)."""
    return any(schema.get("function", {}).get("name") == TASK_TOOL_NAME for schema in tools)
