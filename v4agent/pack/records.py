"""The packer's public records: what was packed (and how), what was skipped (and why), a delta block."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DeltaBlock", "PackedFile", "SkippedFile"]


@dataclass(frozen=True)
class PackedFile:
    """One file in the pack: how it went in (full, redacted, skeleton or path only) and its token counts."""

    path: str
    mode: str  # "full" | "skeleton" | "path" | "redacted" (full, with secret values replaced)
    tokens: int  # tokens of the file's own piece in the text (0 when path-only: only its tree line)
    full_tokens: int = 0  # tokens it would take in full (what degrading saved); 0 for links
    size: int = 0  # bytes on disk
    language: str | None = None
    redactions: int = 0  # secret values replaced in it
    link_target: str | None = None  # for a symlink inside the repository


@dataclass(frozen=True)
class SkippedFile:
    """A file left out of the pack, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class DeltaBlock:
    """The files changed since a render, as one block of text to append, with its tokens and paths."""

    text: str  # "" when nothing changed
    tokens: int
    paths: tuple[str, ...]
