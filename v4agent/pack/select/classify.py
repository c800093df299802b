"""Why a file stays out of the pack (pure): by its name first (nothing is read), then by its bytes."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TypeVar

import pathspec

from v4agent.secrets.scan import is_secret_path

__all__ = ["content_skip_reason", "decode_text", "matches_globs", "path_skip_reason", "sniff_bytes"]

_LOCKFILES = frozenset({
    "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb", "bun.lock",
    "poetry.lock", "pipfile.lock", "pdm.lock", "uv.lock", "cargo.lock", "gemfile.lock", "composer.lock",
    "go.sum", "flake.lock", "mix.lock", "pubspec.lock", "podfile.lock", "packages.lock.json", "gradle.lockfile",
    "conda-lock.yml", "deno.lock",
})  # fmt: skip
_GENERATED_SUFFIXES = (".min.js", ".min.css", ".min.mjs", ".js.map", ".css.map", ".map", "_pb2.py", "_pb2.pyi",
                       "_pb2_grpc.py", ".pb.go", ".pb.cc", ".pb.h", ".g.dart", ".designer.cs")  # fmt: skip
_VENDOR_DIRS = frozenset({"node_modules", "vendor", "third_party", "thirdparty", "bower_components", ".venv",
                          "venv", "site-packages", "__pycache__", ".tox", ".mypy_cache", ".pytest_cache",
                          ".ruff_cache", ".gradle", ".idea"})  # fmt: skip
_MINIFIABLE = (".js", ".mjs", ".cjs", ".css")
_SNIFF_BYTES = 8192
_V = TypeVar("_V")
# How a pack's text begins (``render._HEADER``): an earlier pack written into the repository is not source.
_PACK_OUTPUT_STARTS = ("This is a packed copy of a software repository:",
                       "# Packed repository\n\nThis is a packed copy of a software repository:")


@functools.lru_cache(maxsize=64)
def _spec(globs: tuple[str, ...]) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines(globs)


def matches_globs(path: str, globs: Sequence[str]) -> bool:
    """Whether ``path`` matches any of the gitignore-style ``globs`` (False when there are none)."""
    return bool(globs) and _spec(tuple(globs)).match_file(path)


def path_skip_reason(path: str, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> str | None:
    """Reason to skip a file by its path alone, or None. ``--exclude`` wins; ``--include`` overrides the
    lockfile/generated/vendored classes, never the secret class."""
    if matches_globs(path, exclude):
        return "excluded by --exclude"
    cut = path.rfind("/")
    if _secret_by_name(path, cut):
        return "secret file (by name)"
    if matches_globs(path, include):
        return None
    by_name = _name_reason(path[cut + 1:])
    if by_name is not None:
        return by_name
    if cut >= 0 and _vendored(path[:cut]):
        return "vendored or tool directory"
    return None


# Memos of the parts of ``path_skip_reason`` (pure, asked once per file per build: at 100k files the name and
# directory rules cost more than the rest of the classification). Each restarts past _MEMO_LIMIT entries.
_MEMO_LIMIT = 1 << 16
_SECRET_MEMO: dict[str, bool] = {}  # by the path's last two components: all ``is_secret_path`` looks at
_NAME_MEMO: dict[str, str | None] = {}  # by file name
_DIR_MEMO: dict[str, bool] = {}  # by directory


def _remember(memo: dict[str, _V], key: str, value: _V) -> _V:
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[key] = value
    return value


def _secret_by_name(path: str, cut: int) -> bool:
    if "\\" in path:  # ``is_secret_path`` reads a backslash as a separator: no tail of "/" alone is enough
        return is_secret_path(path)
    tail = path[path.rfind("/", 0, cut) + 1:] if cut > 0 else path
    found = _SECRET_MEMO.get(tail)
    return _remember(_SECRET_MEMO, tail, is_secret_path(tail)) if found is None else found


def _name_reason(name: str) -> str | None:
    try:
        return _NAME_MEMO[name]
    except KeyError:
        pass
    lower = name.lower()
    reason = ("lockfile" if lower in _LOCKFILES else
              "generated or minified (by name)" if lower.endswith(_GENERATED_SUFFIXES) else None)
    return _remember(_NAME_MEMO, name, reason)


def _vendored(directory: str) -> bool:
    found = _DIR_MEMO.get(directory)
    if found is None:
        found = _remember(_DIR_MEMO, directory, any(part in _VENDOR_DIRS for part in directory.split("/")))
    return found


def sniff_bytes(head: bytes) -> str | None:
    """Reason to skip from the first bytes (binary: a NUL byte), or None."""
    return "binary" if b"\0" in head[:_SNIFF_BYTES] else None


def decode_text(data: bytes) -> str | None:
    """The file's text, or None when it is not valid UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def content_skip_reason(path: str, text: str, include: Sequence[str] = ()) -> str | None:
    """Reason to skip by content (minified or marked generated), or None; ``--include`` overrides."""
    if matches_globs(path, include):
        return None
    head = text[:2048]
    if head.startswith(_PACK_OUTPUT_STARTS):  # `v4agent pack -o pack.xml` inside the repository, packed again
        return "a packed copy of a repository (v4agent pack output)"
    if "@generated" in head or "DO NOT EDIT" in head:
        return "generated (marked in the file)"
    if path.lower().endswith(_MINIFIABLE) and len(text) > 2000:
        lines = text.count("\n") + 1
        if len(text) / lines > 300 or max(len(line) for line in text.split("\n")) > 5000:
            return "minified"
    return None
