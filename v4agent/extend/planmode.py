"""Plan mode: the model may only look (read, list, grep, git_diff) and ends with a plan for the user.

The tool schemas sent stay the same set in both modes: they sit in the cached prefix, and a different set
would make every request after a switch miss. The mode is enforced where tools run (``ModeGate`` wraps the
session's tool runner: a tool that could change anything answers a tool error), and each switch is announced
in a message appended to the conversation, so every request stays an exact extension of the one before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from v4agent.tools.tool import ToolResult

__all__ = ["PLAN_OFF_NOTE", "PLAN_ON_NOTE", "READ_ONLY_TOOLS", "ModeGate", "accepted_plan_message", "plan_mode_in"]

# ``finish`` delivers the plan. MCP tools a server marks read-only join through ``ModeGate.also_read_only``.
READ_ONLY_TOOLS = frozenset({"read_file", "list_files", "grep", "git_diff", "finish"})

PLAN_ON_NOTE = (
    "(Plan mode is on. Do not change anything yet: only read_file, list_files, grep and git_diff work; tools "
    "that edit files or run commands answer an error. Investigate what the task needs, then reply with a plan: "
    "the files to change and how, in order, the risks, and how to test it. In refactor, call finish with the "
    "plan as the summary. The user will accept, edit or discard it.)"
)
PLAN_OFF_NOTE = "(Plan mode is off: every tool works again, under the usual approvals.)"


def accepted_plan_message(plan: str) -> str:
    """The message that ends plan mode in refactor --plan-then-act: carry out this (maybe edited) plan."""
    return (f"{PLAN_OFF_NOTE}\n\nThe user accepted this plan. Carry it out now, then run the tests and call "
            f"finish with a summary.\n\nThe plan:\n{plan.strip()}")


@dataclass
class ModeGate:
    """The tool runner of a session with plan mode: read-only tools pass, others answer an error while on."""

    runner: Callable[[str, str], ToolResult]
    plan: bool = False
    also_read_only: set[str] = field(default_factory=set)  # e.g. MCP tools their server marks read-only
    refused: int = 0  # calls refused in plan mode, for the report

    def allows(self, name: str) -> bool:
        """Whether ``name`` may run in the current mode."""
        return not self.plan or name in READ_ONLY_TOOLS or name in self.also_read_only

    def __call__(self, name: str, arguments: str) -> ToolResult:
        """Run the call, or refuse it while plan mode is on and the tool is not read-only."""
        if self.allows(name):
            return self.runner(name, arguments)
        self.refused += 1
        allowed = ", ".join(sorted((READ_ONLY_TOOLS - {"finish"}) | self.also_read_only))
        return ToolResult(f"{name}: refused: plan mode is on, so nothing may be changed or run yet; only "
                          f"{allowed} work. Finish the plan; the user switches plan mode off.", False)


def plan_mode_in(messages: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a recorded conversation was left in plan mode: its last mode note says on (a resumed chat)."""
    for message in reversed(messages):
        content = message.get("content")
        if message.get("role") != "user" or not isinstance(content, str):
            continue
        on, off = content.rfind(PLAN_ON_NOTE), content.rfind(PLAN_OFF_NOTE)
        if on >= 0 or off >= 0:
            return on > off
    return False
