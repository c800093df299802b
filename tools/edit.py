"""edit_file, write_file and delete_file: atomic writes that keep encoding, line endings and file mode."""

from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from v4agent.core.errors import V4AgentError
from v4agent.core.fsutil import atomic_write_bytes
from v4agent.secrets.redact import REDACTED_PREFIX, placeholders_in, redacted_view, restore_values
from v4agent.secrets.scan import scan_secrets
from v4agent.tools.editmatch import EditOutcome, apply_edit
from v4agent.tools.paths import resolve_repo_path

__all__ = ["EditResult", "ToolFailure", "decode", "delete_file", "edit_file", "short_diff", "write_file"]

MAX_DIFF_LINES = 120
_BOM = b"\xef\xbb\xbf"


Confirm = Callable[[str, str], bool]  # (relative path, diff) -> go ahead?


class ToolFailure(V4AgentError):
    """A tool could not do what was asked; the message goes back to the model as the tool result."""


@dataclass(frozen=True)
class EditResult:
    """What a file tool did: the path, the message for the model, the diff, and whether the file changed."""

    rel: str
    message: str
    diff: str
    changed: bool


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding): utf-8-sig when there is a BOM, else utf-8, else latin-1 (which never fails)."""
    if data.startswith(_BOM):
        return data[len(_BOM) :].decode("utf-8", errors="strict"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _encode(text: str, encoding: str, rel: str) -> bytes:
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        raise ToolFailure(
            f"{rel} is {encoding}-encoded and the new text has a character it cannot hold ({exc.object[exc.start]!r})"
        ) from exc


def short_diff(rel: str, before: str, after: str, *, max_lines: int = MAX_DIFF_LINES) -> str:
    """A unified diff (3 lines of context), cut to ``max_lines`` with a note of what was left out."""
    lines = list(
        difflib.unified_diff(
            before.replace("\r\n", "\n").splitlines(), after.replace("\r\n", "\n").splitlines(),
            f"a/{rel}", f"b/{rel}", lineterm="",
        )
    )
    if len(lines) > max_lines:
        cut = len(lines) - max_lines
        lines = [*lines[:max_lines], f"[... {cut} more diff lines not shown]"]
    return "\n".join(lines)


def _read(path: Path, rel: str) -> tuple[str, str]:
    if not path.exists():
        raise ToolFailure(f"{rel} does not exist; use write_file to create it")
    if not path.is_file():
        raise ToolFailure(f"{rel} is not a regular file")
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise ToolFailure(f"{rel} looks binary; tools edit text files only")
    return decode(data)


# The model sees files with secret values replaced by «REDACTED:kind» placeholders (read_file, grep, diffs). An
# edit that copies them is made on that same view and the values are put back, so the model can work around a
# secret without ever seeing it, and no placeholder is ever written over one.
_KEEP_PLACEHOLDERS = ("keep each «REDACTED:…» placeholder exactly as it was shown, in the same order: each stands "
                      "for a secret value that stays as it is (a secret itself is changed by the user, not by a tool)")


def _edit_around_secrets(before: str, old_text: str, new_text: str, replace_all: bool, rel: str) -> EditOutcome:
    if placeholders_in(old_text) != placeholders_in(new_text):
        raise ToolFailure(f"{rel}: new_text must {_KEEP_PLACEHOLDERS}")
    view, values = redacted_view(before, scan_secrets(before, rel))
    outcome = apply_edit(view, old_text, new_text, replace_all=replace_all)
    if not outcome.ok:
        return outcome
    restored = restore_values(outcome.content, values)
    if restored is None:
        raise ToolFailure(f"{rel}: the edit would move or drop a redacted secret; {_KEEP_PLACEHOLDERS}")
    return replace(outcome, content=restored)


def _restore_secrets(before: str, content: str, rel: str) -> str:
    view, values = redacted_view(before, scan_secrets(before, rel))
    restored = restore_values(content, values) if placeholders_in(content) == placeholders_in(view) else None
    if restored is None:
        raise ToolFailure(f"{rel}: content has «REDACTED:…» placeholders that are not the file's own, one for one; "
                          "a placeholder would be written over a secret. Use edit_file around them, or "
                          f"{_KEEP_PLACEHOLDERS}")
    return restored


def _confirm(confirm: Confirm | None, rel: str, diff: str) -> None:
    if confirm is not None and not confirm(rel, diff):
        raise ToolFailure(f"the change to {rel} was not approved; nothing was written")


def edit_file(
    repo_root: Path, path: str, old_text: str, new_text: str, *, replace_all: bool = False,
    confirm: Confirm | None = None,
) -> EditResult:
    """Replace ``old_text`` with ``new_text`` (everywhere with ``replace_all``) and write the file back."""
    target = resolve_repo_path(repo_root, path)
    before, encoding = _read(target.abs, target.rel)
    if REDACTED_PREFIX in old_text or REDACTED_PREFIX in new_text:
        outcome = _edit_around_secrets(before, old_text, new_text, replace_all, target.rel)
    else:
        outcome = apply_edit(before, old_text, new_text, replace_all=replace_all)
    if not outcome.ok:
        raise ToolFailure(f"{target.rel}: {outcome.message}")
    if outcome.content == before:
        return EditResult(target.rel, f"{target.rel}: {outcome.message}; the file is unchanged", "", False)
    diff = short_diff(target.rel, before, outcome.content)
    data = _encode(outcome.content, encoding, target.rel)
    _confirm(confirm, target.rel, diff)
    atomic_write_bytes(target.abs, data)
    where = ", ".join(str(n) for n in outcome.lines)
    message = f"edited {target.rel} at line {where} ({outcome.tier} match)"
    return EditResult(target.rel, message, diff, True)


def write_file(repo_root: Path, path: str, content: str, *, confirm: Confirm | None = None) -> EditResult:
    """Create or overwrite a file with ``content``, keeping an existing file's encoding and line endings."""
    target = resolve_repo_path(repo_root, path)
    if target.abs.is_dir():
        raise ToolFailure(f"{target.rel} is a directory")
    before, encoding = ("", "utf-8")
    if target.abs.exists():
        before, encoding = _read(target.abs, target.rel)
        # Keep the file's line endings: the model writes LF.
        if "\r\n" in before and before.count("\r\n") == before.count("\n") and "\r\n" not in content:
            content = content.replace("\n", "\r\n")
    if placeholders_in(content):
        content = _restore_secrets(before, content, target.rel)
    if target.abs.exists() and before == content:
        return EditResult(target.rel, f"{target.rel} already has this content; unchanged", "", False)
    created = not target.abs.exists()
    diff = short_diff(target.rel, before, content)
    data = _encode(content, encoding, target.rel)
    _confirm(confirm, target.rel, diff)
    atomic_write_bytes(target.abs, data, mode=0o644 if created else None)
    verb = "created" if created else "wrote"
    lines = content.count("\n") + (0 if content.endswith("\n") or not content else 1)
    return EditResult(target.rel, f"{verb} {target.rel} ({lines} lines)", diff, True)


def delete_file(repo_root: Path, path: str, *, confirm: Confirm | None = None) -> EditResult:
    """Delete one file (never a directory), once ``confirm``, when given, approves."""
    target = resolve_repo_path(repo_root, path)
    if not target.abs.exists() and not target.abs.is_symlink():
        raise ToolFailure(f"{target.rel} does not exist")
    if target.abs.is_dir():
        raise ToolFailure(f"{target.rel} is a directory; delete_file removes files only")
    before = ""
    with contextlib.suppress(OSError):
        before = decode(target.abs.read_bytes())[0]
    diff = short_diff(target.rel, before, "")
    _confirm(confirm, target.rel, diff)
    os.unlink(target.abs)
    return EditResult(target.rel, f"deleted {target.rel}", diff, True)
