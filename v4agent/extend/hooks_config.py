"""Hook entries: ``[[hooks.EVENT]]`` tables in the user's config file and, when trusted, the repository's.

The shape is Claude Code's ``hooks`` setting, written in TOML (https://code.claude.com/docs/en/hooks,
"Configuration"): each event holds matcher groups, each group a ``matcher`` and a list of ``hooks`` of
``type = "command"`` with a ``command`` and an optional ``timeout`` in seconds (60 by default there, and here)::

    [[hooks.PreToolUse]]
    matcher = "shell|Bash"
    hooks = [{ type = "command", command = "./guard.sh", timeout = 10 }]

Matchers (same page, "Structure"): ``*``, an empty string or no matcher match everything; a plain name, or
names joined by ``|``, match exactly; anything else is a regular expression. Tool events match the tool's
name in v4agent and its Claude Code counterpart (``shell`` is ``Bash``), so existing matchers keep working.
SessionStart matches its source (``startup``, ``resume``, ``compact``) and SessionEnd its reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["CLAUDE_NAMES", "EVENTS", "HookSpec", "Scope", "matches", "parse_hooks"]

EVENTS = ("PreToolUse", "PostToolUse", "UserPromptSubmit", "Stop", "SessionStart", "SessionEnd")
Scope = Literal["user", "project"]
DEFAULT_TIMEOUT_S = 60.0
MAX_TIMEOUT_S = 600.0
# v4agent's tools and the Claude Code tools hook scripts are written for (https://code.claude.com/docs/en/hooks,
# "PreToolUse": "Common matchers: Task, Bash, Glob, Grep, Read, Edit, Write, WebFetch, WebSearch").
CLAUDE_NAMES = {"shell": "Bash", "read_file": "Read", "write_file": "Write", "edit_file": "Edit", "grep": "Grep",
                "list_files": "Glob"}
_PLAIN = re.compile(r"^[A-Za-z0-9_-]+(\|[A-Za-z0-9_-]+)*$")


@dataclass(frozen=True)
class HookSpec:
    """One hook command: the event and matcher it answers, its timeout, and where it was configured."""

    event: str
    matcher: str
    command: str
    timeout_s: float
    scope: Scope
    source: str


def matches(matcher: str, *names: str) -> bool:
    """Whether ``matcher`` selects any of ``names`` (a bad regular expression selects nothing)."""
    if matcher in ("", "*"):
        return True
    if _PLAIN.match(matcher):
        return bool(set(matcher.split("|")) & set(names))
    try:
        pattern = re.compile(matcher)
    except re.error:
        return False
    return any(pattern.search(name) for name in names)


def _group(event: str, group: Any, scope: Scope, source: str) -> list[HookSpec]:
    if not isinstance(group, dict):
        raise ValueError("each entry must be a table with matcher and hooks")
    matcher = group.get("matcher", "")
    if not isinstance(matcher, str):
        raise ValueError("matcher must be a string")
    if not _PLAIN.match(matcher) and matcher not in ("", "*"):
        try:
            re.compile(matcher)
        except re.error as exc:
            raise ValueError(f"matcher {matcher!r} is not a valid regular expression: {exc}") from None
    hooks = group.get("hooks")
    if not isinstance(hooks, list) or not hooks:
        raise ValueError("hooks must be a list of {type = \"command\", command = \"...\"}")
    found = []
    for hook in hooks:
        if not isinstance(hook, dict) or hook.get("type", "command") != "command":
            raise ValueError("only type = \"command\" hooks are supported")
        command = hook.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ValueError("a hook needs a command")
        timeout = hook.get("timeout", DEFAULT_TIMEOUT_S)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= MAX_TIMEOUT_S:
            raise ValueError(f"timeout must be a number of seconds, more than 0 and at most {MAX_TIMEOUT_S:g}")
        found.append(HookSpec(event, matcher, command, float(timeout), scope, source))
    return found


def parse_hooks(table: Any, scope: Scope, source: str) -> tuple[list[HookSpec], list[str]]:
    """The hooks of one ``[hooks]`` table, in the order given, and a warning for each entry left out."""
    if table is None:
        return [], []
    if not isinstance(table, dict):
        return [], [f"{source}: [hooks] must be a table of EVENT = [...] entries"]
    specs: list[HookSpec] = []
    warnings: list[str] = []
    for event, groups in table.items():
        if event not in EVENTS:
            warnings.append(f"{source}: hooks for {event!r} left out: v4agent runs {', '.join(EVENTS)}")
            continue
        if not isinstance(groups, list):
            warnings.append(f"{source}: hooks.{event} must be a list ([[hooks.{event}]])")
            continue
        for index, group in enumerate(groups):
            try:
                specs += _group(event, group, scope, source)
            except ValueError as exc:
                warnings.append(f"{source}: hooks.{event}[{index}] left out: {exc}")
    return specs, warnings
