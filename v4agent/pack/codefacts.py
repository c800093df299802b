"""One tree-sitter parse of a code file, two results: its symbols (for the ranking) and its skeleton edits.

A cold pack far over its budget parses every code file for the ranking; the files that then degrade to skeletons
would be parsed again. One query with both pattern sets walks each tree once and keeps the skeleton's edits
(byte ranges), so a skeleton later costs only applying them. Pure: a function of ``(rel_path, text)``.
"""

from __future__ import annotations

from functools import cache

from tree_sitter import Query, QueryCursor

from v4agent.pack.skeleton import SkeletonEdit, body_patterns, skeleton_edits
from v4agent.pack.symbols import (
    FileSymbols,
    _language,
    language_for,
    parse,
    symbol_patterns,
    symbols_from_captures,
)

__all__ = ["CodeFacts", "code_facts"]

CodeFacts = tuple[FileSymbols, "list[SkeletonEdit] | None"]  # symbols; skeleton edits (None: no skeleton)


@cache
def _query(lang: str) -> Query:
    return Query(_language(lang), symbol_patterns(lang) + body_patterns(lang))


def code_facts(rel_path: str, text: str) -> CodeFacts:
    """``extract_symbols(rel_path, text)``, and the edits with which ``apply_skeleton`` gives
    ``skeletonize(rel_path, text)`` (None where that is None)."""
    lang = language_for(rel_path)
    parsed = None if lang is None else parse(lang, text)
    if lang is None or parsed is None:
        return FileSymbols(), None
    tree, source = parsed
    captures = QueryCursor(_query(lang)).captures(tree.root_node)
    return symbols_from_captures(captures, source), skeleton_edits(lang, tree.root_node, source, captures)
