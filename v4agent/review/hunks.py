"""Which lines of a pull request's diff GitHub accepts review comments on.

GitHub anchors a review comment at (path, side, line): ``RIGHT`` lines are the new file's lines shown in a
hunk (added or context), ``LEFT`` lines the old file's (removed or context). A multi-line comment must start
and end inside one hunk, on one side. Everything here is pure: the diff text comes in, facts come out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from unidiff import PatchSet, UnidiffParseError  # type: ignore[attr-defined]

from v4agent.core.errors import ExitCode, V4AgentError

Side = Literal["LEFT", "RIGHT"]
SIDES: tuple[Side, ...] = ("LEFT", "RIGHT")


class DiffError(V4AgentError, ValueError, exit_code=ExitCode.USAGE):
    """The diff text cannot be parsed."""


@dataclass(frozen=True)
class Hunk:
    """One hunk's line spans; ``*_end`` is inclusive (``start - 1`` for an empty side)."""

    index: int
    source_start: int
    source_end: int
    target_start: int
    target_end: int
    added: frozenset[int]  # new-file line numbers added by this hunk
    removed: frozenset[int]  # old-file line numbers removed by this hunk

    def contains(self, side: Side, line: int) -> bool:
        """True when ``line`` of ``side`` lies within this hunk's span on that side."""
        if side == "RIGHT":
            return self.target_start <= line <= self.target_end
        return self.source_start <= line <= self.source_end


@dataclass(frozen=True)
class FileDiff:
    """One file's part of the diff: its paths, status, hunks and line counts."""

    path: str  # the new path (the old one for a deleted file)
    old_path: str | None  # the old path when renamed, else None
    status: Literal["added", "modified", "deleted", "renamed"]
    binary: bool
    hunks: tuple[Hunk, ...]
    added_lines: int
    removed_lines: int

    def hunk_at(self, side: Side, line: int) -> Hunk | None:
        """The hunk whose span on ``side`` holds ``line``, or None when no hunk shows it."""
        for hunk in self.hunks:
            if hunk.contains(side, line):
                return hunk
        return None


@dataclass(frozen=True)
class DiffMap:
    """The parsed diff, keyed by path (new path; renamed files are also found by their old path)."""

    files: tuple[FileDiff, ...]

    def __iter__(self) -> Iterator[FileDiff]:
        return iter(self.files)

    @property
    def paths(self) -> tuple[str, ...]:
        """Every file's path, in the diff's order."""
        return tuple(f.path for f in self.files)

    def file(self, path: str) -> FileDiff | None:
        """The file at ``path`` (new path first, then a renamed file's old one), or None."""
        for diff in self.files:
            if diff.path == path:
                return diff
        for diff in self.files:
            if diff.old_path == path:
                return diff
        return None

    def commentable(self, path: str, side: str, line: int) -> bool:
        """True when GitHub accepts a single-line comment at (path, side, line)."""
        return self.placement(path, side, line, line) is not None

    def placement(self, path: str, side: str, start: int, end: int) -> Hunk | None:
        """The hunk holding the whole range ``start..end`` on ``side`` of ``path``, or None.

        None means GitHub would reject the comment (422): unknown path or side, a line outside every hunk,
        or a range that spans two hunks.
        """
        if side not in SIDES or start < 1 or end < start:
            return None
        diff = self.file(path)
        if diff is None or diff.binary:
            return None
        side_: Side = "LEFT" if side == "LEFT" else "RIGHT"
        hunk = diff.hunk_at(side_, end)
        if hunk is None or not hunk.contains(side_, start):
            return None
        return hunk


def _strip_prefix(name: str | None) -> str | None:
    if name is None or name == "/dev/null":
        return None
    return name[2:] if name[:2] in ("a/", "b/") else name


def parse_diff(text: str) -> DiffMap:
    """Parse a unified git diff (``git diff`` or GitHub's ``application/vnd.github.diff``)."""
    try:
        patch = PatchSet(text)
    except UnidiffParseError as exc:
        raise DiffError(f"cannot parse the diff: {exc}") from None
    files: list[FileDiff] = []
    for patched in patch:
        source = _strip_prefix(patched.source_file)
        target = _strip_prefix(patched.target_file)
        if patched.is_added_file:
            status: Literal["added", "modified", "deleted", "renamed"] = "added"
        elif patched.is_removed_file:
            status = "deleted"
        elif patched.is_rename or (source is not None and target is not None and source != target):
            status = "renamed"
        else:
            status = "modified"
        path = target if target is not None else (source or patched.path)
        hunks = []
        for index, hunk in enumerate(patched):
            added = frozenset(x.target_line_no for x in hunk if x.is_added and x.target_line_no is not None)
            removed = frozenset(x.source_line_no for x in hunk if x.is_removed and x.source_line_no is not None)
            hunks.append(Hunk(
                index=index,
                source_start=hunk.source_start,
                source_end=hunk.source_start + hunk.source_length - 1,
                target_start=hunk.target_start,
                target_end=hunk.target_start + hunk.target_length - 1,
                added=added,
                removed=removed,
            ))
        files.append(FileDiff(
            path=path,
            old_path=source if status == "renamed" else None,
            status=status,
            binary=bool(patched.is_binary_file),
            hunks=tuple(hunks),
            added_lines=int(patched.added),
            removed_lines=int(patched.removed),
        ))
    return DiffMap(tuple(files))
