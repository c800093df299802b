"""A file name shown on one line: control characters escaped, so a name cannot forge lines or move the cursor.

One rule for every place a path is printed (the pack's tree and tags, tool results, diff headers): C0 controls
(newline, CR, ESC, ...), DEL and C1 controls become ``\\xNN``; the Unicode line and paragraph separators, which
``str.splitlines`` and some renderers treat as line breaks, become ``\\uNNNN``; and bytes that were not UTF-8
(decoded with ``surrogateescape``) become the ``\\xNN`` of the byte. Every other character is kept as it is,
non-ASCII letters included.
"""

from __future__ import annotations

import re

__all__ = ["display_path"]

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\udc80-\udcff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape's stand-in for the undecodable byte code - 0xDC00
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def display_path(path: str) -> str:
    """``path`` on one line: control characters, line separators and undecodable bytes escaped."""
    return _UNSAFE.sub(_escape, path)
