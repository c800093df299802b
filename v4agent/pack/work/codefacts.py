"""One tree-sitter parse of a code file, two results: its symbols (for the ranking) and its skeleton edits.

A cold pack far over its budget needs every code file's symbols for the ranking; the files that then degrade to
skeletons would be parsed again. One query with both pattern sets walks each tree once and keeps the skeleton's
edits (byte ranges), so a skeleton later costs only applying them. Where the symbols come without a parse (most
Python files), ``ranking_facts`` parses nothing and leaves the skeleton to a parse of the few files that need one.
Pure: a function of ``(rel_path, text)``.
"""

from __future__ import annotations

from functools import cache

from tree_sitter import Query, QueryCursor

from v4agent.pack.fit.skeleton import SkeletonEdit, body_patterns, edits_for, skeleton_edits
from v4agent.pack.rank.symbols import (
    FileSymbols,
    _language,
    language_for,
    parse,
    symbol_patterns,
    symbols_from_captures,
    symbols_without_parse,
)

__all__ = ["CodeFacts", "code_facts", "ranking_facts"]

# symbols; skeleton edits (from code_facts, None: no skeleton; from ranking_facts, None: parse to find out)
CodeFacts = tuple[FileSymbols, "list[SkeletonEdit] | None"]


@cache
def _query(lang: str) -> Query:
    return Query(_language(lang), symbol_patterns(lang) + body_patterns(lang))


def code_facts(rel_path: str, text: str) -> CodeFacts:
    """``extract_symbols(rel_path, text)``, and the edits with which ``apply_skeleton`` gives
    ``skeletonize(rel_path, text)`` (None where that is None)."""
    lang = language_for(rel_path)
    if lang is None:
        return FileSymbols(), None
    unparsed = symbols_without_parse(lang, text)
    return (unparsed, edits_for(rel_path, text)) if unparsed is not None else _parsed_facts(lang, text)


def ranking_facts(rel_path: str, text: str) -> CodeFacts:
    """What the ranking needs of a file: its symbols, and its skeleton edits where the symbols took a parse
    anyway (None otherwise: a skeleton, if asked for, parses the file then)."""
    lang = language_for(rel_path)
    if lang is None:
        return FileSymbols(), None
    unparsed = symbols_without_parse(lang, text)
    # A file the parse-free rules gave up on goes straight to the parse (not through code_facts, which would run
    # those rules a second time: about one Python file in eight, and the larger ones).
    return (unparsed, None) if unparsed is not None else _parsed_facts(lang, text)


def _parsed_facts(lang: str, text: str) -> CodeFacts:
    """Symbols and skeleton edits from one parse and one query over its tree."""
    parsed = parse(lang, text)
    if parsed is None:
        return FileSymbols(), None
    tree, source = parsed
    captures = QueryCursor(_query(lang)).captures(tree.root_node)
    return symbols_from_captures(captures, source), skeleton_edits(lang, tree.root_node, source, captures)
