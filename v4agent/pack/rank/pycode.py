"""Python source reduced to its code (pure): comments dropped, each string literal replaced by `` 0 ``, each
f-string by its fields' expressions (`` [a, b.c] ``), so that regular expressions over the result see only code.

Used by ``pysymbols``; what it does not model (quotes inside an f-string's braces, an odd string prefix) raises
``Unmodelled``, and the caller parses the file instead.
"""

from __future__ import annotations

import re

__all__ = ["Unmodelled", "code_only"]

# Comments and string literals (any quotes; the prefix letters stay in the text and are looked at separately).
_TOKEN = re.compile(
    r"""\#[^\n]*|'''[^'\\]*+(?:(?:\\.|'(?!''))[^'\\]*+)*+'''|\"\"\"[^"\\]*+(?:(?:\\.|"(?!""))[^"\\]*+)*+\"\"\""""
    r"""|'[^'\\\n]*+(?:\\.[^'\\\n]*+)*+'|"[^"\\\n]*+(?:\\.[^"\\\n]*+)*+\"""",
    re.S,
)
_PREFIX_LETTERS = "rRbBuUfF"
_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class Unmodelled(Exception):
    """The text holds something these rules do not model: parse it instead."""


def code_only(text: str) -> str:
    """``text`` with comments removed, every string replaced by `` 0 `` and every f-string by its expressions. An
    unclosed string is left as it is (its quote stays in the result)."""

    def replace(match: re.Match[str]) -> str:
        start = match.start()
        if text[start] == "#":
            return ""
        if start and text[start - 1] in "fFrR":
            expressions = _f_string(text, start, match.group())
            if expressions is not None:
                return expressions
        return " 0 "

    return _TOKEN.sub(replace, text)


def _f_string(text: str, start: int, token: str) -> str | None:
    """What stands in for the string token at ``start`` when it is an f-string: its expressions, bracketed."""
    k = start
    while k > 0 and start - k < 2 and text[k - 1] in _PREFIX_LETTERS:
        k -= 1
    letters = text[k:start]
    if "f" not in letters and "F" not in letters:
        return None
    if k > 0 and text[k - 1] in _WORD:
        raise Unmodelled("odd string prefix")
    quote = 3 if token[:3] in ("'''", '"""') and len(token) >= 6 else 1
    expressions: list[str] = []
    _interpolations(token[quote:-quote], expressions)
    if any(c in e for e in expressions for c in "'\"#\\"):
        raise Unmodelled("quotes inside an f-string's braces")
    return " [" + ",".join(expressions) + "] " if expressions else " 0 "


def _interpolations(body: str, out: list[str]) -> None:
    """Append the expressions of the ``{...}`` fields in an f-string's body (nested format specs included)."""
    at = 0
    while (at := body.find("{", at)) >= 0:
        if body.startswith("{{", at):  # an escaped brace
            at += 2
            continue
        depth, end = 1, at + 1
        while end < len(body) and depth:
            depth += (body[end] in "{[(") - (body[end] in "}])")
            end += 1
        if depth:
            raise Unmodelled("unbalanced f-string field")
        field = body[at + 1:end - 1]
        cut, depth = len(field), 0
        for i, c in enumerate(field):
            depth += (c in "([{") - (c in ")]}")
            if depth == 0 and (c == ":" or (c == "!" and field[i + 1:i + 2] != "=")):
                cut = i
                break
        expression = field[:cut].rstrip()
        if expression.endswith("=") and not expression.endswith(("==", "!=", "<=", ">=")):
            expression = expression[:-1]  # the self-documenting form, f"{x=}"
        if "lambda" in expression or not expression.strip():
            raise Unmodelled("odd f-string field")
        out.append(expression)
        if "{" in field[cut:]:
            _interpolations(field[cut:], out)
        at = end
