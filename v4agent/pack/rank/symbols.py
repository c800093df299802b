"""Definitions and references per source file, from tree-sitter queries.

One compiled query per language (captures ``@def`` and ``@ref``) does the walking in C; Python only
collects the captured names.  Results are pure functions of ``(rel_path, text)`` so the packer can cache
them by content hash.
"""

from __future__ import annotations

import builtins
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from tree_sitter import Language, Node, Parser, Query, QueryCursor, Tree
from tree_sitter_language_pack import get_language, get_parser

from v4agent.pack.rank.pysymbols import python_names

__all__ = [
    "LANGUAGES",
    "FileSymbols",
    "extract_symbols",
    "language_for",
    "parse",
    "source_bytes",
    "symbol_patterns",
    "symbols_from_captures",
    "symbols_from_names",
    "symbols_without_parse",
]

# Bigger inputs are minified bundles or data dumps: parsing them costs time and yields noise.
MAX_PARSE_BYTES = 2_000_000

_EXTENSIONS: dict[str, str] = {
    ".py": "python", ".pyi": "python", ".pyw": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".c++": "cpp", ".hh": "cpp", ".hpp": "cpp", ".hxx": "cpp",
    ".h++": "cpp", ".ipp": "cpp", ".tpp": "cpp",
    ".rb": "ruby", ".rake": "ruby", ".gemspec": "ruby",
    ".cs": "csharp",
    ".php": "php", ".phtml": "php",
}
_FILENAMES: dict[str, str] = {"rakefile": "ruby", "gemfile": "ruby"}

# Reference patterns shared by the JavaScript family.
_JS_REFS = """
(call_expression function: (identifier) @ref)
(call_expression function: (member_expression property: (property_identifier) @ref))
(new_expression constructor: (identifier) @ref)
(new_expression constructor: (member_expression property: (property_identifier) @ref))
(member_expression object: (identifier) @ref)
(import_specifier name: (identifier) @ref)
(export_specifier name: (identifier) @ref)
"""
_JS_DEFS = """
(function_declaration name: (identifier) @def)
(generator_function_declaration name: (identifier) @def)
(method_definition name: (property_identifier) @def)
(program (lexical_declaration (variable_declarator name: (identifier) @def)))
(program (variable_declaration (variable_declarator name: (identifier) @def)))
(program (export_statement declaration: (lexical_declaration (variable_declarator name: (identifier) @def))))
(assignment_expression left: (member_expression property: (property_identifier) @def)
  right: [(function_expression) (arrow_function)])
"""
_JS_ONLY = """
(class_declaration name: (identifier) @def)
(class_heritage (identifier) @ref)
"""
_JSX_REFS = """
(jsx_opening_element name: (identifier) @ref)
(jsx_self_closing_element name: (identifier) @ref)
"""
_TS_EXTRA = """
(class_declaration name: (type_identifier) @def)
(abstract_class_declaration name: (type_identifier) @def)
(interface_declaration name: (type_identifier) @def)
(type_alias_declaration name: (type_identifier) @def)
(enum_declaration name: (identifier) @def)
(method_signature name: (property_identifier) @def)
(abstract_method_signature name: (property_identifier) @def)
(function_signature name: (identifier) @def)
(internal_module name: (identifier) @def)
(extends_clause value: (identifier) @ref)
(type_identifier) @ref
"""
_C_COMMON = """
(function_declarator declarator: (identifier) @def)
(struct_specifier name: (type_identifier) @def body: (_))
(union_specifier name: (type_identifier) @def body: (_))
(enum_specifier name: (type_identifier) @def body: (_))
(type_definition declarator: (type_identifier) @def)
(preproc_def name: (identifier) @def)
(preproc_function_def name: (identifier) @def)
(call_expression function: (identifier) @ref)
(call_expression function: (field_expression field: (field_identifier) @ref))
(type_identifier) @ref
"""

_QUERIES: dict[str, str] = {
    "python": """
(function_definition name: (identifier) @def)
(class_definition name: (identifier) @def)
(module (assignment left: (identifier) @def))
(module (expression_statement (assignment left: (identifier) @def)))
(call function: (identifier) @ref)
(attribute attribute: (identifier) @ref)
(import_from_statement name: (dotted_name (identifier) @ref))
(import_from_statement name: (aliased_import name: (dotted_name (identifier) @ref)))
((argument_list (identifier) @ref) (#match? @ref "^[A-Z]"))
(decorator (identifier) @ref)
(type (identifier) @ref)
(except_clause (identifier) @ref)
(raise_statement (identifier) @ref)
""",
    "javascript": _JS_DEFS + _JS_ONLY + _JS_REFS + _JSX_REFS,
    "typescript": _JS_DEFS + _TS_EXTRA + _JS_REFS,
    "tsx": _JS_DEFS + _TS_EXTRA + _JS_REFS + _JSX_REFS,
    "go": """
(function_declaration name: (identifier) @def)
(method_declaration name: (field_identifier) @def)
(type_spec name: (type_identifier) @def)
(source_file (const_declaration (const_spec name: (identifier) @def)))
(source_file (var_declaration (var_spec name: (identifier) @def)))
(method_elem name: (field_identifier) @def)
(call_expression function: (identifier) @ref)
(call_expression function: (selector_expression field: (field_identifier) @ref))
(selector_expression operand: (identifier) field: (field_identifier) @ref)
(type_identifier) @ref
""",
    "rust": """
(function_item name: (identifier) @def)
(function_signature_item name: (identifier) @def)
(struct_item name: (type_identifier) @def)
(enum_item name: (type_identifier) @def)
(union_item name: (type_identifier) @def)
(trait_item name: (type_identifier) @def)
(type_item name: (type_identifier) @def)
(mod_item name: (identifier) @def)
(macro_definition name: (identifier) @def)
(const_item name: (identifier) @def)
(static_item name: (identifier) @def)
(call_expression function: (identifier) @ref)
(call_expression function: (field_expression field: (field_identifier) @ref))
(call_expression function: (scoped_identifier name: (identifier) @ref))
(macro_invocation macro: (identifier) @ref)
(use_list (identifier) @ref)
(use_declaration argument: (scoped_identifier name: (identifier) @ref))
(use_as_clause path: (scoped_identifier name: (identifier) @ref))
(type_identifier) @ref
""",
    "java": """
(class_declaration name: (identifier) @def)
(interface_declaration name: (identifier) @def)
(enum_declaration name: (identifier) @def)
(record_declaration name: (identifier) @def)
(annotation_type_declaration name: (identifier) @def)
(method_declaration name: (identifier) @def)
(method_invocation name: (identifier) @ref)
(type_identifier) @ref
(import_declaration (scoped_identifier name: (identifier) @ref))
(marker_annotation name: (identifier) @ref)
(annotation name: (identifier) @ref)
""",
    "c": _C_COMMON,
    "cpp": _C_COMMON + """
(function_declarator declarator: (field_identifier) @def)
(function_declarator declarator: (qualified_identifier name: (identifier) @def))
(class_specifier name: (type_identifier) @def body: (_))
(namespace_definition name: (namespace_identifier) @def)
(alias_declaration name: (type_identifier) @def)
(call_expression function: (qualified_identifier name: (identifier) @ref))
(call_expression function: (template_function name: (identifier) @ref))
""",
    "ruby": """
(method name: (_) @def)
(singleton_method name: (_) @def)
(class name: (constant) @def)
(class name: (scope_resolution name: (constant) @def))
(module name: (constant) @def)
(module name: (scope_resolution name: (constant) @def))
(program (assignment left: (constant) @def))
(call method: (identifier) @ref)
(constant) @ref
""",
    "csharp": """
(class_declaration name: (identifier) @def)
(interface_declaration name: (identifier) @def)
(struct_declaration name: (identifier) @def)
(enum_declaration name: (identifier) @def)
(record_declaration name: (identifier) @def)
(delegate_declaration name: (identifier) @def)
(method_declaration name: (identifier) @def)
(property_declaration name: (identifier) @def)
(invocation_expression function: (identifier) @ref)
(invocation_expression function: (member_access_expression name: (identifier) @ref))
(object_creation_expression type: (identifier) @ref)
(base_list (identifier) @ref)
(generic_name (identifier) @ref)
(variable_declaration type: (identifier) @ref)
(parameter type: (identifier) @ref)
(attribute name: (identifier) @ref)
""",
    "php": """
(function_definition name: (name) @def)
(class_declaration name: (name) @def)
(interface_declaration name: (name) @def)
(trait_declaration name: (name) @def)
(enum_declaration name: (name) @def)
(method_declaration name: (name) @def)
(function_call_expression function: (name) @ref)
(function_call_expression function: (qualified_name (name) @ref))
(member_call_expression name: (name) @ref)
(scoped_call_expression name: (name) @ref)
(scoped_call_expression scope: (name) @ref)
(object_creation_expression (name) @ref)
(object_creation_expression (qualified_name (name) @ref))
(base_clause (name) @ref)
(class_interface_clause (name) @ref)
(named_type (name) @ref)
(namespace_use_clause (qualified_name (name) @ref))
(namespace_use_clause (name) @ref)
""",
}

LANGUAGES: tuple[str, ...] = tuple(sorted(_QUERIES))

# Names so common (builtins, keywords-as-identifiers) that they say nothing about which file is meant.
_NOISE: frozenset[str] = frozenset(
    set(dir(builtins))
    | {
        "self", "cls", "this", "super", "init", "main", "new", "get", "set", "add", "map", "len",
        "string", "String", "Object", "Array", "Promise", "Error", "console", "log", "push", "require",
        "undefined", "null", "nil", "true", "false", "args", "kwargs", "err", "ctx", "Ok", "Err", "Some",
        "None", "Vec", "Box", "Self", "size_t", "uint8_t", "int32_t", "int64_t",
        "uint32_t", "uint64_t", "std", "printf", "malloc", "free", "memcpy", "strlen", "var", "val",
        "append", "format", "join", "split", "items", "keys", "values", "update", "copy", "pop",
    }
)


@dataclass(frozen=True)
class FileSymbols:
    """Names a file defines and names it refers to (each sorted, unique)."""

    defines: tuple[str, ...] = ()
    references: tuple[str, ...] = ()

    def to_json(self) -> dict[str, list[str]]:
        """A JSON-serialisable dict (``json.dumps(fs.to_json())`` works)."""
        return {"defines": list(self.defines), "references": list(self.references)}

    def dumps(self) -> str:
        """The compact JSON text of :meth:`to_json` (what the token cache stores)."""
        return json.dumps(self.to_json(), separators=(",", ":"))

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> FileSymbols:
        """Inverse of :meth:`to_json`; also accepts the dumped JSON text."""
        obj: Any = json.loads(data) if isinstance(data, str) else data
        if not isinstance(obj, Mapping):
            raise ValueError("FileSymbols JSON must be an object")
        defines, references = obj.get("defines", []), obj.get("references", [])
        if not all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in (defines, references)):
            raise ValueError("FileSymbols JSON needs string lists 'defines' and 'references'")
        return cls(tuple(defines), tuple(references))


_LANGUAGE_MEMO: dict[str, str | None] = {}  # by path: one build asks about each file several times
_LANGUAGE_MEMO_LIMIT = 1 << 18  # paths remembered; the memo restarts past it


def language_for(rel_path: str) -> str | None:
    """The tree-sitter language name for a path, or None when no grammar is wired up for it."""
    try:
        return _LANGUAGE_MEMO[rel_path]
    except KeyError:
        pass
    name = rel_path.replace("\\", "/").rsplit("/", 1)[-1].lower()
    dot = name.rfind(".")
    lang = _FILENAMES[name] if name in _FILENAMES else _EXTENSIONS.get(name[dot:]) if dot > 0 else None
    if len(_LANGUAGE_MEMO) >= _LANGUAGE_MEMO_LIMIT:
        _LANGUAGE_MEMO.clear()
    _LANGUAGE_MEMO[rel_path] = lang
    return lang


@cache
def _language(lang: str) -> Language:
    return get_language(lang)  # type: ignore[arg-type]


@cache
def _query(lang: str) -> Query:
    return Query(_language(lang), _QUERIES[lang])


# Parsers and cursors hold per-call state, so each thread gets its own.
_local = threading.local()


def _parser(lang: str) -> Parser:
    parsers: dict[str, Parser] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    parser = parsers.get(lang)
    if parser is None:
        parser = parsers[lang] = get_parser(lang)  # type: ignore[arg-type]
    return parser


def source_bytes(text: str) -> bytes:
    """The bytes a parse of ``text`` sees (and its byte offsets refer to)."""
    # surrogatepass keeps lone surrogates (from surrogateescape decoding) from raising.
    return text.encode("utf-8", "surrogatepass")


def parse(lang: str, text: str) -> tuple[Tree, bytes] | None:
    """Parse ``text`` with the grammar ``lang``; None when too big. Syntax errors still give a tree."""
    source = source_bytes(text)
    if len(source) > MAX_PARSE_BYTES:
        return None
    return _parser(lang).parse(source), source


def _names(nodes: Sequence[Node], source: bytes) -> set[str]:
    # Distinct byte strings first: most names recur, so far fewer decodes.
    return {name.decode("utf-8", "replace") for name in {source[n.start_byte : n.end_byte] for n in nodes}}


def extract_symbols(rel_path: str, text: str) -> FileSymbols:
    """Names defined in and referenced by one file; empty for unknown languages or huge inputs."""
    lang = language_for(rel_path)
    if lang is None:
        return FileSymbols()
    unparsed = symbols_without_parse(lang, text)
    return unparsed if unparsed is not None else _parsed_symbols(lang, text)


def _parsed_symbols(lang: str, text: str) -> FileSymbols:
    """The symbols from a parse: what the patterns capture (``symbols_without_parse`` must agree)."""
    parsed = parse(lang, text)
    if parsed is None:
        return FileSymbols()
    tree, source = parsed
    return symbols_from_captures(QueryCursor(_query(lang)).captures(tree.root_node), source)


def symbol_patterns(lang: str) -> str:
    """The tree-sitter patterns capturing ``@def`` and ``@ref`` names for ``lang``."""
    return _QUERIES[lang]


def symbols_without_parse(lang: str, text: str) -> FileSymbols | None:
    """The symbols the patterns would capture, where they can be had without a parse (Python, most files: see
    ``pysymbols``); None where a parse is needed."""
    if lang != "python":
        return None
    if len(text) * 4 > MAX_PARSE_BYTES and len(source_bytes(text)) > MAX_PARSE_BYTES:
        return FileSymbols()  # as a parse: too big to parse
    found = python_names(text)
    return None if found is None else symbols_from_names(*found)


def symbols_from_captures(captures: Mapping[str, Sequence[Node]], source: bytes) -> FileSymbols:
    """The file's symbols from the captures of ``symbol_patterns`` (other captures are ignored)."""
    return symbols_from_names(_names(captures.get("def", ()), source), _names(captures.get("ref", ()), source))


def symbols_from_names(defined: set[str], referenced: set[str]) -> FileSymbols:
    """The symbols from the names captured as definitions and references: short, dunder and noise names out."""
    defines = _meaningful_of(defined)
    references = _meaningful_of(referenced.difference(_NOISE))
    return FileSymbols(tuple(sorted(defines)), tuple(sorted(references)))


def _meaningful_of(names: set[str]) -> set[str]:
    """The names ``_meaningful`` keeps, its test inlined (a worker runs it on every name of every file)."""
    return {n for n in names if len(n) > 2 and (n[:2] != "__" or n[-2:] != "__")
            and (n.isidentifier() or n.rstrip("!?=").isidentifier())}


def _meaningful(name: str) -> bool:
    # Two-letter names (i, x, id, ok) and dunders (__init__) collide everywhere.
    return len(name) > 2 and not (name.startswith("__") and name.endswith("__")) and name.rstrip("!?=").isidentifier()
