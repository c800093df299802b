"""The tool handlers: each takes the session's context and parsed arguments and returns a ``ToolResult``.

Handlers may raise (``ToolFailure``, ``PathRefused``, OS errors...): ``registry.run_tool`` turns every
exception into a failed result the model can act on.
"""

from __future__ import annotations

from typing import Any

from v4agent.sandbox import is_contained
from v4agent.tools import edit as _edit
from v4agent.tools import files as _files
from v4agent.tools import search as _search
from v4agent.tools.approval import ApprovalRequest, decide, gate_command
from v4agent.tools.edit import ToolFailure
from v4agent.tools.finish import finish_message
from v4agent.tools.gitdiff import working_tree_diff
from v4agent.tools.shell import MAX_TIMEOUT_S, format_shell, run_shell
from v4agent.tools.testrun import detect_test_command, format_test_run, run_test_command
from v4agent.tools.tool import ToolContext, ToolResult

__all__ = [
    "delete_file", "edit_file", "finish", "git_diff_tool", "grep", "list_files", "read_file", "run_tests", "shell",
    "write_file",
]


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


def read_file(ctx: ToolContext, a: dict[str, Any]) -> ToolResult:
    """read_file: numbered lines, one page at a time."""
    return ToolResult(_files.read_file(ctx.repo_root, a["path"], a.get("start_line"), a.get("end_line")), True)


def list_files(ctx: ToolContext, a: dict[str, Any]) -> ToolResult:
    """list_files: the repository's files, optionally filtered by a glob."""
    return ToolResult(_files.list_files(ctx.repo_root, a.get("pattern")), True)


def grep(ctx: ToolContext, a: dict[str, Any]) -> ToolResult:
    """grep: regular-expression search over file contents."""
    text = _search.grep(ctx.repo_root, a["pattern"], a.get("path"), a.get("glob"), bool(a.get("ignore_case", False)),
                        a.get("max_results"))
    return ToolResult(text, True)


def edit_file(ctx: ToolContext, a: dict[str, Any]) -> ToolResult:
    """edit_file: replace one matched span of text."""
    return _edited(_edit.edit_file(ctx.repo_root, a["path"], a["old_text"], a["new_text"],
                                   replace_all=bool(a.get("replace_all", False)),
                                   confirm=_confirm_edit(ctx, "edit_file")))


def write_file(ctx: ToolContext, a: dict[str, Any]) -> ToolResult:
    """write_file: create a file or replace its whole content."""
    return _edited(_edit.write_file(ctx.repo_root, a["path"], a["content"], confirm=_confirm_edit(ctx, "write_file")))


def delete_file(ctx: ToolContext, a: dict[str, Any]) -> ToolResult:
    """delete_file: remove one file."""
    return _edited(_edit.delete_file(ctx.repo_root, a["path"], confirm=_confirm_edit(ctx, "delete_file")))


def _approve_command(ctx: ToolContext, tool: str, command: str, *, project_tests: bool = False) -> None:
    allowed, reason = gate_command(ctx.approve, ApprovalRequest("shell", tool, command), ctx.ask, ctx.always,
                                   contained=is_contained(ctx.sandbox), project_tests=project_tests)
    if not allowed:
        raise ToolFailure(reason)


def run_tests(ctx: ToolContext, a: dict[str, Any]) -> ToolResult:
    """run_tests: the project's test command (or the model's own, approved like a shell command)."""
    default = ctx.test_cmd or detect_test_command(ctx.repo_root)
    command = (a.get("command") or "").strip() or default
    if not command:
        raise ToolFailure(
            "no test command was detected (pytest, npm test, go test, cargo test, make test); pass one as "
            "'command' or the user can set --test-cmd"
        )
    # The project's own test command runs without asking in the sandbox; the model's is a shell command.
    _approve_command(ctx, "run_tests", command, project_tests=command == default)
    timeout = _timeout(ctx, a)
    run = run_test_command(ctx.repo_root, command, timeout_s=timeout, sandbox=ctx.sandbox)
    return ToolResult(format_test_run(run, timeout), run.passed)


def shell(ctx: ToolContext, a: dict[str, Any]) -> ToolResult:
    """shell: one approved bash command in the repository root."""
    command = a["command"].strip()
    if not command:
        raise ToolFailure("command is empty")
    _approve_command(ctx, "shell", command)
    timeout = _timeout(ctx, a)
    result = run_shell(ctx.repo_root, command, timeout, ctx.sandbox)
    return ToolResult(format_shell(result, timeout), result.returncode == 0 and not result.timed_out)


def git_diff_tool(ctx: ToolContext, a: dict[str, Any]) -> ToolResult:
    """git_diff: the working tree against the session's starting commit."""
    diff = working_tree_diff(ctx.repo_root, ctx.start_commit, a.get("path"))
    return ToolResult(diff or "no changes since the session started", True, diff=diff)


def finish(ctx: ToolContext, a: dict[str, Any]) -> ToolResult:
    """finish: end the task with a summary."""
    text, summary = finish_message(a["summary"])
    return ToolResult(text, True, finished=True, summary=summary)
