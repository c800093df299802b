"""The tool contract: one record per tool, fixed byte-stable schemas, and a dispatcher that never raises.

Every property of a tool (schema, handler, whether it edits files or runs commands, how its output is
redacted) lives in its ``Tool`` record in ``TOOLS``; every other table is derived from that tuple.

The schemas are part of the cached prompt prefix, so they are built from constants only (no paths, no
dates, no configuration) and ``tool_schemas()`` returns the same bytes under ``json.dumps(sort_keys=True)``
in every run. ``run_tool`` turns every problem (malformed JSON, unknown tool or argument, a refused path,
a failed match) into a ``ToolResult`` with ``ok=False`` and a message the model can act on.
"""

from __future__ import annotations

import copy
import subprocess
from dataclasses import replace

from v4agent.core.git import GitError
from v4agent.engine.types import ToolSchema
from v4agent.secrets.results import redact_diff, redact_output
from v4agent.tools import handlers
from v4agent.tools.args import BadArguments, parse_arguments
from v4agent.tools.edit import ToolFailure
from v4agent.tools.paths import PathRefused
from v4agent.tools.tool import Tool, ToolContext, ToolResult

__all__ = [
    "TOOLS", "TOOL_NAMES", "Tool", "ToolContext", "ToolResult", "changes_files", "edits_files", "run_tool",
    "runs_command", "tool_schemas",
]

MAX_RESULT_CHARS = 100_000


# --- the tools -----------------------------------------------------------------------------------------------

_S = {"type": "string"}
_I = {"type": "integer"}
_B = {"type": "boolean"}
_N = {"type": "number"}


def _arg(kind: dict[str, str], description: str) -> dict[str, str]:
    return {**kind, "description": description}


# Sorted by name: the schemas are sent in this order.
TOOLS: tuple[Tool, ...] = (
    Tool(
        "delete_file",
        "Delete one file of the repository.",
        {"path": _arg(_S, "File path relative to the repository root.")},
        ("path",),
        handlers.delete_file,
        edits_files=True, diff_output=True,
    ),
    Tool(
        "edit_file",
        "Replace old_text with new_text in a file. old_text must match one place: copy it from read_file output "
        "(without the line numbers), with enough surrounding lines to be unique. Small whitespace or "
        "indentation differences are tolerated; an ambiguous or missing match is refused with the closest "
        "candidates and their line numbers. Returns a unified diff.",
        {
            "path": _arg(_S, "File path relative to the repository root."),
            "old_text": _arg(_S, "The exact text to replace."),
            "new_text": _arg(_S, "The replacement text."),
            "replace_all": _arg(_B, "Replace every occurrence instead of requiring a unique one (default false)."),
        },
        ("path", "old_text", "new_text"),
        handlers.edit_file,
        edits_files=True, diff_output=True,
    ),
    Tool(
        "finish",
        "End the task. Call it once the work is done (and the tests pass), with a short summary of what changed.",
        {"summary": _arg(_S, "What was changed and why, for the user.")},
        ("summary",),
        handlers.finish,
    ),
    Tool(
        "git_diff",
        "Show the changes made so far: the working tree against the session's starting commit, new files "
        "included.",
        {"path": _arg(_S, "Limit the diff to this file or directory (optional).")},
        (),
        handlers.git_diff_tool,
        diff_output=True,
    ),
    Tool(
        "grep",
        "Search file contents with a regular expression (ripgrep syntax). Results are 'path:line: text', "
        "capped at max_results with a count of what was left out.",
        {
            "pattern": _arg(_S, "Regular expression to search for."),
            "path": _arg(_S, "File or directory to search in (default: the whole repository)."),
            "glob": _arg(_S, "Only search files matching this glob, e.g. '*.py' (optional)."),
            "ignore_case": _arg(_B, "Case-insensitive search (default false)."),
            "max_results": _arg(_I, "Maximum number of matching lines to return (default 100)."),
        },
        ("pattern",),
        handlers.grep,
    ),
    Tool(
        "list_files",
        "List the repository's files (ignored files left out), optionally filtered by a glob such as "
        "'src/**/*.py' or '*.md'.",
        {"pattern": _arg(_S, "Glob pattern, gitignore style (optional).")},
        (),
        handlers.list_files,
    ),
    Tool(
        "read_file",
        "Read a file with numbered lines. Large files are returned one page at a time, with a note saying "
        "where to continue.",
        {
            "path": _arg(_S, "File path relative to the repository root."),
            "start_line": _arg(_I, "First line to show, 1-based (optional)."),
            "end_line": _arg(_I, "Last line to show, inclusive (optional)."),
        },
        ("path",),
        handlers.read_file,
    ),
    Tool(
        "run_tests",
        "Run the project's tests (the detected or configured test command unless command is given). Returns "
        "the exit status and the head and tail of the output, failures kept.",
        {
            "command": _arg(_S, "Test command to run instead of the project's default (optional)."),
            "timeout_s": _arg(_N, "Time limit in seconds (optional)."),
        },
        (),
        handlers.run_tests,
        runs_command=True,
    ),
    Tool(
        "shell",
        "Run a shell command in the repository root (bash). The user may have to approve it. Returns the "
        "exit status and output.",
        {
            "command": _arg(_S, "The command line."),
            "timeout_s": _arg(_N, "Time limit in seconds (optional)."),
        },
        ("command",),
        handlers.shell,
        runs_command=True,
    ),
    Tool(
        "write_file",
        "Create a file, or replace a file's whole content.",
        {
            "path": _arg(_S, "File path relative to the repository root."),
            "content": _arg(_S, "The complete new content of the file."),
        },
        ("path", "content"),
        handlers.write_file,
        edits_files=True, diff_output=True,
    ),
)

_BY_NAME: dict[str, Tool] = {tool.name: tool for tool in TOOLS}
TOOL_NAMES: tuple[str, ...] = tuple(sorted(_BY_NAME))


def edits_files(name: str) -> bool:
    """Whether the tool edits files itself (and names them in ``changed_paths``)."""
    tool = _BY_NAME.get(name)
    return tool is not None and tool.edits_files


def runs_command(name: str) -> bool:
    """Whether the tool runs a command, which may change files the model did not edit itself."""
    tool = _BY_NAME.get(name)
    return tool is not None and tool.runs_command


def changes_files(name: str) -> bool:
    """Whether running the tool may change the working tree (an edit or a command)."""
    tool = _BY_NAME.get(name)
    return tool is not None and tool.changes_files


# --- schemas -------------------------------------------------------------------------------------------------


def _schema(tool: Tool) -> ToolSchema:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": {
                "type": "object",
                "properties": {key: dict(value) for key, value in tool.properties.items()},
                "required": list(tool.required),
                "additionalProperties": False,
            },
        },
    }


_SCHEMAS: tuple[ToolSchema, ...] = tuple(_schema(_BY_NAME[name]) for name in TOOL_NAMES)


def tool_schemas() -> list[ToolSchema]:
    """All tool schemas, sorted by name; a fresh deep copy, identical bytes every time."""
    return copy.deepcopy(list(_SCHEMAS))


# --- running -------------------------------------------------------------------------------------------------


def _without_secrets(tool: Tool, result: ToolResult) -> ToolResult:
    """The result as it may enter the conversation and the session log (grep and read_file redact by path)."""
    if tool.runs_command:
        content, found = redact_output(result.content)
    elif tool.diff_output:
        content, found = redact_diff(result.content)
        diff, _ = redact_diff(result.diff)
        result = replace(result, diff=diff)
    else:
        return result
    if not found:
        return result
    return replace(result, content=f"{content}\n[{found} secret value(s) redacted]")


def _clip(result: ToolResult) -> ToolResult:
    if len(result.content) <= MAX_RESULT_CHARS:
        return result
    cut = len(result.content) - MAX_RESULT_CHARS
    content = result.content[:MAX_RESULT_CHARS] + f"\n[... {cut} more characters not shown]"
    return ToolResult(content, result.ok, result.changed_paths, result.finished, result.summary, result.diff)


def run_tool(ctx: ToolContext, name: str, arguments: str) -> ToolResult:
    """Run one tool call. Never raises for bad input: every problem comes back as ``ok=False``."""
    tool = _BY_NAME.get(name)
    if tool is None:
        return ToolResult(f"unknown tool {name!r}; the tools are: {', '.join(TOOL_NAMES)}", False)
    try:
        args = parse_arguments(tool, arguments)
    except BadArguments as exc:
        return ToolResult(f"{name}: bad arguments: {exc}", False)
    try:
        return _clip(_without_secrets(tool, tool.handler(ctx, args)))
    except PathRefused as exc:
        return ToolResult(f"{name}: refused: {exc}", False)
    except ToolFailure as exc:
        return ToolResult(f"{name}: {exc}", False)
    except subprocess.TimeoutExpired as exc:
        return ToolResult(f"{name}: timed out after {exc.timeout:g}s", False)
    except (GitError, OSError, RuntimeError, ValueError) as exc:
        return ToolResult(f"{name} failed: {exc}", False)
    except Exception as exc:  # a bug in a tool must not kill the session; the model sees it and moves on
        return ToolResult(f"{name} failed unexpectedly: {type(exc).__name__}: {exc}", False)
