"""Skeletons: a file's outline (imports, signatures, docstrings, constants) without function bodies.

The text is the source with edits applied: function bodies become ``...`` (``{ ... }`` in brace
languages), Python keeps docstrings, drops top-level and class-level statements that are not
declarations, and cuts multi-line assignments to their first line.  Comments outside bodies (doc
comments, license headers) stay as written.  Pure and deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache

from tree_sitter import Node, Query, QueryCursor

from v4agent.pack.rank.symbols import _language, language_for, parse, source_bytes

__all__ = ["SkeletonEdit", "apply_skeleton", "apply_skeleton_redacted", "body_patterns", "edits_for", "skeleton_edits",
           "skeletonize"]

_BRACES = b"{ ... }"

# @body: a function-like body to replace; @python_body: a Python block (keeps its docstring).
_BODY_QUERIES: dict[str, str] = {
    "python": "(function_definition body: (block) @python_body)",
    "javascript": """
(function_declaration body: (statement_block) @body)
(generator_function_declaration body: (statement_block) @body)
(function_expression body: (statement_block) @body)
(arrow_function body: (statement_block) @body)
(method_definition body: (statement_block) @body)
""",
    "go": """
(function_declaration body: (block) @body)
(method_declaration body: (block) @body)
(func_literal body: (block) @body)
""",
    "rust": "(function_item body: (block) @body)",
    "java": """
(method_declaration body: (block) @body)
(constructor_declaration body: (constructor_body) @body)
(static_initializer (block) @body)
""",
    "c": "(function_definition body: (compound_statement) @body)",
    "ruby": """
(method body: (_) @ruby_body)
(singleton_method body: (_) @ruby_body)
""",
    "csharp": """
(method_declaration body: (block) @body)
(constructor_declaration body: (block) @body)
(destructor_declaration body: (block) @body)
(operator_declaration body: (block) @body)
(accessor_declaration body: (block) @body)
(local_function_statement body: (block) @body)
""",
    "php": """
(function_definition body: (compound_statement) @body)
(method_declaration body: (compound_statement) @body)
""",
}
_BODY_QUERIES["typescript"] = _BODY_QUERIES["javascript"]
_BODY_QUERIES["tsx"] = _BODY_QUERIES["javascript"]
_BODY_QUERIES["cpp"] = _BODY_QUERIES["c"]

# Python statements worth keeping at module and class level; everything else is behaviour, not outline.
_PY_KEEP = frozenset(
    {
        "import_statement", "import_from_statement", "future_import_statement", "function_definition",
        "class_definition", "decorated_definition", "comment", "assignment", "augmented_assignment",
        "string", "pass_statement", "type_alias_statement",
    }
)
_PY_ASSIGNMENTS = frozenset({"assignment", "augmented_assignment", "type_alias_statement"})

SkeletonEdit = tuple[int, int, bytes]  # replace source bytes [start, end) with these


@cache
def _body_query(lang: str) -> Query:
    return Query(_language(lang), _BODY_QUERIES[lang])


def body_patterns(lang: str) -> str:
    """The tree-sitter patterns whose captures (``@body``, ``@python_body``, ``@ruby_body``) the skeleton needs."""
    return _BODY_QUERIES[lang]


def skeletonize(rel_path: str, text: str) -> str | None:
    """The outline of a source file, or None when no grammar covers it (or it is too big to parse)."""
    edits = edits_for(rel_path, text)
    return None if edits is None else apply_skeleton(source_bytes(text), edits)


def edits_for(rel_path: str, text: str) -> list[SkeletonEdit] | None:
    """The skeleton's edits of ``text`` (a parse), or None when no grammar covers it (or it is too big)."""
    lang = language_for(rel_path)
    parsed = None if lang is None else parse(lang, text)
    if lang is None or parsed is None:
        return None
    tree, source = parsed
    captures = QueryCursor(_body_query(lang)).captures(tree.root_node)
    return skeleton_edits(lang, tree.root_node, source, captures)


def skeleton_edits(lang: str, root: Node, source: bytes, captures: Mapping[str, Sequence[Node]]) -> list[SkeletonEdit]:
    """The edits that turn ``source`` (parsed as ``root``) into its skeleton, given the captures of
    ``body_patterns(lang)`` (other captures are ignored, so one query can serve the symbols too)."""
    edits: list[SkeletonEdit] = [(n.start_byte, n.end_byte, _BRACES) for n in captures.get("body", [])]
    edits += [(n.start_byte, n.end_byte, b"...") for n in captures.get("ruby_body", [])]
    if lang == "python":
        edits += [_python_body(n, source) for n in captures.get("python_body", [])]
        edits += _python_outline(root, source)
    return edits


def apply_skeleton(source: bytes, edits: Sequence[SkeletonEdit]) -> str:
    """The skeleton text: ``source`` with ``skeleton_edits`` applied, trailing spaces and blank runs tidied."""
    return _tidy(_apply(source, edits))


def apply_skeleton_redacted(source: bytes, edits: Sequence[SkeletonEdit],
                            redactions: Sequence[SkeletonEdit]) -> str | None:
    """``apply_skeleton`` with the secret values replaced too (``redactions``: edits of the same ``source``). One
    inside an edit goes with the text the edit drops, and from its replacement where that copies it (a docstring
    kept); None when one straddles an edit's edge: then only a parse of the redacted text is safe."""
    edits = list(edits)
    outside: list[SkeletonEdit] = []
    for start, end, placeholder in redactions:
        hits = [i for i, (edit_start, edit_end, _) in enumerate(edits) if start < edit_end and edit_start < end]
        if not hits:
            outside.append((start, end, placeholder))
        for i in hits:
            edit_start, edit_end, replacement = edits[i]
            if not edit_start <= start < end <= edit_end:
                return None
            edits[i] = (edit_start, edit_end, replacement.replace(source[start:end], placeholder))
    return _tidy(_apply(source, [*edits, *outside]))


def _python_body(block: Node, source: bytes) -> SkeletonEdit:
    # named_child: named_children would build a list of the whole body
    doc = _docstring(block.named_child(0) if block.named_child_count else None)
    indent = b" " * block.start_point.column
    replacement = b"..."
    if doc is not None:
        replacement = source[doc.start_byte : doc.end_byte] + b"\n" + indent + b"..."
    # Start right after the colon, so comments ahead of the first statement go with the body.
    colon = block.prev_sibling
    while colon is not None and colon.type != ":":
        colon = colon.prev_sibling
    if colon is None:
        return block.start_byte, block.end_byte, replacement
    same_line = colon.end_point.row == block.start_point.row
    return colon.end_byte, block.end_byte, (b" " if same_line else b"\n" + indent) + replacement


def _docstring(node: Node | None) -> Node | None:
    if node is None:
        return None
    if node.type == "string":
        return node
    # Older grammars wrap the docstring in an expression_statement.
    if node.type == "expression_statement" and node.named_child_count == 1:
        inner = node.named_children[0]
        return inner if inner.type == "string" else None
    return None


def _python_outline(root: Node, source: bytes) -> list[SkeletonEdit]:
    """Drop non-declaration statements and shorten multi-line assignments, at module and class level."""
    edits: list[SkeletonEdit] = []
    pending = [root]
    while pending:
        scope = pending.pop()
        for child in scope.named_children:
            kind = child.type
            if kind == "expression_statement" and child.named_child_count == 1:
                kind = child.named_children[0].type
            if kind not in _PY_KEEP:
                edits.append((child.start_byte, child.end_byte, b""))
            elif kind in _PY_ASSIGNMENTS and child.end_point.row > child.start_point.row:
                line_end = source.find(b"\n", child.start_byte)
                edits.append((line_end, child.end_byte, b" ..."))
            elif kind in ("class_definition", "decorated_definition"):
                body = _class_body(child)
                if body is not None:
                    pending.append(body)
    return edits


def _class_body(node: Node) -> Node | None:
    if node.type == "decorated_definition":
        definition = node.child_by_field_name("definition")
        return _class_body(definition) if definition is not None else None
    return node.child_by_field_name("body") if node.type == "class_definition" else None


def _apply(source: bytes, edits: Sequence[SkeletonEdit]) -> str:
    """Apply non-overlapping edits; one nested in an earlier (outer) edit is already covered by it."""
    out: list[bytes] = []
    cursor = 0
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], -e[1])):
        if start < cursor:
            continue
        out += (source[cursor:start], replacement)
        cursor = end
    out.append(source[cursor:])
    return b"".join(out).decode("utf-8", "replace")


def _tidy(text: str) -> str:
    """Strip trailing spaces and squeeze the blank lines that dropped statements leave behind."""
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if line or (lines and lines[-1]):
            lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""
