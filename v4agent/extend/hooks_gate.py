"""What PreToolUse hooks' decision does to one tool call: refuse it, ask the user, skip the question, change its input.

Claude Code's meaning (https://code.claude.com/docs/en/hooks, "PreToolUse decision control"): ``"allow"`` skips
the permission prompt, ``"deny"`` prevents the call, ``"ask"`` prompts the user to confirm (the reason shown to
the user, not the model); ``updatedInput`` "replaces the entire input object" and the call runs with it. In
v4agent:

- deny: the call does not run; the model gets the reason (as before).
- allow: the call's approval question is skipped, but only where the call runs confined: an edit (always inside
  the repository), a command while the sandbox contains commands, a repository's sandboxed MCP server. A hook
  cannot widen what the sandbox allows, so elsewhere (no sandbox, a user's unsandboxed MCP server) allow is
  ignored with a notice and the approval policy asks as usual. The tool's own checks (paths inside the
  repository, plan mode, the sandbox itself) run whatever a hook says.
- ask: the user is asked about this call even where the policy would not ask (``--approve yes``, an earlier
  "always"); yes runs it without a second question, no refuses it. With no terminal to ask on, the approval
  policy gives its no-terminal answer (``--approve yes`` runs it; otherwise a command or an MCP call is refused
  and an edit goes ahead), and a notice says so.
- updatedInput: the tool runs with the new input (a ``file_path`` maps back to v4agent's ``path``), still under
  every check above; the change is shown to the user and written at the head of the tool's result, so the
  model and the session record see what ran.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from v4agent.extend.hooks_run import HookOutcome
from v4agent.tools.approval import ApprovalRequest, Kind, decide
from v4agent.tools.registry import edits_files, runs_command
from v4agent.tools.tool import ToolContext

__all__ = ["Gate", "gate_call", "new_arguments"]

_PREVIEW_CHARS = 400


@dataclass(frozen=True)
class Gate:
    """How one call goes on after its PreToolUse hooks."""

    refused: str | None = None  # the call does not run: this is its result for the model
    arguments: str = ""  # what the call runs with
    preapproved: bool = False  # its approval question is already answered yes
    note: str = ""  # for the head of the result: the changed input, the hooks' context


def _parsed(arguments: str) -> dict[str, Any] | None:
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def new_arguments(root: Path, arguments: str, updated: Mapping[str, Any]) -> str:
    """The call's arguments after ``updatedInput`` (the whole new input, as the hook saw it).

    Hooks see a file tool's ``path`` also as an absolute ``file_path`` (Claude Code's name): a changed
    ``file_path`` becomes the new ``path`` (relative when inside the repository, so the tool's own check
    decides), an unchanged one is dropped again. A call whose arguments were not an object gets them back.
    """
    value = dict(updated)
    if set(value) == {"raw_arguments"} and isinstance(value["raw_arguments"], str):
        return value["raw_arguments"]
    original = _parsed(arguments) or {}
    file_path = value.get("file_path")
    if "path" in original and "file_path" not in original and isinstance(file_path, str):
        del value["file_path"]
        if file_path != str(root / str(original["path"])):
            target = Path(file_path)
            inside = target.is_absolute() and os.path.commonpath([target, root]) == str(root)
            value["path"] = os.path.relpath(target, root) if inside else file_path
    return json.dumps(value, ensure_ascii=False)


def _kind(name: str, mcp: bool) -> Kind:
    if mcp:
        return "mcp"
    return "edit" if edits_files(name) else "shell"


def _preview(arguments: str) -> str:
    return " ".join(arguments.split())[:_PREVIEW_CHARS]


def _ask(ctx: ToolContext, name: str, arguments: str, outcome: HookOutcome, kind: Kind,
         notice: Callable[[str], None]) -> tuple[bool, str]:
    """(run it pre-approved, why refused) for a hook's ask."""
    why = f"a PreToolUse hook asks you to confirm this call: {outcome.reason}" if outcome.reason \
        else "a PreToolUse hook asks you to confirm this call"
    request = ApprovalRequest(kind, name, f"{name} {_preview(arguments)}", why)
    if ctx.ask is None:
        allowed, reason = decide(ctx.approve, request, None, ctx.always)
        notice(f"{why}; there is no terminal to ask on, so the approval policy (--approve {ctx.approve}) "
               f"{'lets it run' if allowed else 'refuses it'}")
        return False, "" if allowed else f"{name}: {reason} (a PreToolUse hook asked for confirmation)"
    answer = ctx.ask(request)
    if answer == "always":
        ctx.always.add(kind)
    if answer in ("yes", "always"):
        return True, ""
    return False, f"{name}: refused: the user declined it at a PreToolUse hook's request"


def gate_call(ctx: ToolContext, name: str, arguments: str, outcome: HookOutcome, *, confined: bool, mcp: bool,
              notice: Callable[[str], None]) -> Gate:
    """The call's fate after its hooks (``outcome``, merged); ``confined``: it runs confined (see the module)."""
    if outcome.block:
        return Gate(refused=f"{name}: blocked by a PreToolUse hook: {outcome.feedback or 'denied'}")
    notes = []
    if outcome.updated_input is not None:
        changed = new_arguments(ctx.repo_root, arguments, outcome.updated_input)
        if changed != arguments:
            notice(f"a PreToolUse hook changed the input of {name}: {_preview(arguments)} -> {_preview(changed)}")
            notes.append(f"[PreToolUse hook changed the input to: {changed}]")
            arguments = changed
    if outcome.context:
        notes.append(f"[PreToolUse hook] {outcome.context}")
    note = "\n".join(notes)
    asks_approval = mcp or edits_files(name) or runs_command(name)  # only these have a question to skip
    if outcome.decision == "ask":
        approved, refused = _ask(ctx, name, arguments, outcome, _kind(name, mcp), notice)
        if refused:
            return Gate(refused=refused)
        return Gate(None, arguments, approved and asks_approval, note)
    if outcome.decision == "allow" and not confined:
        notice(f"a PreToolUse hook allowed {name} without a question, but it would run outside the sandbox: "
               "the approval policy decides instead")
        return Gate(None, arguments, False, note)
    return Gate(None, arguments, outcome.decision == "allow" and asks_approval, note)
