"""Statement shapes for ``pysymbols`` (pure): statements joined by semicolons put on lines of their own (its rules
read a line's start as a statement's), and the names a chained assignment defines.

tree-sitter-python reads ``a; b`` as sibling statements (``_simple_statements``: simple statements separated by
";", https://github.com/tree-sitter/tree-sitter-python/blob/master/grammar.js), so ``x = 1; y = 2`` at the top
of a module defines both names, while ``if c: x = 1; y = 2`` and ``def f(): x; y`` keep theirs inside the compound
statement. A statement after a semicolon therefore starts a line of its own: at the module's level when the line
is a simple statement starting the module's line, indented (inside something) otherwise. A semicolon inside
brackets, or on a line that brackets opened before, is no Python these rules know: ``Unmodelled``.
"""

from __future__ import annotations

import keyword
import re

from v4agent.pack.rank.pybrackets import opened
from v4agent.pack.rank.pycode import Unmodelled

__all__ = ["chained_targets", "split_statements"]

_SEMICOLON = re.compile(r";[ \t]*")
_FIRST_WORD = re.compile(r"[A-Za-z_]\w*", re.ASCII)
# The keywords that start a compound statement, whose body may follow its ":" on the same line.
_COMPOUND = frozenset({"if", "elif", "else", "for", "while", "with", "try", "except", "finally", "def", "class",
                       "async"})
_MAX_SEMICOLONS = 2000  # each costs a count of brackets over its line; beyond: parse
# A module-level statement "TARGETS = NAME = ...": tree-sitter captures NAME too, not always the first targets.
_CHAINED = re.compile(r"\n(?![ \t])[^\n=]+=[ \t]*[A-Za-z_][\w.]*[ \t]*=(?!=)", re.ASCII)
# Of those, "NAME = SECOND = ...", modelled: the parse captures the first two targets where they are names (the
# statement's assignment and the one to its right, not those further right), so SECOND too unless dotted.
_CHAINED_NAMES = re.compile(r"\n([A-Za-z_]\w*)[ \t]*=[ \t]*([A-Za-z_][\w.]*)[ \t]*=(?!=)", re.ASCII)
_KEYWORDS = frozenset(keyword.kwlist)


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
        depth += opened(code, counted, line)
        counted = line
        if depth or opened(code, line, semicolon):
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



def chained_targets(code: str) -> list[tuple[int, str, str]]:
    """``NAME = SECOND = ...`` statements starting a line: (position of the line's start, "define", SECOND) where
    SECOND is a name (a dotted one is captured as a member); raises for other targets so chained, and for such a
    line inside brackets (no Python the rules know)."""
    found = []
    for match in _CHAINED.finditer(code):
        names = _CHAINED_NAMES.match(code, match.start())
        if names is None or not _KEYWORDS.isdisjoint(names.groups()) or opened(code, 0, match.start()):
            raise Unmodelled("chained assignment")
        if "." not in names.group(2):
            found.append((match.start(), "define", names.group(2)))
    return found
