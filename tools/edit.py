"""edit_file, write_file and delete_file: atomic writes that keep encoding, line endings and file mode.

Each opens the file's directory once (``safeopen``: no link followed at any component) and reads, writes and
removes through that fd: the temp file of the atomic write is created and renamed inside it.
"""

from __future__ import annotations

import difflib
import errno
import stat
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from v4agent.core.errors import V4AgentError
from v4agent.secrets.redact import REDACTED_PREFIX, placeholders_in, redacted_view, restore_values
from v4agent.secrets.results import redact_file
from v4agent.secrets.scan import scan_secrets
from v4agent.tools.editmatch import EditOutcome, apply_edit
from v4agent.tools.paths import RepoPath, parent_dir, read_entry, resolve_repo_path
from v4agent.tools.safeopen import opened_root, replace_at, stat_at, unlink_at

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


@dataclass(frozen=True)
class _Current:
    """A file as found before a change: its text, encoding and permission bits."""

    text: str
    encoding: str
    mode: int


def _current(dir_fd: int | None, target: RepoPath, raw: str, *, must_exist: bool) -> _Current | None:
    """The file at ``target`` (read by fd, no link followed, never a hard link), or None when there is none."""
    try:
        found = None if dir_fd is None else read_entry(dir_fd, target, raw, writing=True)
    except IsADirectoryError:
        raise ToolFailure(f"{target.shown} is a directory") from None
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            raise ToolFailure(f"{target.shown} is not a regular file") from None
        raise
    if found is None:
        if must_exist:
            raise ToolFailure(f"{target.shown} does not exist; use write_file to create it")
        return None
    data, info = found
    if b"\x00" in data[:8192]:
        raise ToolFailure(f"{target.shown} looks binary; tools edit text files only")
    text, encoding = decode(data)
    return _Current(text, encoding, stat.S_IMODE(info.st_mode))


def _shown_diff(target: RepoPath, before: str, after: str) -> str:
    """The diff a tool result carries: both sides redacted by the whole file's rules (a key block's middle
    lines carry no marker of their own), the name escaped."""
    return short_diff(target.shown, redact_file(target.rel, before)[0], redact_file(target.rel, after)[0])


# The model sees files with secret values replaced by «REDACTED:kind» placeholders (read_file, grep, diffs). An
# edit that copies them is made on that same view and the values are put back, so the model can work around a
# secret without ever seeing it, and no placeholder is ever written over one.
_KEEP_PLACEHOLDERS = ("keep each «REDACTED:…» placeholder exactly as it was shown, in the same order: each stands "
                      "for a secret value that stays as it is (a secret itself is changed by the user, not by a tool)")


def _edit_around_secrets(before: str, old_text: str, new_text: str, replace_all: bool,
                         target: RepoPath) -> EditOutcome:
    rel = target.shown
    if placeholders_in(old_text) != placeholders_in(new_text):
        raise ToolFailure(f"{rel}: new_text must {_KEEP_PLACEHOLDERS}")
    view, values = redacted_view(before, scan_secrets(before, target.rel))
    outcome = apply_edit(view, old_text, new_text, replace_all=replace_all)
    if not outcome.ok:
        return outcome
    restored = restore_values(outcome.content, values)
    if restored is None:
        raise ToolFailure(f"{rel}: the edit would move or drop a redacted secret; {_KEEP_PLACEHOLDERS}")
    return replace(outcome, content=restored)


def _restore_secrets(before: str, content: str, target: RepoPath) -> str:
    rel = target.shown
    view, values = redacted_view(before, scan_secrets(before, target.rel))
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
    target = resolve_repo_path(repo_root, path, writing=True)
    with opened_root(target.root) as root_fd, parent_dir(root_fd, target, path) as dir_fd:
        current = _current(dir_fd, target, path, must_exist=True)
        assert dir_fd is not None
        assert current is not None
        before = current.text
        if REDACTED_PREFIX in old_text or REDACTED_PREFIX in new_text:
            outcome = _edit_around_secrets(before, old_text, new_text, replace_all, target)
        else:
            outcome = apply_edit(before, old_text, new_text, replace_all=replace_all)
        if not outcome.ok:
            raise ToolFailure(f"{target.shown}: {outcome.message}")
        if outcome.content == before:
            return EditResult(target.rel, f"{target.shown}: {outcome.message}; the file is unchanged", "", False)
        data = _encode(outcome.content, current.encoding, target.shown)
        _confirm(confirm, target.shown, short_diff(target.shown, before, outcome.content))
        replace_at(dir_fd, target.name, data, current.mode)
    where = ", ".join(str(n) for n in outcome.lines)
    message = f"edited {target.shown} at line {where} ({outcome.tier} match)"
    return EditResult(target.rel, message, _shown_diff(target, before, outcome.content), True)


def write_file(repo_root: Path, path: str, content: str, *, confirm: Confirm | None = None) -> EditResult:
    """Create or overwrite a file with ``content``, keeping an existing file's encoding and line endings."""
    target = resolve_repo_path(repo_root, path, writing=True)
    with opened_root(target.root) as root_fd, parent_dir(root_fd, target, path) as dir_fd:
        current = _current(dir_fd, target, path, must_exist=False)
        before, encoding = (current.text, current.encoding) if current else ("", "utf-8")
        # Keep the file's line endings: the model writes LF.
        if "\r\n" in before and before.count("\r\n") == before.count("\n") and "\r\n" not in content:
            content = content.replace("\n", "\r\n")
        if placeholders_in(content):
            content = _restore_secrets(before, content, target)
        if current is not None and before == content:
            return EditResult(target.rel, f"{target.shown} already has this content; unchanged", "", False)
        data = _encode(content, encoding, target.shown)
        _confirm(confirm, target.shown, short_diff(target.shown, before, content))
        if dir_fd is not None:
            replace_at(dir_fd, target.name, data, current.mode if current else 0o644)
        else:
            with parent_dir(root_fd, target, path, create=True) as made:
                assert made is not None  # create: made or raised
                replace_at(made, target.name, data, 0o644)
    verb = "wrote" if current else "created"
    lines = content.count("\n") + (0 if content.endswith("\n") or not content else 1)
    return EditResult(target.rel, f"{verb} {target.shown} ({lines} lines)", _shown_diff(target, before, content), True)


def delete_file(repo_root: Path, path: str, *, confirm: Confirm | None = None) -> EditResult:
    """Delete one file (never a directory, never a link), once ``confirm``, when given, approves."""
    target = resolve_repo_path(repo_root, path, writing=True)
    with opened_root(target.root) as root_fd, parent_dir(root_fd, target, path) as dir_fd:
        info = None if dir_fd is None else stat_at(dir_fd, target.name)
        if dir_fd is None or info is None:
            raise ToolFailure(f"{target.shown} does not exist")
        if stat.S_ISDIR(info.st_mode):
            raise ToolFailure(f"{target.shown} is a directory; delete_file removes files only")
        before = ""
        try:
            found = read_entry(dir_fd, target, path, writing=True)
            before = decode(found[0])[0] if found else ""
        except OSError as exc:
            if exc.errno != errno.EINVAL:  # a FIFO or a socket: nothing to show, still removable
                raise
        _confirm(confirm, target.shown, short_diff(target.shown, before, ""))
        unlink_at(dir_fd, target.name)
    return EditResult(target.rel, f"deleted {target.shown}", _shown_diff(target, before, ""), True)
