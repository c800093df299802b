"""Secret values replaced in place: in a text, or as byte-range edits a skeleton applies along with its own.

Overlapping findings on a line merge into one placeholder (the first one's kind), the same either way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from v4agent.secrets.scan import SecretFinding

__all__ = ["REDACTED_PREFIX", "placeholders_in", "redact_secrets", "redacted_view", "redaction_edits",
           "restore_values"]

REDACTED_PREFIX = "«REDACTED:"

_Span = tuple[int, int, str]  # characters [start, end) of one line, and the placeholder replacing them
_PLACEHOLDER = re.compile(r"«REDACTED:[a-z0-9-]+»")


def redact_secrets(text: str, findings: Sequence[SecretFinding]) -> str:
    """Replace each finding's characters with ``«REDACTED:<kind>»``; overlapping findings merge into one."""
    if not findings:
        return text
    lines = text.split("\n")
    for index, spans in _spans_by_line(lines, findings).items():
        line = lines[index]
        pieces: list[str] = []
        cursor = 0
        for start, end, placeholder in spans:
            pieces += (line[cursor:start], placeholder)
            cursor = end
        pieces.append(line[cursor:])
        lines[index] = "".join(pieces)
    return "\n".join(lines)


def redacted_view(text: str, findings: Sequence[SecretFinding]) -> tuple[str, list[str]]:
    """What a tool shows of ``text`` (``redact_secrets``), and the values its placeholders stand for, in order."""
    lines = text.split("\n")
    spans_by_line = _spans_by_line(lines, findings)
    values: list[str] = []
    for index, line in enumerate(lines):
        spans = spans_by_line.get(index, [])
        # Text that already reads like a placeholder (a test of this very tool) stands for itself.
        literal = [(m.start(), m.end()) for m in _PLACEHOLDER.finditer(line)
                   if not any(start < m.end() and m.start() < end for start, end, _ in spans)]
        values += [line[a:b] for a, b in sorted([(start, end) for start, end, _ in spans] + literal)]
    return redact_secrets(text, findings), values


def placeholders_in(text: str) -> list[str]:
    """The redaction placeholders in ``text``, in order."""
    return _PLACEHOLDER.findall(text)


def restore_values(view: str, values: Sequence[str]) -> str | None:
    """``view`` with its placeholders put back to ``values`` in order; None unless they pair one for one."""
    if len(placeholders_in(view)) != len(values):
        return None
    remaining = iter(values)
    return _PLACEHOLDER.sub(lambda _: next(remaining), view)


def redaction_edits(text: str, findings: Sequence[SecretFinding]) -> list[tuple[int, int, bytes]]:
    """The same replacements as byte-range edits of ``text`` encoded as a parse sees it (UTF-8, surrogatepass):
    ``(start, end, placeholder)``, in order."""
    lines = text.split("\n")
    spans = _spans_by_line(lines, findings)
    edits: list[tuple[int, int, bytes]] = []
    offset = 0  # the byte offset of the current line's start
    for index, line in enumerate(lines):
        for start, end, placeholder in spans.get(index, ()):
            head = len(line[:start].encode("utf-8", "surrogatepass"))
            size = len(line[start:end].encode("utf-8", "surrogatepass"))
            edits.append((offset + head, offset + head + size, placeholder.encode("utf-8")))
        offset += len(line.encode("utf-8", "surrogatepass")) + 1
    return edits


def _spans_by_line(lines: list[str], findings: Sequence[SecretFinding]) -> dict[int, list[_Span]]:
    by_line: dict[int, list[SecretFinding]] = {}
    for finding in findings:
        by_line.setdefault(finding.line - 1, []).append(finding)
    out: dict[int, list[_Span]] = {}
    for index, items in by_line.items():
        if not 0 <= index < len(lines):
            continue
        size = len(lines[index])
        spans: list[tuple[int, int, str]] = []
        for item in sorted(items, key=lambda f: (f.start, -f.end)):
            start, end = max(0, item.start), min(size, item.end)
            if end <= start:
                continue
            if spans and start < spans[-1][1]:
                first, last, kind = spans[-1]
                spans[-1] = (first, max(last, end), kind)
            else:
                spans.append((start, end, item.kind))
        if spans:
            out[index] = [(start, end, f"{REDACTED_PREFIX}{kind}»") for start, end, kind in spans]
    return out
