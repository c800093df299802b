"""The tool contract: fixed, sorted, byte-stable schemas and a dispatcher that never raises.

The schemas are part of the cached prompt prefix, so they are built from constants only (no paths, no
dates, no configuration) and ``tool_schemas()`` returns the same bytes under ``json.dumps(sort_keys=True)``
in every run. ``run_tool`` turns every problem (malformed JSON, unknown tool or argument, a refused path,
a failed match) into a ``ToolResult`` with ``ok=False`` and a message the model can act on.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from v4agent.core.git import GitError
from v4agent.engine.types import ToolSchema
from v4agent.secrets.results import redact_diff, redact_output
from v4agent.tools import edit as _edit
from v4agent.tools import files as _files
from v4agent.tools import search as _search
from v4agent.tools.approval import ApprovalRequest, Asker, decide
from v4agent.tools.edit import ToolFailure
from v4agent.tools.finish import finish_message
from v4agent.tools.gitdiff import working_tree_diff
from v4agent.tools.paths import PathRefused
from v4agent.tools.shell import MAX_TIMEOUT_S, format_shell, run_shell
from v4agent.tools.testrun import detect_test_command, format_test_run, run_test_command

__all__ = ["TOOL_NAMES", "ToolContext", "ToolResult", "run_tool", "tool_schemas"]

MAX_RESULT_CHARS = 100_000


@dataclass
class ToolContext:
    repo_root: Path
    approve: Literal["ask", "edits", "yes"] = "ask"
    ask: Asker | None = None  # None when there is no terminal to ask on
    test_cmd: str | None = None  # --test-cmd / config; None = detect
    start_commit: str | None = None  # the session's starting commit; None = HEAD
    default_timeout_s: float = 600
    always: set[str] = field(default_factory=set)  # kinds the user approved with "always"

    def __post_init__(self) -> None:
        self.repo_root = Path(self.repo_root).resolve()


@dataclass(frozen=True)
class ToolResult:
    content: str
    ok: bool
    changed_paths: tuple[str, ...] = ()
    finished: bool = False
    summary: str = ""
    diff: str = ""


# --- schemas -------------------------------------------------------------------------------------------------

_S = {"type": "string"}
_I = {"type": "integer"}
_B = {"type": "boolean"}
_N = {"type": "number"}


def _arg(kind: dict[str, str], description: str) -> dict[str, str]:
    return {**kind, "description": description}


_SPECS: dict[str, tuple[str, dict[str, dict[str, str]], tuple[str, ...]]] = {
    "delete_file": (
        "Delete one file of the repository.",
        {"path": _arg(_S, "File path relative to the repository root.")},
        ("path",),
    ),
    "edit_file": (
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
    ),
    "finish": (
        "End the task. Call it once the work is done (and the tests pass), with a short summary of what changed.",
        {"summary": _arg(_S, "What was changed and why, for the user.")},
        ("summary",),
    ),
    "git_diff": (
        "Show the changes made so far: the working tree against the session's starting commit, new files "
        "included.",
        {"path": _arg(_S, "Limit the diff to this file or directory (optional).")},
        (),
    ),
    "grep": (
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
    ),
    "list_files": (
        "List the repository's files (ignored files left out), optionally filtered by a glob such as "
        "'src/**/*.py' or '*.md'.",
        {"pattern": _arg(_S, "Glob pattern, gitignore style (optional).")},
        (),
    ),
    "read_file": (
        "Read a file with numbered lines. Large files are returned one page at a time, with a note saying "
        "where to continue.",
        {
            "path": _arg(_S, "File path relative to the repository root."),
            "start_line": _arg(_I, "First line to show, 1-based (optional)."),
            "end_line": _arg(_I, "Last line to show, inclusive (optional)."),
        },
        ("path",),
    ),
    "run_tests": (
        "Run the project's tests (the detected or configured test command unless command is given). Returns "
        "the exit status and the head and tail of the output, failures kept.",
        {
            "command": _arg(_S, "Test command to run instead of the project's default (optional)."),
            "timeout_s": _arg(_N, "Time limit in seconds (optional)."),
        },
        (),
    ),
    "shell": (
        "Run a shell command in the repository root (bash). The user may have to approve it. Returns the "
        "exit status and output.",
        {
            "command": _arg(_S, "The command line."),
            "timeout_s": _arg(_N, "Time limit in seconds (optional)."),
        },
        ("command",),
    ),
    "write_file": (
        "Create a file, or replace a file's whole content.",
        {
            "path": _arg(_S, "File path relative to the repository root."),
            "content": _arg(_S, "The complete new content of the file."),
        },
        ("path", "content"),
    ),
}

TOOL_NAMES: tuple[str, ...] = tuple(sorted(_SPECS))


def _schema(name: str) -> ToolSchema:
    description, properties, required = _SPECS[name]
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {key: dict(value) for key, value in properties.items()},
                "required": list(required),
                "additionalProperties": False,
            },
        },
    }


_SCHEMAS: tuple[ToolSchema, ...] = tuple(_schema(name) for name in TOOL_NAMES)


def tool_schemas() -> list[ToolSchema]:
    """All tool schemas, sorted by name; a fresh deep copy, identical bytes every time."""
    return copy.deepcopy(list(_SCHEMAS))


# --- argument parsing ----------------------------------------------------------------------------------------


class _BadArguments(ValueError):
    pass


def _coerce(name: str, kind: str, value: Any) -> Any:
    if kind == "string":
        if isinstance(value, str):
            return value
    elif kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
    elif kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
    elif kind == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    raise _BadArguments(f"argument {name!r} must be a {kind}, got {json.dumps(value)[:80]}")


def _parse(name: str, arguments: str) -> dict[str, Any]:
    _, properties, required = _SPECS[name]
    text = arguments.strip() if isinstance(arguments, str) else ""
    if not text:
        data: Any = {}
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _BadArguments(
                f"the arguments are not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); send one "
                "JSON object, with newlines and quotes inside strings escaped"
            ) from exc
    if not isinstance(data, dict):
        raise _BadArguments(f"the arguments must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(properties))
    if unknown:
        raise _BadArguments(f"unknown argument(s) {', '.join(unknown)}; {name} takes {', '.join(properties)}")
    out: dict[str, Any] = {}
    for key, value in data.items():
        if value is not None:
            out[key] = _coerce(key, properties[key]["type"], value)
    missing = [key for key in required if key not in out]
    if missing:
        raise _BadArguments(f"missing required argument(s) {', '.join(missing)}")
    return out


# --- handlers ------------------------------------------------------------------------------------------------


def _confirm_edit(ctx: ToolContext, tool: str) -> _edit.Confirm | None:
    if ctx.approve in ("yes", "edits") or "edit" in ctx.always or ctx.ask is None:
        return None

    def confirm(rel: str, diff: str) -> bool:
        request = ApprovalRequest("edit", tool, f"{tool} {rel}", diff)
        return decide(ctx.approve, request, ctx.ask, ctx.always)[0]

    return confirm


def _timeout(ctx: ToolContext, args: dict[str, Any]) -> float:
    value = float(args.get("timeout_s", ctx.default_timeout_s))
    if value <= 0:
        raise ToolFailure("timeout_s must be more than 0")
    return min(value, MAX_TIMEOUT_S)


def _edited(result: _edit.EditResult) -> ToolResult:
    content = result.message + (f"\n{result.diff}" if result.diff else "")
    return ToolResult(content, True, (result.rel,) if result.changed else (), diff=result.diff)


def _read_file(ctx: ToolContext, a: dict[str, Any]) -> ToolResult:
    return ToolResult(_files.read_file(ctx.repo_root, a["path"], a.get("start_line"), a.get("end_line")), True)


def _list_files(ctx: ToolContext, a: dict[str, Any]) -> ToolResult:
    return ToolResult(_files.list_files(ctx.repo_root, a.get("pattern")), True)


def _grep(ctx: ToolContext, a: dict[str, Any]) -> ToolResult:
    text = _search.grep(ctx.repo_root, a["pattern"], a.get("path"), a.get("glob"), bool(a.get("ignore_case", False)),
                        a.get("max_results"))
    return ToolResult(text, True)


def _edit_file(ctx: ToolContext, a: dict[str, Any]) -> ToolResult:
    return _edited(_edit.edit_file(ctx.repo_root, a["path"], a["old_text"], a["new_text"],
                                   replace_all=bool(a.get("replace_all", False)),
                                   confirm=_confirm_edit(ctx, "edit_file")))


def _write_file(ctx: ToolContext, a: dict[str, Any]) -> ToolResult:
    return _edited(_edit.write_file(ctx.repo_root, a["path"], a["content"], confirm=_confirm_edit(ctx, "write_file")))


def _delete_file(ctx: ToolContext, a: dict[str, Any]) -> ToolResult:
    return _edited(_edit.delete_file(ctx.repo_root, a["path"], confirm=_confirm_edit(ctx, "delete_file")))


def _approve_shell(ctx: ToolContext, tool: str, command: str) -> None:
    allowed, reason = decide(ctx.approve, ApprovalRequest("shell", tool, command), ctx.ask, ctx.always)
    if not allowed:
        raise ToolFailure(reason)


def _run_tests(ctx: ToolContext, a: dict[str, Any]) -> ToolResult:
    default = ctx.test_cmd or detect_test_command(ctx.repo_root)
    command = (a.get("command") or "").strip() or default
    if not command:
        raise ToolFailure(
            "no test command was detected (pytest, npm test, go test, cargo test, make test); pass one as "
            "'command' or the user can set --test-cmd"
        )
    if command != default:  # the model's own command is a shell command like any other
        _approve_shell(ctx, "run_tests", command)
    timeout = _timeout(ctx, a)
    run = run_test_command(ctx.repo_root, command, timeout_s=timeout)
    return ToolResult(format_test_run(run, timeout), run.passed)


def _shell(ctx: ToolContext, a: dict[str, Any]) -> ToolResult:
    command = a["command"].strip()
    if not command:
        raise ToolFailure("command is empty")
    _approve_shell(ctx, "shell", command)
    timeout = _timeout(ctx, a)
    result = run_shell(ctx.repo_root, command, timeout)
    return ToolResult(format_shell(result, timeout), result.returncode == 0 and not result.timed_out)


def _git_diff(ctx: ToolContext, a: dict[str, Any]) -> ToolResult:
    diff = working_tree_diff(ctx.repo_root, ctx.start_commit, a.get("path"))
    return ToolResult(diff or "no changes since the session started", True, diff=diff)


def _finish(ctx: ToolContext, a: dict[str, Any]) -> ToolResult:
    text, summary = finish_message(a["summary"])
    return ToolResult(text, True, finished=True, summary=summary)


_HANDLERS: dict[str, Callable[[ToolContext, dict[str, Any]], ToolResult]] = {
    "delete_file": _delete_file,
    "edit_file": _edit_file,
    "finish": _finish,
    "git_diff": _git_diff,
    "grep": _grep,
    "list_files": _list_files,
    "read_file": _read_file,
    "run_tests": _run_tests,
    "shell": _shell,
    "write_file": _write_file,
}


_DIFF_TOOLS = frozenset({"edit_file", "write_file", "delete_file", "git_diff"})
_COMMAND_TOOLS = frozenset({"shell", "run_tests"})


def _without_secrets(name: str, result: ToolResult) -> ToolResult:
    """The result as it may enter the conversation and the session log (grep and read_file redact by path)."""
    if name in _COMMAND_TOOLS:
        content, found = redact_output(result.content)
    elif name in _DIFF_TOOLS:
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
    handler = _HANDLERS.get(name)
    if handler is None:
        return ToolResult(f"unknown tool {name!r}; the tools are: {', '.join(TOOL_NAMES)}", False)
    try:
        args = _parse(name, arguments)
    except _BadArguments as exc:
        return ToolResult(f"{name}: bad arguments: {exc}", False)
    try:
        return _clip(_without_secrets(name, handler(ctx, args)))
    except PathRefused as exc:
        return ToolResult(f"{name}: refused: {exc}", False)
    except ToolFailure as exc:
        return ToolResult(f"{name}: {exc}", False)
    except subprocess.TimeoutExpired as exc:
        return ToolResult(f"{name}: timed out after {exc.timeout:g}s", False)
    except (OSError, RuntimeError, ValueError, GitError) as exc:
        return ToolResult(f"{name} failed: {exc}", False)
    except Exception as exc:  # a bug in a tool must not kill the session; the model sees it and moves on
        return ToolResult(f"{name} failed unexpectedly: {type(exc).__name__}: {exc}", False)
