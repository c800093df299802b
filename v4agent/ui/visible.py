"""Model-chosen text made safe to show: every character a terminal would act on, or hide, is written out.

An approval must show exactly what will run. A command can carry escape sequences (erase the line, move the
cursor, change colours), carriage returns and backspaces (overwrite what came before), bidirectional
overrides (show the text in another order) and zero-width characters (hide a part): shown raw, the terminal
interprets them and the user approves something other than what runs. Here each such character becomes its
Python escape (ESC is ``\\x1b``, CR ``\\r``, U+202E ``\\u202e``); newlines and tabs stay, so a multi-line
command is shown line by line, whole.

``visible`` is the one pure rule; ``visible_text`` is the same text for rich, with the escapes highlighted
so they cannot pass for characters the model typed.
"""

from __future__ import annotations

import unicodedata

from rich.text import Text

__all__ = ["ESCAPE_STYLE", "hidden_count", "hidden_note", "is_hidden", "visible", "visible_text"]

ESCAPE_STYLE = "bold reverse red"
_KEPT = frozenset("\n\t")  # a newline starts a line that is shown too; a tab only moves right, over blanks
# Cc: C0, DEL and C1 controls. Cf: format characters (bidi overrides and isolates, zero-width space and
# joiners, soft hyphen, BOM, tag characters). Zl/Zp: line and paragraph separators. Cs: lone surrogates.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
# Unicode's other default-ignorable code points: drawn as nothing (or a blank) though they are letters or marks
# (Hangul fillers, variation selectors, the combining grapheme joiner).
_IGNORABLE = ((0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x3164, 0x3164),
              (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xE0000, 0xE0FFF))
_SHORT = {"\r": "\\r", "\x1b": "\\x1b"}


def is_hidden(char: str) -> bool:
    """True for a character a terminal would interpret or not show: it is written out as an escape."""
    if " " <= char <= "~" or char in _KEPT:  # printable ASCII: the common case
        return False
    code = ord(char)
    return unicodedata.category(char) in _HIDDEN_CATEGORIES or any(lo <= code <= hi for lo, hi in _IGNORABLE)


def _escape(char: str) -> str:
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(text: str) -> str:
    """``text`` with every control, escape, bidi and zero-width character written as its Python escape."""
    return "".join(_escape(char) if is_hidden(char) else char for char in text)


def hidden_count(text: str) -> int:
    """How many characters of ``text`` ``visible`` writes out as escapes."""
    return sum(1 for char in text if is_hidden(char))


def hidden_note(*texts: str) -> str:
    """A warning that ``texts`` hold characters written out as escapes; empty when they hold none."""
    count = sum(hidden_count(text) for text in texts)
    if not count:
        return ""
    plural = "s" if count != 1 else ""
    return (f"{count} control or invisible character{plural} shown as escapes (like \\x1b or \\u202e); "
            "the text really contains them")


def visible_text(text: str, *, style: str = "", escape_style: str = ESCAPE_STYLE) -> Text:
    """``visible(text)`` as rich text (never read as markup), the written-out escapes in ``escape_style``."""
    out = Text(style=style)
    run: list[str] = []
    for char in text:
        if is_hidden(char):
            if run:
                out.append("".join(run))
                run = []
            out.append(_escape(char), style=escape_style)
        else:
            run.append(char)
    if run:
        out.append("".join(run))
    return out
