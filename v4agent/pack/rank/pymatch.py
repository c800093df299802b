"""``match`` statements rewritten as code the ``pysymbols`` rules read the same way as the parse (pure).

tree-sitter-python (https://github.com/tree-sitter/tree-sitter-python/blob/master/grammar.js: ``match_statement``,
``case_clause``, ``case_pattern``) reads a match statement's subject and a case's guard as expressions, so the
patterns capture in them what they capture anywhere; a case's pattern is no expression (``Point(x=0)`` is a
``class_pattern``, ``Color.RED`` a ``dotted_name``): nothing in it is captured. So ``match SUBJECT:`` becomes
``while SUBJECT:`` (a keyword of the same length), and ``case PATTERN:`` / ``case PATTERN if GUARD:`` becomes
``else:`` / ``if GUARD:``, the pattern blanked. Each match statement's block must hold only ``case`` clauses at
one indentation; anything else (a subject or pattern the rules cannot bound, a ``case`` line outside a block, a
character no pattern holds) raises ``Unmodelled``.
"""

from __future__ import annotations

import re

from v4agent.pack.rank.pybrackets import opened
from v4agent.pack.rank.pycode import Unmodelled

__all__ = ["match_statements"]

# Where a pattern may end: a bracket (depth), ":" or a newline, or the guard's "if".
_PATTERN_STOP = re.compile(r"[()\[\]{}:\n]|(?<![\w.])if(?!\w)", re.ASCII)
_PATTERN_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_ \t\n.|,()[]{}:*=-+")


def match_statements(code: str, matches: list[int], cases: list[int]) -> str:
    """``code`` with its match statements rewritten: ``matches`` and ``cases`` are where the words "match" and
    "case" start lines ending in ":" (each the line's first word)."""
    edits: list[tuple[int, int, str]] = []  # start, end, replacement
    consumed: set[int] = set()
    for start in matches:
        line = code.rfind("\n", 0, start) + 1
        end = code.find("\n", start)
        subject = code[start + len("match"):end].rstrip(" \t")[:-1]
        if opened(code, 0, line) or opened(code, start, end) or not subject.strip() or ":" in subject:
            raise Unmodelled("an odd match statement")
        edits.append((start, start + len("match"), "while"))
        for case in _case_lines(code, end, start - line):
            edits.append(_case_edit(code, case))
            consumed.add(case)
    if any(case not in consumed for case in cases):
        raise Unmodelled("a case outside a match statement")
    edits.sort()
    parts = []
    at = 0
    for start, end, replacement in edits:
        parts.append(code[at:start])
        parts.append(replacement)
        at = end
    parts.append(code[at:])
    return "".join(parts)


def _case_lines(code: str, end: int, indent: int) -> list[int]:
    """Where the ``case`` clauses of the block after the match line ending at ``end`` (indented ``indent``) start;
    raises unless the block's lines at its own indentation are all ``case`` clauses."""
    found: list[int] = []
    block_indent = -1
    depth = 0
    at = end + 1
    while at < len(code):
        next_end = code.find("\n", at)
        if next_end < 0:
            next_end = len(code)
        if depth == 0:
            text = code[at:next_end]
            width = len(text) - len(text.lstrip(" \t"))
            if width < len(text):  # not blank
                if width <= indent:
                    break
                if block_indent < 0:
                    block_indent = width
                if width == block_indent:
                    if not code.startswith(("case ", "case\t"), at + width):
                        raise Unmodelled("a match block holding more than cases")
                    found.append(at + width)
                elif width < block_indent:
                    raise Unmodelled("an odd indentation in a match block")
        depth += opened(code, at, next_end)
        at = next_end + 1
    if not found:
        raise Unmodelled("a match statement without cases")
    return found


def _case_edit(code: str, case: int) -> tuple[int, int, str]:
    """The edit blanking the ``case`` at ``case`` and its pattern: ``else`` before its ":", or blanks before its
    guard's ``if``."""
    depth = 0
    for stop in _PATTERN_STOP.finditer(code, case + len("case")):
        char = stop.group()
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth < 0:
                break
        elif depth == 0 and char != "\n" and not code.startswith(":=", stop.start()):
            pattern = code[case + len("case"):stop.start()]
            if not pattern.strip() or not _PATTERN_CHARACTERS.issuperset(pattern) or "==" in pattern:
                break
            width = stop.start() - case
            return case, stop.start(), ("else" if char == ":" else "    ") + " " * (width - 4)
        elif depth == 0 or char == "if":  # a line's end, ":=", or an "if" inside brackets
            break
    raise Unmodelled("an odd case pattern")

