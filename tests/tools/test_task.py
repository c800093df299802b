"""The task tool's record: offered or not per session, byte-stable, sorted with the registry's tools."""

from __future__ import annotations

import json

from v4agent.tools.registry import ToolContext, run_tool, tool_schemas
from v4agent.tools.task import TASK_TOOL, offers_task, session_tool_schemas


def test_the_tool_list_with_task_is_sorted_and_byte_stable() -> None:
    with_task = session_tool_schemas(subagents=True)
    names = [s["function"]["name"] for s in with_task]
    assert names == sorted(names)
    assert "task" in names
    assert json.dumps(with_task, sort_keys=True) == json.dumps(session_tool_schemas(subagents=True), sort_keys=True)
    assert [s for s in with_task if s["function"]["name"] != "task"] == tool_schemas()
    assert session_tool_schemas(subagents=False) == tool_schemas()
    assert offers_task(with_task)
    assert not offers_task(tool_schemas())
    with_task[0]["function"]["name"] = "changed"  # a copy: the next list is untouched
    assert session_tool_schemas(subagents=True)[0]["function"]["name"] != "changed"


def test_task_is_not_a_registry_tool(tmp_path: object) -> None:
    # Only the agent layer runs task (it forks the conversation); the registry never dispatches it.
    result = run_tool(ToolContext(tmp_path), "task", '{"description": "x", "prompt": "y"}')  # type: ignore[arg-type]
    assert not result.ok
    assert "unknown tool" in result.content
    refused = TASK_TOOL.handler(ToolContext(tmp_path), {})  # type: ignore[arg-type]
    assert not refused.ok
