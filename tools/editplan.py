"""What a file tool call is about to write, worked out before it runs, from the same steps the tool takes.

The undo record of a call is made durable *before* the call runs (``agent/checkpoint.py``): it names the state
the file was in and the state the call will leave, so a kill between the write and the record after it never
leaves a change undo cannot tell from a person's. This module answers "what will it leave" for ``write_file``,
``edit_file`` and ``delete_file`` by running the tool's own reading, matching and encoding steps (``edit.py``)
without the write. It never raises: a call that would fail, or that changes nothing, plans no write.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

from v4agent.secrets.redact import REDACTED_PREFIX, placeholders_in
from v4agent.tools import edit as _edit
from v4agent.tools.args import BadArguments, parse_arguments
from v4agent.tools.editmatch import apply_edit
from v4agent.tools.paths import PathRefused, RepoPath, parent_dir, resolve_repo_path
from v4agent.tools.registry import TOOLS
from v4agent.tools.safeopen import opened_root, stat_at

__all__ = ["PlannedWrite", "planned_write"]

_BY_NAME = {tool.name: tool for tool in TOOLS if tool.edits_files}


@dataclass(frozen=True)
class PlannedWrite:
    """The file a call will change (``rel``, as the tool resolves it) and what it will hold after."""

    rel: str
    data: bytes | None  # None: the call removes the file
    mode: int = 0o644


def planned_write(repo_root: Path, name: str, arguments: str) -> PlannedWrite | None:
    """What ``name(arguments)`` would write now; None when it would fail, change nothing, or is not a file tool."""
    tool = _BY_NAME.get(name)
    if tool is None:
        return None
    try:
        args = parse_arguments(tool, arguments)
        if name == "write_file":
            return _write(repo_root, args["path"], args["content"])
        if name == "edit_file":
            return _edit_plan(repo_root, args["path"], args["old_text"], args["new_text"],
                              bool(args.get("replace_all", False)))
        if name == "delete_file":
            return _delete(repo_root, args["path"])
    except (BadArguments, PathRefused, _edit.ToolFailure, OSError, KeyError, ValueError):
        return None
    return None


def _read(repo_root: Path, path: str, *, must_exist: bool) -> tuple[RepoPath, _edit._Current | None]:
    target = resolve_repo_path(repo_root, path, writing=True)
    with opened_root(target.root) as root_fd, parent_dir(root_fd, target, path) as dir_fd:
        current = _edit._current(dir_fd, target, path, must_exist=must_exist)
    return target, current


def _write(repo_root: Path, path: str, content: str) -> PlannedWrite | None:
    target, current = _read(repo_root, path, must_exist=False)
    before, encoding = (current.text, current.encoding) if current else ("", "utf-8")
    if "\r\n" in before and before.count("\r\n") == before.count("\n") and "\r\n" not in content:
        content = content.replace("\n", "\r\n")
    if placeholders_in(content):
        content = _edit._restore_secrets(before, content, target)
    if current is not None and before == content:
        return None
    return PlannedWrite(target.rel, _edit._encode(content, encoding, target.shown), current.mode if current else 0o644)


def _edit_plan(repo_root: Path, path: str, old_text: str, new_text: str, replace_all: bool) -> PlannedWrite | None:
    target, current = _read(repo_root, path, must_exist=True)
    if current is None:
        return None
    before = current.text
    if REDACTED_PREFIX in old_text or REDACTED_PREFIX in new_text:
        outcome = _edit._edit_around_secrets(before, old_text, new_text, replace_all, target)
    else:
        outcome = apply_edit(before, old_text, new_text, replace_all=replace_all)
    if not outcome.ok or outcome.content == before:
        return None
    return PlannedWrite(target.rel, _edit._encode(outcome.content, current.encoding, target.shown), current.mode)


def _delete(repo_root: Path, path: str) -> PlannedWrite | None:
    target = resolve_repo_path(repo_root, path, writing=True)
    with opened_root(target.root) as root_fd, parent_dir(root_fd, target, path) as dir_fd:
        info = None if dir_fd is None else stat_at(dir_fd, target.name)
    if info is None or stat.S_ISDIR(info.st_mode):
        return None
    return PlannedWrite(target.rel, None)
