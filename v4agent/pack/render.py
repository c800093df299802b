"""Rendering (pure): the header, the file tree, one piece per file, the footer, and the delta block.

Every piece ends with a newline and the next one starts with ``<`` or ``#``. All three tokenizers' pre-tokenizer
regexes split at such a boundary (no pattern joins a newline with a following non-space), so the token count of
the whole text is the sum of the pieces' counts: pieces are counted (and cached) one by one.

Delimiters cannot be forged by file content: in XML a file whose text contains ``</file`` gets a longer tag name
(``file_``, ``file__``...) than any such run in it; in Markdown the code fence is longer than any backtick run.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from v4agent.core.pathtext import display_path

__all__ = ["DeltaChange", "TreeEntry", "render_delta", "render_file", "render_footer", "render_header",
           "render_tree", "xml_tag"]

_HEADER = {
    "xml": (
        "This is a packed copy of a software repository: this header, the file tree, then the files, "
        "least-recently-changed first.\n"
        'Each file is enclosed in <file path="..."> and </file>. When a file\'s own text contains "</file", its tag '
        "name is lengthened with underscores (<file_ path=\"...\"> ... </file_>) so that only the real closing "
        "tag ends it.\n"
        'mode="skeleton" marks a file reduced to imports, signatures and docstrings. Files listed in the tree '
        "without an entry below were left out to fit the token budget. «REDACTED:kind» stands for a removed "
        "secret value.\n"
    ),
    "markdown": (
        "# Packed repository\n\n"
        "This is a packed copy of a software repository: this header, the file tree, then the files, "
        "least-recently-changed first. Each file follows a `## File:` heading in a code fence longer than any "
        "backtick run inside it.\n"
        "(skeleton) marks a file reduced to imports, signatures and docstrings. Files listed in the tree without "
        "a section below were left out to fit the token budget. «REDACTED:kind» stands for a removed secret "
        "value.\n\n"
    ),
}
_BACKTICKS = re.compile(r"`+")
_CLOSE_TAG = re.compile(r"</file(_*)")


@dataclass(frozen=True)
class TreeEntry:
    """One path of the file tree, and its target when it is a symlink."""

    path: str
    link_target: str | None = None


@dataclass(frozen=True)
class DeltaChange:
    """One changed file of a delta block: its status and, unless deleted or skipped, its current text."""

    path: str
    status: str  # "added" | "modified" | "deleted" | "skipped"
    text: str | None = None  # the new content (already redacted); None for deleted/skipped
    note: str = ""  # for skipped: why the new content is not shown
    lang: str = ""


def _attr(path: str) -> str:
    return html.escape(display_path(path), quote=True)


def _fence(text: str) -> str:
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    return "`" * max(3, longest + 1)


def xml_tag(text: str) -> str:
    """``file`` plus one more underscore than the longest ``</file___`` run in the text (none if absent)."""
    runs = [len(m) for m in _CLOSE_TAG.findall(text)]
    return "file" + ("_" * (max(runs) + 1) if runs else "")


def _body(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


def render_header(fmt: str) -> str:
    """The pack's opening text in format ``fmt``: what the pack holds and how files are marked."""
    return _HEADER[fmt]


def render_tree(entries: Sequence[TreeEntry], fmt: str) -> str:
    """The directory tree of every packed path (sorted by components), then the opening of the files section."""
    # Sorted by components: "/" read as NUL, below any character a name can hold, sorts as a list of components.
    ordered = sorted(entries, key=_component_key)
    # Names are escaped for display one at a time only when some name needs it (display_path is the identity else).
    joined = "/".join(e.path + "/" + (e.link_target or "") for e in ordered)
    show = display_path if display_path(joined) != joined else _as_is
    lines: list[str] = []
    previous: list[str] = []
    seen_dir: str | None = None  # the last entry's directory, with its "/": a file beside it adds only its name
    indent = ""
    for entry in ordered:
        path = entry.path
        cut = path.rfind("/")
        if path[:cut + 1] != seen_dir:
            seen_dir = path[:cut + 1]
            dirs = path[:cut].split("/") if cut >= 0 else []
            common = 0
            while common < min(len(dirs), len(previous)) and dirs[common] == previous[common]:
                common += 1
            for depth in range(common, len(dirs)):
                lines.append("  " * depth + show(dirs[depth]) + "/")
            previous, indent = dirs, "  " * len(dirs)
        name = show(path[cut + 1:])
        if entry.link_target is not None:
            name += " -> " + show(entry.link_target)
        lines.append(indent + name)
    tree = "\n".join(lines) + ("\n" if lines else "")
    if fmt == "xml":
        return f"<directory_structure>\n{tree}</directory_structure>\n<files>\n"
    fence = _fence(tree)
    return f"## File tree\n\n{fence}\n{tree}{fence}\n\n"


def _component_key(entry: TreeEntry) -> str:
    return entry.path.replace("/", "\0")


def _as_is(name: str) -> str:
    return name


def render_file(path: str, text: str, mode: str, fmt: str, lang: str = "") -> str:
    """One file's piece; ``mode`` is "full" or "skeleton" (redaction already applied to ``text``)."""
    body = _body(text)
    if fmt == "xml":
        tag = xml_tag(text)
        extra = ' mode="skeleton"' if mode == "skeleton" else ""
        return f'<{tag} path="{_attr(path)}"{extra}>\n{body}</{tag}>\n'
    fence = _fence(text)
    title = display_path(path) + (" (skeleton)" if mode == "skeleton" else "")
    return f"## File: {title}\n\n{fence}{lang}\n{body}{fence}\n\n"


def render_footer(fmt: str) -> str:
    """The text that closes the files section in format ``fmt``."""
    return "</files>\n" if fmt == "xml" else "# End of packed repository\n"


def render_delta(changes: Sequence[DeltaChange], fmt: str) -> str:
    """The block appended after edits: changed files' current content, deleted and skipped ones by path."""
    if not changes:
        return ""
    intro = "Files changed since the packed repository above was rendered (their current content):\n"
    out: list[str] = []
    if fmt == "xml":
        out.append("<changes>\n" + intro)
        for c in changes:
            if c.text is not None:
                out.append(render_file(c.path, c.text, "full", fmt, c.lang))
            elif c.status == "deleted":
                out.append(f'<deleted path="{_attr(c.path)}"/>\n')
            else:
                out.append(f'<skipped path="{_attr(c.path)}" reason="{html.escape(c.note, quote=True)}"/>\n')
        out.append("</changes>\n")
        return "".join(out)
    out.append("# Changes\n\n" + intro + "\n")
    for c in changes:
        if c.text is not None:
            out.append(render_file(c.path, c.text, "full", fmt, c.lang))
        elif c.status == "deleted":
            out.append(f"## Deleted: {display_path(c.path)}\n\n")
        else:
            out.append(f"## Skipped: {display_path(c.path)} ({display_path(c.note)})\n\n")
    return "".join(out)
