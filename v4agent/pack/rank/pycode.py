"""Python source reduced to its code (pure): comments dropped, each string literal replaced by `` 0 ``, each
f-string by its fields' expressions (`` [a, b.c] ``), so that regular expressions over the result see only code.

Used by ``pysymbols``; what it does not model (a backslash or "#" inside an f-string's braces, the same quotes
nested as Python 3.12 allows, an odd string prefix) raises ``Unmodelled``, and the caller parses the file instead.
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
_TOKENS = re.compile(f"({_TOKEN.pattern})", re.S)  # the same, captured: split keeps them
_PREFIX_LETTERS = "rRbBuUfF"
_F_OR_R = frozenset("fFrR")  # what a string's prefix ends in when it may be an f-string
_BRACE = re.compile(r"[{}]")
_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class Unmodelled(Exception):
    """The text holds something these rules do not model: parse it instead."""


def code_only(text: str) -> str:
    """``text`` with comments removed, every string replaced by `` 0 `` and every f-string by its expressions. An
    unclosed string is left as it is (its quote stays in the result)."""
    parts = _TOKENS.split(text)  # code, token, code, token, ..., code: no call per token (files hold many)
    parts[1::2] = ["" if token[0] == "#" else _f_string(before, token) if before[-1:] in _F_OR_R else " 0 "
                   for before, token in zip(parts[:-1:2], parts[1::2], strict=True)]
    return "".join(parts)


def _f_string(before: str, token: str) -> str:
    """What stands in for the string ``token`` that follows the code ``before``: if an f-string, its
    expressions, bracketed, each reduced to its code in turn (the strings inside a field blanked, nested
    f-strings replaced); else `` 0 ``. (The letters of a prefix never reach back past ``before``: a token before
    it ends in a quote, or its line.)"""
    k = len(before)
    while k > 0 and len(before) - k < 2 and before[k - 1] in _PREFIX_LETTERS:
        k -= 1
    letters = before[k:]
    if "f" not in letters and "F" not in letters:
        return " 0 "
    if k > 0 and before[k - 1] in _WORD:
        raise Unmodelled("odd string prefix")
    quote = 3 if token[:3] in ("'''", '"""') and len(token) >= 6 else 1
    expressions: list[str] = []
    _interpolations(token[quote:-quote], expressions)
    return " [" + ",".join(expressions) + "] " if expressions else " 0 "


def _interpolations(body: str, out: list[str]) -> None:
    """Append the expressions of the ``{...}`` fields in an f-string's body (nested format specs included)."""
    at = 0
    while (brace := _BRACE.search(body, at)) is not None:
        at = brace.start()
        if body.startswith(("{{", "}}"), at):  # an escaped brace
            at += 2
        elif body[at] == "}":
            raise Unmodelled("a lone '}' in an f-string")  # Python rejects it
        else:
            at = _field(body, at, out)


def _field(body: str, at: int, out: list[str]) -> int:
    """Append the expressions of the field opening at ``body[at]`` (a "{"); return the position after its "}"."""
    end = _expression_end(body, at + 1)
    out.append(_field_expression(body[at + 1:end]))
    if body[end] == "!":  # a conversion: !r, !s or !a
        if body[end + 1:end + 2] not in ("r", "s", "a") or body[end + 2:end + 3] not in (":", "}"):
            raise Unmodelled("odd f-string conversion")
        end += 2
    if body[end] == ":":
        end = _format_spec_end(body, end + 1, out)
    return end + 1


def _expression_end(body: str, at: int) -> int:
    """Where the field expression starting at ``at`` ends: at a ":" or "!" (not "!=") outside brackets and
    strings, or at the field's "}". Its own strings are skipped whole (Python 3.8-3.11 and tree-sitter-python
    alike: a quote in them cannot be the f-string's own, which would have ended the token)."""
    end, depth, size = at, 0, len(body)
    while True:
        if end >= size:
            raise Unmodelled("unbalanced f-string field")
        c = body[end]
        if c in "'\"":
            string = _TOKEN.match(body, end)
            if string is None:
                raise Unmodelled("unclosed string in an f-string field")
            end = string.end()
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if not depth:
                if c != "}":
                    raise Unmodelled("unbalanced f-string field")
                return end
            depth -= 1
        elif not depth and (c == ":" or (c == "!" and body[end + 1:end + 2] != "=")):
            return end
        end += 1


def _field_expression(text: str) -> str:
    """A field's expression reduced to its code (its strings blanked, its f-strings replaced in turn)."""
    expression = text.rstrip()
    if any(c in expression for c in "#\\") or "lambda" in expression:
        raise Unmodelled("odd f-string field")  # Python before 3.12 rejects both; a lambda's ":" ends the field
    if expression.endswith("=") and not expression.endswith(("==", "!=", "<=", ">=")):
        expression = expression[:-1]  # the self-documenting form, f"{x=}"
    if not expression.strip():
        raise Unmodelled("odd f-string field")
    return code_only(expression) if "'" in expression or '"' in expression else expression


def _format_spec_end(body: str, at: int, out: list[str]) -> int:
    """The position of the "}" ending the format spec starting at ``at``; appends its nested fields' expressions.
    A spec is literal text but for its fields (tree-sitter-python's ``format_specifier``: ``[^{}\\n]+`` or an
    interpolation; https://github.com/tree-sitter/tree-sitter-python/blob/master/grammar.js)."""
    if body.startswith("=", at):  # ":=" reads as a walrus to a lexer, as a spec "=..." to Python
        raise Unmodelled("odd f-string format spec")
    end, size = at, len(body)
    while True:
        if end >= size or body[end] == "\n" or body.startswith("{{", end):
            raise Unmodelled("odd f-string format spec")
        c = body[end]
        if c == "}":
            return end
        end = _field(body, end, out) if c == "{" else end + 1
