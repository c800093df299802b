"""The names tree-sitter's ``(type (identifier) @ref)`` pattern captures in one Python annotation (pure).

Found without a parse, for ``pysymbols``, following the grammar's reading of a ``type``:
- a bare name is captured; a string, a number or ``None`` captures nothing of its own;
- ``Name[arg, ...]`` is a ``generic_type``: its own name is no ``type``'s child (not captured), each argument is
  a ``type`` again (``...`` and a list argument, ``Callable[[A, B], C]``, capture nothing);
- ``a.B`` and ``a.B[...]`` are plain expressions (attribute, subscript): nothing inside is a ``type``;
- a parenthesized expression or tuple, ``(A | B)``, ``()``, is an expression too: nothing inside is a ``type``;
- a comma list may end in a comma (``tuple[A, B,]``), and a list may be empty (``Callable[[], R]``);
- ``X | Y`` is a ``union_type`` of X and the type Y when X is a generic (``list[A] | B``: A and B;
  ``list[A] | B | C``: A only, ``B | C`` being one type), and otherwise a ``binary_operator`` of expressions,
  capturing nothing (``A | B[C]``).
Anything else (calls, operators, keywords, a space before a generic's bracket, ...) raises ``Unmodelled``:
the caller parses the file instead. The test suite holds this to the parse on real files.
"""

from __future__ import annotations

import functools
import keyword
import re
from collections.abc import Callable

from v4agent.pack.rank.pycode import Unmodelled

__all__ = ["annotation_names", "balanced_annotation", "balanced_line_annotation"]

# Annotations come from code already checked to be ASCII, where "\w" is [A-Za-z0-9_]: spelled so, it is read
# faster (no Unicode tables).
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+|\.\.\.|\S")  # on code with its strings blanked to " 0 "
_SPACED_GENERIC = re.compile(r"[A-Za-z0-9_][ \t\n]+\[")
_ODD_KEYWORDS = frozenset(keyword.kwlist) - {"None", "True", "False"}
_STOPS = re.compile(r"[\[\](){},=]")
_LINE_STOPS = re.compile(r"[\[\](){}\n=]")


@functools.lru_cache(maxsize=4096)  # the same few annotations recur in file after file (str, int, None, ...)
def annotation_names(text: str) -> frozenset[str]:
    """The names captured in the annotation ``text`` (code only: strings blanked)."""
    tokens = _TOKEN.findall(text)
    if len(tokens) == 1:  # the common case: a bare name or a string
        if not (_is_name(tokens[0]) or tokens[0].isdigit()):
            raise Unmodelled("an annotation other than a bare name")
        return frozenset(tokens[:1]) if _is_name(tokens[0]) else frozenset()
    if _SPACED_GENERIC.search(text):
        raise Unmodelled("a space before a generic's brackets")
    names: set[str] = set()
    if _type(tokens, 0, names, nested=False) != len(tokens):
        raise Unmodelled("an annotation with more than one type")
    return frozenset(names)


def balanced_annotation(code: str, start: int, text: str) -> str:
    """A parameter's annotation from ``start``: ``text`` (what a simple scan to ``,``, ``)`` or ``=`` found),
    or, when that opened a bracket, the text up to the stop after its close."""
    if "[" not in text and "(" not in text:
        return text
    return _balanced(code, start, _STOPS, ",=")


def balanced_line_annotation(code: str, start: int, text: str) -> str:
    """A variable's annotation from ``start``: ``text`` (what a simple scan to the line's end or ``=`` found), or,
    when that opened a bracket, the text up to the line's end or ``=`` after its close (a bracket goes on across
    lines)."""
    if "[" not in text and "(" not in text:
        return text
    return _balanced(code, start, _LINE_STOPS, "\n=")


def _balanced(code: str, start: int, stops: re.Pattern[str], ends: str) -> str:
    """The text from ``start`` to the first of ``ends`` outside brackets, or to a ")" closing none (a parameter
    list's); a text that cannot be read ends in the bracket that makes it so (``Unmodelled`` when used)."""
    depth = 0
    for match in stops.finditer(code, start):
        char = match.group()
        if char in "[(":
            depth += 1
        elif char in "])":
            if depth == 0:  # a ")" ends the parameter list; else unbalanced
                return code[start:match.start() if char == ")" and "," in ends else match.end()]
            depth -= 1
        elif char in "{}":  # a bracket these rules do not read (nor would its kind be checked)
            return code[start:match.end()]
        elif depth == 0:  # (in a line, "==" is no assignment: the text ends in it, Unmodelled when used)
            double = char == "=" and "\n" in ends and code.startswith("==", match.start())
            return code[start:match.end() if double else match.start()]
    return code[start:]


def _is_name(token: str) -> bool:
    return bool(token) and (token[0].isalpha() or token[0] == "_") and token not in _ODD_KEYWORDS


def _at(tokens: list[str], at: int) -> str:
    return tokens[at] if at < len(tokens) else ""


def _type(tokens: list[str], at: int, names: set[str], *, nested: bool) -> int:
    """Read one ``type`` (a union of operands, or one) at ``at``, adding the names it captures; returns its end."""
    own: set[str] = set()
    at, generic = _operand(tokens, at, own, nested=nested)
    if _at(tokens, at) != "|":
        names |= own
        return at
    if not generic:  # a binary operator of expressions: nothing in it is a type
        while _at(tokens, at) == "|":
            at = _expression_operand(tokens, at + 1)
        return at
    names |= own
    # A union of types: the rest is read as a type again (``list[A] | B | None`` is A, then ``B | None`` as one
    # type: a binary operator, capturing nothing).
    return _type(tokens, at + 1, names, nested=nested)


def _operand(tokens: list[str], at: int, names: set[str], *, nested: bool) -> tuple[int, bool]:
    """One operand of a type at ``at``: (its end, whether it is a generic)."""
    token, follows = _at(tokens, at), _at(tokens, at + 1)
    if _is_name(token):
        if follows == "[":
            if token in ("None", "True", "False"):
                raise Unmodelled("a keyword subscripted")
            at = _arguments(tokens, at + 2, names)
            if _at(tokens, at) in ("[", "."):
                raise Unmodelled("a generic subscripted again")
            return at, True
        if follows == ".":
            return _expression_operand(tokens, at), False
        names.add(token)
        return at + 1, False
    if token.isdigit() or (nested and token == "..."):
        return at + 1, False
    if nested and token == "[":  # a list argument: expressions
        return _list(tokens, at + 1), False
    if token == "(":  # a parenthesized expression or a tuple: expressions
        return _expression_operand(tokens, at), False
    raise Unmodelled("an annotation these rules do not read")


def _arguments(tokens: list[str], at: int, names: set[str]) -> int:
    """A generic's arguments from ``at`` (after its ``[``) to past its ``]``: each a type."""
    return _listed(tokens, at, lambda start: _type(tokens, start, names, nested=True), "an odd generic argument")


def _listed(tokens: list[str], at: int, item: Callable[[int], int], odd: str, close: str = "]") -> int:
    """Items (``item`` reads one from a position, returning its end) separated by commas, the last perhaps followed
    by one, from ``at`` to past the ``close`` ending them; ``odd``: the reason when something else separates them."""
    while True:
        at = item(at)
        separator = _at(tokens, at)
        if separator == close:
            return at + 1
        if separator != ",":
            raise Unmodelled(odd)
        at += 1
        if _at(tokens, at) == close:
            return at + 1


def _expression_operand(tokens: list[str], at: int) -> int:
    """A name, number, string or ``...`` with any ``.name`` and ``[...]`` after it, or a list; returns its end."""
    token = _at(tokens, at)
    if token == "[":
        return _list(tokens, at + 1)
    if token == "(":
        at = _parenthesized(tokens, at + 1)
    elif _is_name(token) or token.isdigit() or token == "...":
        at += 1
    else:
        raise Unmodelled("an odd expression in an annotation")
    while (trailer := _at(tokens, at)) in (".", "["):
        if trailer == ".":
            if not _is_name(_at(tokens, at + 1)):
                raise Unmodelled("an odd member in an annotation")
            at += 2
        else:
            at = _expressions(tokens, at + 1)
    return at


def _expressions(tokens: list[str], at: int, close: str = "]") -> int:
    """Expressions (operands joined by ``|``) separated by commas from ``at`` to past the ``close`` ending them."""
    return _listed(tokens, at, lambda start: _union_of_operands(tokens, start), "an odd expression list in an annotation",
                   close)


def _list(tokens: list[str], at: int) -> int:
    """A list's expressions from ``at`` (after its ``[``), perhaps none, to past its ``]``."""
    return at + 1 if _at(tokens, at) == "]" else _expressions(tokens, at)


def _parenthesized(tokens: list[str], at: int) -> int:
    """A parenthesized expression's or a tuple's expressions from ``at`` (after its ``(``), perhaps none, to past
    its ``)``."""
    return at + 1 if _at(tokens, at) == ")" else _expressions(tokens, at, ")")


def _union_of_operands(tokens: list[str], at: int) -> int:
    at = _expression_operand(tokens, at)
    while _at(tokens, at) == "|":
        at = _expression_operand(tokens, at + 1)
    return at
