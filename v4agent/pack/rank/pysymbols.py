"""The names tree-sitter's Python symbol patterns capture, found without a parse (pure).

A cold pack far over its budget needs every Python file's definitions and references for the ranking; parsing
them all with tree-sitter and walking the trees was most of the cold pack's CPU time. Here the
same patterns are evaluated by regular expressions over the code with its strings and comments blanked out: the
module-level, one-line shapes of Python that the patterns match (``def NAME``, ``NAME(``, ``.NAME``, ``NAME: T``,
...) are easy to see in text once strings and comments are gone (statements joined by semicolons first put on lines
of their own, ``pystatements``; match statements rewritten as plain code, ``pymatch``). Where a file holds a
construct these rules do not model (a ``type`` alias, a backslash inside an f-string's braces, chained assignments
to a member or a tuple, ...), the answer is None and the caller parses. The test suite holds the two to the same sets, file by file, on every
Python file of the installed packages and on hand-made edge cases.
"""

from __future__ import annotations

import keyword
import re
from collections import Counter
from itertools import repeat

from v4agent.pack.rank.pyannotations import annotation_names, balanced_annotation, balanced_line_annotation
from v4agent.pack.rank.pybrackets import Walker
from v4agent.pack.rank.pycode import Unmodelled, code_only
from v4agent.pack.rank.pyimports import at_line_start, without_imports
from v4agent.pack.rank.pymatch import match_statements
from v4agent.pack.rank.pystatements import chained_targets, split_statements

__all__ = ["python_names"]


def _ascii(pattern: str) -> re.Pattern[str]:
    """The patterns read code already checked to be ASCII: there ``\\w`` in ASCII mode finds the same, faster."""
    return re.compile(pattern, re.ASCII)


_KEYWORDS = frozenset(keyword.kwlist)
_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_WORD_OR_DOT = _WORD | {"."}
_SPACE = " \t\n"

# Every pattern below starts with a literal, so the regex engine skips ahead fast; word boundaries are checked
# on the (few) matches instead. A run of word characters or blanks followed by what cannot continue it is matched
# possessively (``*+``): giving characters back could never make the rest match, and trying costs time.
# An identifier ending in "def" or "class" followed by a name can only be followed by a keyword (``metaclass if``),
# so dropping keywords from what these find leaves exactly the declared names.
# One search each for "def" and "class": the bracket after the name, if any, tells a parameter list or bases ("(")
# from type parameters ("[", not modelled). A name never holds a blank, so no match of "def NAME (" or
# "def NAME [" can start inside another match: these find what separate searches for each shape would.
_DEF = _ascii(r"def[ \t]+([A-Za-z_]\w*)[ \t]*([(\[]?)")
_CLASS = _ascii(r"class[ \t]+([A-Za-z_]\w*)[ \t]*([(\[]?)")
_MODULE_NAME = _ascii(r"\n([A-Za-z_]\w*+)[ \t]*+(?:=(?!=)|:)")
# ".NAME", or "" for a dot ending its line: one search finds both (neither holds a dot, so neither hides the other).
_ATTRIBUTE_OR_LINE_END = _ascii(r"\.[ \t]*(?:([A-Za-z_]\w*)|\n)")
_CALLED_REVERSED = _ascii(r"\([ \t]*(\w+)")  # "NAME (" read backwards
_DECORATOR = _ascii(r"@[ \t]*([A-Za-z_]\w*)[ \t]*(?=\n)")  # starting its line (``at_line_start``)
_EXCEPT = _ascii(r"except[ \t]++([A-Za-z_]\w*+)[ \t]*+:")
_RAISE = _ascii(r"raise[ \t]+([A-Za-z_]\w*)[ \t]*(?=\n|from\b)")
_FROM_NAME_AT_END = _ascii(r"from[ \t]+([A-Za-z_]\w*)[ \t]*(?=\n)")
_ARGUMENT_FIRST = _ascii(r"\([ \t\n]*+([A-Z]\w*+)[ \t\n]*+(?=[,)])")
_ARGUMENT_NEXT = _ascii(r",[ \t\n]*+([A-Z]\w*+)[ \t\n]*+(?=[,)])")
_PAREN_STARTING_LINE_REVERSED = _ascii(r"\([ \t]*\n")  # "\n", blanks, "(" read backwards
# Annotations: bare names, strings and generics of them are modelled (``pyannotations``); tree-sitter reads
# anything else with its own type grammar (unions, members), so such a file is parsed.
_RETURN_TYPE = _ascii(r"->[ \t\n]*([^:]*):")
# "(NAME:" or ", *NAME:" read backwards from the colon; the annotation is then read forwards from the colon.
_PARAMETER_COLON_REVERSED = _ascii(r":(?<!=:)[ \t\n]*\w*[A-Za-z_](?:[ \t]*\*\*?)?[ \t\n]*[(,]")
_PARAMETER_TYPE_TEXT = _ascii(r"([^,)=]*)(?=[,)=])")
# "NAME:" starting a line or following a colon (``if c: x: T = v``), read backwards from the colon (so the engine
# skips ahead to colons): the name's start, then the annotation read forwards from the colon up to "=" or the
# line's end. (Inside brackets such a match is a slice or a dictionary's: skipped for its depth.) The name is the
# whole run of word characters and dots (what follows it must be a blank, "\n" or ":"), so no backtracking is needed
# into it: possessive, with its (forward) first character checked after.
_LINE_NAME_COLON_REVERSED = _ascii(r":(?<!=:)[ \t]*+([\w.]*+)(?<=[A-Za-z_])[ \t]*+[\n:]")
_ANNOTATION_TEXT = _ascii(r"([^\n=]*)(?=\n|=(?!=))")
_DOT_AT_LINE_END = _ascii(r"\.[ \t]*\n")  # starts with a literal: the engine skips ahead fast
_NAME_ON_A_LATER_LINE = _ascii(r"[ \t\n]*([A-Za-z_]\w*)")
_WORD_OR_BRACKET_CLOSE = _WORD | {")", "]"}
_NUMBER_DOT = _ascii(r"\d\.[ \t]*([A-Za-z_]\w*)")
# Where this finds nothing, _NUMBER_DOT finds nothing either (each of its matches has a dot like this): it starts
# with a literal, so a file without such a dot is passed over fast.
_DOT_AFTER_DIGIT = _ascii(r"\.(?<=\d\.)[ \t]*[A-Za-z_]")
_SOFT_KEYWORDS = tuple(_ascii(word + r"[ \t]") for word in ("match", "case", "type"))  # literal: fast to find
_TYPE_ALIAS = _ascii(r"type[ \t]+[A-Za-z_]\w*[ \t]*[=\[]")


def python_names(text: str) -> tuple[set[str], set[str]] | None:
    """The names captured as definitions and as references by the Python symbol patterns (before filtering),
    or None when the text holds a construct these rules do not model."""
    try:
        return _names(text)
    except Unmodelled:  # parse it instead
        return None


def _names(text: str) -> tuple[set[str], set[str]]:
    # (A search for one character is far faster than one for two, whose last character here is a common "\n".)
    code = _code_only(text.replace("\r\n", "\n") if "\r" in text else text)
    code, imported = without_imports(code)
    defines, declared = _definitions(code)
    backwards = code[::-1]  # several patterns are found faster read backwards (they then start with a literal)
    references = imported | _attributes(code, backwards) | _calls(backwards, declared) | _arguments(code, backwards)
    references |= _after_keyword(code, _EXCEPT) | _after_keyword(code, _RAISE) | _raised_from(code)
    for annotation in _RETURN_TYPE.findall(code):
        references |= annotation_names(annotation)
    references |= _parameter_types(code, backwards)
    defines |= _at_depth_zero(code, backwards, references)  # (raises for unbalanced brackets)
    return defines, references


def _code_only(text: str) -> str:
    """The code (see ``pycode.code_only``) between newlines, with line continuations joined; raises ``Unmodelled``
    for what these rules do not model."""
    code = "\n" + code_only(text) + "\n"
    semicolons = False
    if not code.isascii() or any(c in code for c in "'\";\r\f"):
        if not code.isascii() or any(c in code for c in "'\"\r\f"):
            raise Unmodelled("unclosed string, form feed or a non-ASCII name")
        semicolons = True
    if "\\" in code:
        code = code.replace("\\\n", " ")
    if "\\" in code or "except*" in code:
        raise Unmodelled("backslash or except*")
    if semicolons:
        code = split_statements(code)
    line_end = -1
    statements: dict[str, list[int]] = {"match": [], "case": []}
    for match in _soft_keywords(code):
        start = match.start()
        if start < line_end:  # only a line's first word can start a statement: this line is done
            continue
        line_start = code.rfind("\n", 0, start) + 1
        line_end = code.find("\n", start)
        if code[line_start:start].strip(" \t"):
            continue
        line = code[start:line_end].rstrip()
        if _TYPE_ALIAS.match(line):
            raise Unmodelled("soft keyword statement")
        if line.endswith(":") and not line.startswith("type"):
            statements[line[:4] if line.startswith("case") else "match"].append(start)
        elif line.startswith("case") and ":" in line and not line[4:].lstrip(" \t").startswith("="):
            statements["case"].append(start)  # a case with its body on its line: must be a match statement's
        elif line.startswith("match") and line[5:].lstrip(" \t")[:1] in ("(", "[", "{"):
            raise Unmodelled("soft keyword statement")  # perhaps a subject across lines
    if statements["match"] or statements["case"]:
        code = match_statements(code, statements["match"], statements["case"])
    return code


def _soft_keywords(code: str) -> list[re.Match[str]]:
    """Where "match", "case" or "type" and a space or tab stand, in order: what one alternation would find (no two
    such matches can overlap: each ends in a blank, which none of the words holds), three literal searches."""
    found = [m for pattern in _SOFT_KEYWORDS for m in pattern.finditer(code)]
    found.sort(key=_start)
    return found


def _start(match: re.Match[str]) -> int:
    return match.start()


def _definitions(code: str) -> tuple[set[str], list[str]]:
    """Function and class names (module-level assignments are added by ``_at_depth_zero``), and each name
    declared as ``def NAME(`` or ``class NAME(`` (once per declaration: ``_calls`` tells them from calls)."""
    found = _DEF.findall(code) + _CLASS.findall(code)
    if any(bracket == "[" for _, bracket in found):
        raise Unmodelled("type parameters")
    return {name for name, _ in found} - _KEYWORDS, [name for name, bracket in found if bracket]


def _attributes(code: str, backwards: str) -> set[str]:
    """``x.NAME``, also across lines inside brackets; a float such as ``1.e5`` is no attribute access."""
    found = _ATTRIBUTE_OR_LINE_END.findall(code)
    if "" in found:
        found += _members_across_lines(code, backwards)
    # A keyword after a dot is no member: ``... and x`` (an attribute can never be one).
    if not _DOT_AFTER_DIGIT.search(code) or not _NUMBER_DOT.search(code):
        return set(found) - _KEYWORDS - {""}
    names = Counter(found)
    del names[""]
    for match in _NUMBER_DOT.finditer(code):
        end = match.start() + 1
        if _word_before(code, end)[0].isdigit():
            names[match.group(1)] -= 1
    return {name for name, count in names.items() if count > 0} - _KEYWORDS


def _members_across_lines(code: str, backwards: str) -> list[str]:
    """The names of ``x.\\n    NAME`` inside brackets (``...\\n`` is no access; nor is ``1.\\n`` ending a statement,
    a float); raises for what else has a name or a closing bracket before a dot ending its line."""
    names = []
    walker = Walker(code, backwards)
    for match in _DOT_AT_LINE_END.finditer(code):
        dot = before = match.start()
        while code[before - 1] in " \t":
            before -= 1
        if code[before - 1] not in _WORD_OR_BRACKET_CLOSE:
            continue
        word = _word_before(code, before)
        inside = walker.enclosing(dot) >= 0
        # A number with blanks before the dot (a blanked string's " 0 " among them) has a member; with none, digits
        # and the dot are a float ("3."), which outside brackets ends its statement.
        if word[:1].isdigit() and before == dot:
            if inside or not word.isdigit() or code[before - len(word) - 1] in _WORD_OR_DOT:
                raise Unmodelled("a member access across lines")
            continue
        name = _NAME_ON_A_LATER_LINE.match(code, match.end())
        if name is None or name.group(1) in _KEYWORDS or word in _KEYWORDS or not inside:
            raise Unmodelled("a member access across lines")  # a keyword, or no bracket to go on in
        names.append(name.group(1))
    return names


def _calls(backwards: str, declared: list[str]) -> set[str]:
    """Names called as ``NAME(`` (names called as ``x.NAME(`` come along; they are attribute references anyway);
    ``declared``: the names of ``def NAME(`` and ``class NAME(``, which look like calls."""
    called = Counter(_CALLED_REVERSED.findall(backwards))
    if not called:
        return set()
    names = set("\n".join(called)[::-1].split("\n")) - _KEYWORDS  # each name read forwards again
    # "def NAME(" and "class NAME(" look like calls; a name is called only if it appears so more often.
    for name, count in Counter(declared).items():
        if called[name[::-1]] <= count:
            names.discard(name)
    return {name for name in names if not name[0].isdigit()}


def _after_keyword(code: str, pattern: re.Pattern[str]) -> set[str]:
    return {m.group(1) for m in pattern.finditer(code) if code[m.start() - 1] not in _WORD_OR_DOT}


def _raised_from(code: str) -> set[str]:
    """``raise ... from NAME`` (``yield from NAME`` is not a raise)."""
    names = set()
    for match in _FROM_NAME_AT_END.finditer(code):
        start = match.start()
        if code[start - 1] in _WORD:
            continue
        end = start
        while end > 0 and code[end - 1] in _SPACE:
            end -= 1
        if _word_before(code, end) != "yield":
            names.add(match.group(1))
    return names


def _word_before(code: str, end: int) -> str:
    start = end
    while start > 0 and code[start - 1] in _WORD:
        start -= 1
    return code[start:end]


def _is_call_paren(code: str, paren: int) -> bool:
    """Whether the ``(`` at ``paren`` opens a call's (or a class's base) argument list."""
    end = paren
    while end > 0 and code[end - 1] in _SPACE:
        end -= 1
    before = code[end - 1]
    word = ""
    if before in _WORD:
        word = _word_before(code, end)
        if word in _KEYWORDS or word[0].isdigit():
            return False
    elif before not in ")]}":
        return False
    if "\n" in code[end:paren]:  # a new statement (``(a,) = ...``) outside brackets, a call inside
        depth = sum(map(code.count, "([{", repeat(0), repeat(paren))) - sum(
            map(code.count, ")]}", repeat(0), repeat(paren)))
        if depth:  # (a call whose name ends a line is not found by ``_calls``)
            raise Unmodelled("a line starting with a bracket")
        return False
    if not word:
        return True
    start = end - len(word)
    return not code[max(0, start - 8):start].rstrip(" \t").endswith("def")


def _arguments(code: str, backwards: str) -> set[str]:
    """Capitalised names passed bare as arguments: ``f(Name)``, ``class C(Base, Mixin)``."""
    names: set[str] = set()
    may_raise: bool | None = None  # whether asking about some "(" would raise (known once needed)
    for match in _ARGUMENT_FIRST.finditer(code):
        if match.group(1) in names:  # (most are: None, True, a class passed again and again)
            if may_raise is None:
                may_raise = _some_call_paren_raises(code, backwards)
            if not may_raise:  # then the answer cannot change: no need to ask about the paren
                continue
        if _is_call_paren(code, match.start()):
            names.add(match.group(1))
    walker = Walker(code, backwards)
    for match in _ARGUMENT_NEXT.finditer(code):
        if match.group(1) in names:
            if may_raise is None:
                may_raise = _some_call_paren_raises(code, backwards)
            if not may_raise:  # (nor to look for it)
                continue
        paren = walker.enclosing(match.start())
        if paren >= 0 and code[paren] == "(" and _is_call_paren(code, paren):
            names.add(match.group(1))
    return names


def _some_call_paren_raises(code: str, backwards: str) -> bool:
    """Whether ``_is_call_paren`` raises for some "(" of ``code`` (it can only for one that starts a line)."""
    last = len(code) - 1
    for match in _PAREN_STARTING_LINE_REVERSED.finditer(backwards):
        try:
            _is_call_paren(code, last - match.start())
        except Unmodelled:
            return True
    return False


def _parameter_types(code: str, backwards: str) -> set[str]:
    """Bare names annotating a function's parameters: ``def f(x: Name, *rest: Name)``."""
    size = len(code)
    found = []
    for match in _PARAMETER_COLON_REVERSED.finditer(backwards):
        start = size - match.start()
        annotation = _PARAMETER_TYPE_TEXT.match(code, start)
        if annotation is not None:  # (the position after the "(" or ",", where the annotation starts, its text)
            found.append((size - match.end() + 1, start, annotation.group(1)))
    names: set[str] = set()
    # Annotations read already: reading one again adds nothing (and cannot raise). Each was read whole, so a text
    # found again is whole too (its bracket, if any, closes within it): the same annotation.
    read: set[str] = set()
    walker = Walker(code, backwards)
    for position, start, text in sorted(found):
        if text in read:
            continue
        paren = walker.enclosing(position)
        if paren >= 0 and code[paren] == "(" and _word_before_paren_follows_def(code, paren):
            whole = balanced_annotation(code, start, text)  # (only here: most colons found are no parameter's)
            names |= annotation_names(whole)
            read.add(whole)
    return names


def _word_before_paren_follows_def(code: str, paren: int) -> bool:
    end = paren
    while end > 0 and code[end - 1] in _SPACE:
        end -= 1
    start = end - len(_word_before(code, end))
    return start < end and code[max(0, start - 8):start].rstrip(" \t").endswith("def")


def _variable_annotations(code: str, backwards: str) -> list[tuple[int, str, str]]:
    """``x: T`` and ``x.y: T = v`` statements: (position of the line's name, "annotation", the annotation's text)."""
    found = []
    size = len(code)
    for match in _LINE_NAME_COLON_REVERSED.finditer(backwards):
        name = match.group(1)[::-1]
        if name[0].isdigit() or name.split(".")[0] in _KEYWORDS:
            continue
        colon = size - 1 - match.start()
        annotation = _ANNOTATION_TEXT.match(code, colon + 1)
        # (None: an "==" comes first, which the parse may read in more than one way: Unmodelled if used)
        if annotation is None:
            text = "=="
        else:
            text = annotation.group(1)
            if "[" in text or "(" in text:  # (the check spelled out: it runs for every such line)
                text = balanced_line_annotation(code, colon + 1, text)
        found.append((size - match.end() + 1, "annotation", text))
    return found


def _at_depth_zero(code: str, backwards: str, references: set[str]) -> set[str]:
    """Module-level ``NAME = ...`` / ``NAME: T`` definitions; adds decorators ``@NAME`` and variable annotations
    ``x: NAME`` (outside brackets) to ``references``. Returns the definitions; raises ``Unmodelled`` when the
    code's brackets of some kind do not add up (the counts taken for the depths, carried to the end: one pass)."""
    queries: list[tuple[int, str, str]] = []  # position, kind, name
    queries += [(m.start(), "define", m.group(1)) for m in _MODULE_NAME.finditer(code) if m.group(1) not in _KEYWORDS]
    queries += [(m.start(), "refer", m.group(1)) for m in at_line_start(code, _DECORATOR)]
    queries += _variable_annotations(code, backwards)
    queries += chained_targets(code)
    queries.sort()
    defines: set[str] = set()
    count = code.count  # spelled out below: this runs for every module-level name of every file
    round_, square, curly, at = 0, 0, 0, 0  # opened less closed, by kind, before ``at``
    for position, kind, name in queries:
        round_ += count("(", at, position) - count(")", at, position)
        square += count("[", at, position) - count("]", at, position)
        curly += count("{", at, position) - count("}", at, position)
        at = position
        if round_ + square + curly == 0:
            if kind == "define":
                defines.add(name)
            elif kind == "refer":
                references.add(name)
            else:
                references |= annotation_names(name)
    if (round_ + count("(", at) - count(")", at) or square + count("[", at) - count("]", at)
            or curly + count("{", at) - count("}", at)):
        raise Unmodelled("unbalanced brackets")
    return defines
