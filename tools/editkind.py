"""What sort of line a line is, for the matcher's tie-breaks about blank lines.

When a model's blank lines leave two layouts possible (a blank line it added to both texts or to ``old_text``
alone; one it left out, above or below the lines it wrote), the place is settled and only blank lines differ.
Code says which: lines of one kind sit together (imports of one group, assignments to one sort of name, a
class's annotated fields) and a blank line parts two kinds. Pure, and no more than a tie-break: it never
picks a place.
"""

from __future__ import annotations

import re
import sys

__all__ = ["TABSIZE", "kind", "width"]

TABSIZE = 4
_ASSIGN = re.compile(r"[A-Za-z_][\w.]*(?:\[[^\]]*\])?\s*(?::[^=]+)?[-+*/|&]?=(?!=)")
_ANNOTATION = re.compile(r"[A-Za-z_]\w*\s*:\s*[^\s=]")
_WORD = re.compile(r"\w+|\S")


def width(line: str) -> int:
    """Columns of a line's leading whitespace, tabs expanded."""
    stripped = line.lstrip()
    return len(line[: len(line) - len(stripped)].expandtabs(TABSIZE))


def kind(line: str) -> tuple[int, str]:
    """A line's indentation and the sort of statement it opens: an import (from ``__future__``, the standard
    library, the package itself, or other), an assignment (by its target's shape), an annotated name, else
    its first word or symbol."""
    text = line.strip()
    words = text.split()
    if len(words) > 1 and words[0] in ("import", "from"):
        top = words[1].split(".")[0]
        group = ("local" if words[1].startswith(".") else "future" if top == "__future__"
                 else "stdlib" if top in sys.stdlib_module_names else "other")
        return width(line), "import " + group
    if _ASSIGN.match(text):  # by the target's shape: attributes, dunders, constants, other names
        target = re.split(r"[\s:\[=]", text, maxsplit=1)[0]
        shape = ("self." if target.startswith("self.") else "__" if target.startswith("__")
                 else "CAPS" if target.isupper() else "name")
        return width(line), shape + "="
    if _ANNOTATION.match(text) and not text.endswith(":"):
        return width(line), "name:"
    first = _WORD.match(text)
    return width(line), first.group() if first else ""
