"""Fake GitHub's own reading of a unified diff: each file's rows by diff position, its hunks, and the diff's size.

It is deliberately independent of ``v4agent.review.hunks`` (it reads the ``@@`` headers and the line
prefixes itself), so the client and the fake do not share a bug. A row's *position* is GitHub's: "the
number of lines down from the first "@@" hunk header in the file [...] The line just below the "@@" line is
position 1, the next line is position 2, and so on. The position in the diff continues to increase through
lines of whitespace and additional hunks until the beginning of a new file" (the ``position`` parameter of
docs.github.com/rest/pulls/comments#create-a-review-comment-for-a-pull-request): a later hunk's ``@@`` line
takes a position too, and no comment can sit on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HUNK_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")

# The diff GitHub renders through the diff media type: at most 300 files and 20,000 lines in all, and 1 MB
# of raw diff (docs.github.com/repositories/creating-and-managing-repositories/repository-limits).
MAX_DIFF_FILES = 300
MAX_DIFF_LINES = 20_000
MAX_DIFF_BYTES = 1_000_000


@dataclass(frozen=True)
class Row:
    """One line of a file's diff below its first ``@@``: its position, hunk and line number on each side."""

    position: int  # 0 for the file's first ``@@`` line
    hunk: int
    left: int | None  # old-file line number (removed or context); None for an added line or a header
    right: int | None  # new-file line number (added or context); None for a removed line or a header
    text: str


@dataclass
class FileDiff:
    """One file of the diff as GitHub lists it: names, status, rows and counts."""

    path: str
    old_path: str | None
    status: str  # added, removed, modified, renamed (the values of a diff-entry's ``status``)
    rows: list[Row] = field(default_factory=list)
    header: list[str] = field(default_factory=list)  # the ``diff --git`` lines above the first ``@@``
    additions: int = 0
    deletions: int = 0

    def row(self, side: str, line: int) -> Row | None:
        """The row showing ``line`` of ``side`` (LEFT: old file, RIGHT: new file), or None."""
        for row in self.rows:
            if (row.left if side == "LEFT" else row.right) == line:
                return row
        return None

    def at_position(self, position: int) -> Row | None:
        """The row at diff position ``position`` (the first ``@@`` is row 0, above position 1), or None."""
        return self.rows[position] if 1 <= position < len(self.rows) else None

    def diff_hunk(self, row: Row) -> str:
        """The ``diff_hunk`` GitHub shows with a comment: the hunk's header down to the commented row."""
        start = next(r.position for r in self.rows if r.hunk == row.hunk)
        return "\n".join(r.text for r in self.rows[start: row.position + 1])

    @property
    def patch(self) -> str:
        """The file's hunks, as a diff-entry's ``patch`` carries them."""
        return "\n".join(r.text for r in self.rows)


def _names(line: str, old: str | None, new: str | None) -> tuple[str | None, str | None]:
    if line.startswith("--- "):
        name = line[4:].strip()
        return (None if name == "/dev/null" else name.removeprefix("a/")), new
    if line.startswith("+++ "):
        name = line[4:].strip()
        return old, (None if name == "/dev/null" else name.removeprefix("b/"))
    if line.startswith("rename from "):
        return line[len("rename from "):], new
    if line.startswith("rename to "):
        return old, line[len("rename to "):]
    return old, new


def _finish(files: dict[str, FileDiff], header: list[str], old: str | None, new: str | None,
            rows: list[Row], counts: tuple[int, int]) -> None:
    if not header:
        return
    if old is None and new is None:  # a binary or mode-only change: the names are on the ``diff --git`` line
        m = re.match(r"diff --git a/(.*) b/(.*)$", header[0])
        old = new = m.group(2) if m else header[0]
    status = "added" if old is None else "removed" if new is None else "renamed" if old != new else "modified"
    path = new if new is not None else old
    assert path is not None
    files[path] = FileDiff(path, old if status == "renamed" else None, status, rows, header, *counts)


def parse(diff_text: str) -> dict[str, FileDiff]:
    """path (the new one; the old one for a removed file) -> its FileDiff, in the diff's order."""
    files: dict[str, FileDiff] = {}
    header: list[str] = []
    rows: list[Row] = []
    old: str | None = None
    new: str | None = None
    left = right = hunk = added = removed = 0
    for line in diff_text.splitlines():
        if line.startswith("diff --git "):
            _finish(files, header, old, new, rows, (added, removed))
            header, rows, old, new, hunk, added, removed = [line], [], None, None, 0, 0, 0
        elif (m := _HUNK_RE.match(line)) is not None:
            hunk += 1
            left, right = int(m.group(1)), int(m.group(3))
            rows.append(Row(len(rows), hunk, None, None, line))
        elif not rows:
            header.append(line)
            old, new = _names(line, old, new)
        elif line.startswith("+"):
            rows.append(Row(len(rows), hunk, None, right, line))
            right, added = right + 1, added + 1
        elif line.startswith("-"):
            rows.append(Row(len(rows), hunk, left, None, line))
            left, removed = left + 1, removed + 1
        elif line.startswith("\\"):  # "\ No newline at end of file": part of the patch, no line of either side
            rows.append(Row(len(rows), hunk, None, None, line))
        else:
            rows.append(Row(len(rows), hunk, left, right, line))
            left, right = left + 1, right + 1
    _finish(files, header, old, new, rows, (added, removed))
    return files


def too_large(diff_text: str) -> str | None:
    """GitHub's message when it would refuse to render ``diff_text``, else None.

    The two messages as GitHub sends them are quoted in github.com/reviewdog/reviewdog/issues/1696; for the
    1 MB limit no refusal has been seen quoted, so the fake reuses the lines message for it.
    """
    files = sum(1 for line in diff_text.splitlines() if line.startswith("diff --git "))
    if files > MAX_DIFF_FILES:
        return (f"Sorry, the diff exceeded the maximum number of files ({MAX_DIFF_FILES}). Consider using "
                "'List pull requests files' API or locally cloning the repository instead.")
    if diff_text.count("\n") > MAX_DIFF_LINES or len(diff_text.encode("utf-8")) > MAX_DIFF_BYTES:
        return f"Sorry, the diff exceeded the maximum number of lines ({MAX_DIFF_LINES})"
    return None
