"""Why a file stays out of the pack (pure): by its name first (nothing is read), then by its bytes."""

from __future__ import annotations

import functools
from collections.abc import Sequence

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
    if is_secret_path(path):
        return "secret file (by name)"
    if matches_globs(path, include):
        return None
    parts = path.split("/")
    name = parts[-1].lower()
    if name in _LOCKFILES:
        return "lockfile"
    if name.endswith(_GENERATED_SUFFIXES):
        return "generated or minified (by name)"
    if any(part in _VENDOR_DIRS for part in parts[:-1]):
        return "vendored or tool directory"
    return None


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
