"""What the model sees of MCP: tool names ``mcp__server__tool``, their schemas, and call results as text.

Names follow Claude Code's convention (https://code.claude.com/docs/en/mcp: "mcp__<server>__<tool>"), reduced
to the characters a function name may hold in the OpenAI-style tool format (``^[a-zA-Z0-9_-]{1,64}$``). A
schema is rendered once from the listing at session start; its bytes are part of the cached prefix.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from v4agent.engine.types import ToolSchema
from v4agent.secrets.results import redact_output
from v4agent.tools.registry import MAX_RESULT_CHARS
from v4agent.tools.tool import ToolResult

__all__ = [
    "MAX_ARGUMENT_CHARS", "MAX_SCHEMA_CHARS", "McpTool", "call_arguments", "finished_result", "qualified_name",
    "render_tool", "result_text",
]

PREFIX = "mcp__"
MAX_NAME = 64
MAX_DESCRIPTION_CHARS = 2_000
MAX_SCHEMA_CHARS = 16_000  # a tool whose schema is larger is left out: it would sit in every request's prefix
MAX_ARGUMENT_CHARS = 1_000_000
_BAD = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class McpTool:
    """One server tool as the session offers it: the name the model calls and the server's own name."""

    server: str
    name: str  # the server's own tool name
    qualified: str  # mcp__server__tool
    schema: ToolSchema
    read_only: bool = False  # the server's readOnlyHint (a hint, never trusted for approval)


def qualified_name(server: str, tool: str) -> str:
    """``mcp__server__tool``, characters outside ``[A-Za-z0-9_-]`` as ``_``, cut at 64."""
    return (PREFIX + server + "__" + _BAD.sub("_", tool))[:MAX_NAME]


def _parameters(schema: Any) -> dict[str, Any]:
    if isinstance(schema, dict) and schema.get("type") == "object":
        return schema
    return {"type": "object", "properties": {}}


def render_tool(server: str, tool: Any) -> McpTool | str:
    """The tool record for one listed tool, or why it is left out."""
    name = getattr(tool, "name", "")
    if not isinstance(name, str) or not name:
        return "a tool without a name"
    description = " ".join(str(getattr(tool, "description", "") or "").split())[:MAX_DESCRIPTION_CHARS]
    qualified = qualified_name(server, name)
    schema: ToolSchema = {"type": "function", "function": {
        "name": qualified,
        "description": f"[MCP server {server}] {description}".rstrip(),
        "parameters": _parameters(getattr(tool, "input_schema", None)),
    }}
    if len(json.dumps(schema, sort_keys=True)) > MAX_SCHEMA_CHARS:
        return f"tool {name!r}: its schema is over {MAX_SCHEMA_CHARS} characters"
    hints = getattr(tool, "annotations", None)
    return McpTool(server, name, qualified, schema, bool(getattr(hints, "read_only_hint", False)))


def call_arguments(arguments: str) -> dict[str, Any]:
    """The model's argument string as the object an MCP call takes; ValueError with a reason otherwise."""
    if len(arguments) > MAX_ARGUMENT_CHARS:
        raise ValueError(f"the arguments are over {MAX_ARGUMENT_CHARS} characters")
    try:
        value = json.loads(arguments or "{}")
    except ValueError as exc:
        raise ValueError(f"the arguments are not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("the arguments must be a JSON object")
    return value


def _block_text(block: Any) -> str:
    kind = getattr(block, "type", "")
    if kind == "text":
        return str(getattr(block, "text", ""))
    if kind in ("image", "audio"):
        data = str(getattr(block, "data", ""))
        size = len(data) * 3 // 4 if data else 0
        return f"[{kind} {getattr(block, 'mime_type', '')}, about {size} bytes, not shown]"
    if kind == "resource_link":
        return f"[resource {getattr(block, 'uri', '')}]"
    if kind == "resource":
        inner = getattr(block, "resource", None)
        text = getattr(inner, "text", None)
        if isinstance(text, str):
            return text
        blob = str(getattr(inner, "blob", "") or "")
        return f"[resource {getattr(inner, 'uri', '')}, about {len(blob) * 3 // 4} bytes of binary, not shown]"
    return f"[{kind or 'unknown'} content, not shown]"


def result_text(result: Any) -> str:
    """A CallToolResult as text: its content blocks in order; the structured content when there is no text."""
    parts = [_block_text(block) for block in getattr(result, "content", None) or []]
    structured = getattr(result, "structured_content", None)
    if not any(p.strip() for p in parts) and structured is not None:
        parts = [json.dumps(structured, sort_keys=True, ensure_ascii=False)]
    return "\n".join(parts) if parts else "(no output)"


def finished_result(content: str, ok: bool) -> ToolResult:
    """A result as every tool result leaves: secrets redacted (its provenance is unknown), then capped."""
    redacted, found = redact_output(content)
    if found:
        redacted += f"\n[{found} secret value(s) redacted]"
    if len(redacted) > MAX_RESULT_CHARS:
        cut = len(redacted) - MAX_RESULT_CHARS
        redacted = redacted[:MAX_RESULT_CHARS] + f"\n[... {cut} more characters not shown]"
    return ToolResult(redacted, ok)
