"""Private-key bodies in text of unknown origin (command output, diff hunks), found without their markers.

The scanner redacts a key block from its ``BEGIN ... PRIVATE KEY`` line on. Output that carries only some of a
key's lines (``sed -n 2,9p id_rsa``, ``tail -3 key``, ``grep -v -- ----- key``, a diff hunk from the middle of a
key file) has no such line, so these are redacted as well:

- a run of 3 or more consecutive *key lines* (the line's one long token is 40+ characters of the base64
  alphabet, with upper and lower case letters and digits, and at most a short prefix such as ``file:12:`` or a
  diff marker around it), and the body's short last line right after it when the run's lines are all full;
- the lines right before an ``END ... PRIVATE KEY`` footer: the last, of any length, and the key lines above.

A run that follows a ``BEGIN`` line of something public (a certificate, a public key), its armor headers and
blank lines skipped, is left alone. MIME parts and other base64 data of 3+ lines are redacted too: in text
whose origin is unknown, that is the price of not leaking a key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["key_line_spans"]

_LONG = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")
# A line that is nothing but one base64 token (any length from 4), after at most a grep prefix (``file:12:``,
# ``file-12-``), a diff marker or an opening quote, and before at most closing quotes or a literal ``\n``.
_BARE = re.compile(r"(?:[^\s:]+[:-](?:\d+[:-])?)?[ +-]?\s*[\"']?(?P<t>[A-Za-z0-9+/]{4,}={0,2})(?:\\n)?[\"',;]*\s*")
_MAX_AROUND = 24  # characters around the token: a grep prefix, a diff marker, quotes; code has more
_RUN = 3
_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")
_END_PRIVATE = re.compile(r"-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_ARMOR_HEADER = re.compile(r"^[\w-]+: ")  # Proc-Type:, DEK-Info:, Version:, Comment:
_LOOK_BACK = 6


def _bare(line: str) -> tuple[int, int] | None:
    """The span of the line's token when the line is one bare base64 token (a key body's short last line)."""
    match = _BARE.fullmatch(line)
    return match.span("t") if match else None


def _key_line(line: str) -> tuple[int, int] | None:
    """The span of the line's long base64 token with mixed characters, when little else is on the line."""
    best = max(_LONG.finditer(line), key=lambda m: m.end() - m.start(), default=None)
    if best is None or len(line.strip()) - (best.end() - best.start()) > _MAX_AROUND:
        return None
    span = best.span()
    token = best.group()
    mixed = any(c.isupper() for c in token) and any(c.islower() for c in token) and any(c.isdigit() for c in token)
    return span if mixed else None


def _public_armor(lines: list[str], first: int) -> bool:
    """Whether the run starting at ``first`` is the body of a BEGIN block that holds no private key."""
    for index in range(first - 1, max(-1, first - 1 - _LOOK_BACK), -1):
        line = lines[index].strip()
        begin = _BEGIN.search(line)
        if begin is not None:
            return "PRIVATE" not in begin.group(1)
        if line and not _ARMOR_HEADER.match(line):
            return False
    return False


def _runs(lines: list[str]) -> Iterator[tuple[int, tuple[int, int]]]:
    index = 0
    while index < len(lines):
        run: list[tuple[int, tuple[int, int]]] = []
        while index < len(lines) and (span := _key_line(lines[index])) is not None:
            run.append((index, span))
            index += 1
        if len(run) >= _RUN and not _public_armor(lines, run[0][0]):
            yield from run
            first, last = run[0][1], run[-1][1]
            full = last[1] - last[0] == first[1] - first[0]  # a shorter line already ended the body
            tail = _bare(lines[index]) if full and index < len(lines) else None
            if tail is not None:  # the body's last, shorter line
                yield index, tail
        index += 1 if not run else 0


def _before_footers(lines: list[str]) -> Iterator[tuple[int, tuple[int, int]]]:
    for index, line in enumerate(lines):
        if _END_PRIVATE.search(line) is None:
            continue
        # The body's last line may be short; every line above it is a full one.
        back = index - 1
        span = _bare(lines[back]) if back >= 0 else None
        while back >= 0 and span is not None:
            yield back, span
            back -= 1
            span = _key_line(lines[back]) if back >= 0 else None


def key_line_spans(text: str) -> list[tuple[int, int, int]]:
    """``(1-based line, start, end)`` of each key-body token found without its block's BEGIN line."""
    lines = text.split("\n")
    found = {(index + 1, *span) for index, span in (*_runs(lines), *_before_footers(lines))}
    return sorted(found)
