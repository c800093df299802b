"""Python import statements cut out of code reduced by ``pycode`` (pure), for ``pysymbols``: the names a
``from ... import`` brings in are references; every other word of an import statement is none.

Each statement is found from its keyword on (a literal the regular expression engine skips ahead to), then checked
to start its line; a pattern starting with "\\n" would have the engine stop at every line.
"""

from __future__ import annotations

import re

from v4agent.pack.rank.pycode import Unmodelled

__all__ = ["at_line_start", "without_imports"]

_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
# The code is ASCII (checked before): "\w" in ASCII mode finds the same, faster.
_FROM_IMPORT = re.compile(r"from[ \t]+([.\w \t]*?)[ \t]import\b[ \t]*(\([^)]*\)|[^\n]*)", re.ASCII)
_IMPORT = re.compile(r"import[ \t]+[^\n]*", re.ASCII)
_IMPORT_WORD = re.compile(r"import")


def without_imports(code: str) -> tuple[str, set[str]]:
    """The code without its import statements (each line emptied), and the names ``from ... import`` brings in."""
    statements = sum(1 for m in _IMPORT_WORD.finditer(code)
                     if code[m.start() - 1] not in _WORD and code[m.end()] not in _WORD)
    if not statements:
        return code, set()
    names: set[str] = set()
    from_imports = at_line_start(code, _FROM_IMPORT)
    imports = at_line_start(code, _IMPORT)
    if len(from_imports) + len(imports) != statements:
        raise Unmodelled("an import that does not start its line")
    for match in from_imports:
        if match.group(1).strip() == "__future__":
            continue
        for part in match.group(2).strip("() \t\n").split(","):
            words = part.split()
            if words and words[0] != "*":
                names.add(words[0])
    if from_imports:
        code = _emptied(code, from_imports)
        imports = at_line_start(code, _IMPORT)
    return _emptied(code, imports), names


def at_line_start(code: str, pattern: re.Pattern[str]) -> list[re.Match[str]]:
    """The matches, left to right and not overlapping, that ``"\\n[ \\t]*" + pattern`` would find (each from
    its keyword on): a match with more than blanks before it on its line is passed over, and the search goes on
    from its next character, as that pattern's would."""
    found = []
    at = 0
    while (match := pattern.search(code, at)) is not None:
        line = start = match.start()
        while line > 0 and code[line - 1] in " \t":
            line -= 1
        if line > 0 and code[line - 1] == "\n":
            found.append(match)
            at = match.end()
        else:
            at = start + 1
    return found


def _emptied(code: str, matches: list[re.Match[str]]) -> str:
    """``code`` with each match and the blanks before it taken out (its line's "\\n" kept)."""
    kept: list[str] = []
    at = 0
    for match in matches:
        line = match.start()
        while code[line - 1] in " \t":
            line -= 1
        kept.append(code[at:line])
        at = match.end()
    kept.append(code[at:])
    return "".join(kept)
