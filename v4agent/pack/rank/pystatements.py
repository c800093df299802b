"""Statements joined by semicolons put on lines of their own (pure), for ``pysymbols``, whose rules read a line's
start as a statement's.

tree-sitter-python reads ``a; b`` as sibling statements (``_simple_statements``: simple statements separated by
";", https://github.com/tree-sitter/tree-sitter-python/blob/master/grammar.js), so ``x = 1; y = 2`` at the top
of a module defines both names, while ``if c: x = 1; y = 2`` and ``def f(): x; y`` keep theirs inside the compound
statement. A statement after a semicolon therefore starts a line of its own: at the module's level when the line
is a simple statement starting the module's line, indented (inside something) otherwise. A semicolon inside
brackets, or on a line that brackets opened before, is no Python these rules know: ``Unmodelled``.
"""

from __future__ import annotations

import re

from v4agent.pack.rank.pycode import Unmodelled

__all__ = ["split_statements"]

_SEMICOLON = re.compile(r";[ \t]*")
_FIRST_WORD = re.compile(r"[A-Za-z_]\w*", re.ASCII)
# The keywords that start a compound statement, whose body may follow its ":" on the same line.
_COMPOUND = frozenset({"if", "elif", "else", "for", "while", "with", "try", "except", "finally", "def", "class",
                       "async"})
_MAX_SEMICOLONS = 2000  # each costs a count of brackets over its line; beyond: parse


def split_statements(code: str) -> str:
    """``code`` (reduced by ``pycode``, between newlines) with each ";" and the blanks after it replaced by a
    newline and the indentation its next statement takes ("" at the module's level, " " inside something)."""
    matches = list(_SEMICOLON.finditer(code))
    if len(matches) > _MAX_SEMICOLONS:
        raise Unmodelled("too many semicolons")
    parts: list[str] = []
    at = 0
    depth, counted = 0, 0  # brackets open at ``counted``
    for match in matches:
        semicolon = match.start()
        line = code.rfind("\n", 0, semicolon) + 1
        depth += _opened(code, counted, line)
        counted = line
        if depth or _opened(code, line, semicolon):
            raise Unmodelled("a semicolon inside brackets")
        if semicolon == at or not code[line:semicolon].strip(" \t"):
            raise Unmodelled("a semicolon after no statement")
        word = _FIRST_WORD.match(code, line)
        top = code[line] not in " \t" and (word is None or word.group() not in _COMPOUND)
        parts.append(code[at:semicolon])
        parts.append("\n" if top else "\n ")
        at = match.end()
    parts.append(code[at:])
    return "".join(parts)


def _opened(code: str, start: int, end: int) -> int:
    """Brackets opened less those closed in ``code[start:end]``."""
    count = code.count
    return (count("(", start, end) + count("[", start, end) + count("{", start, end)
            - count(")", start, end) - count("]", start, end) - count("}", start, end))
