"""One analysed file's working record, and the reader that gives its text on first need."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from v4agent.pack.options import PackError
from v4agent.pack.select.analyze import Analysis, read_bytes
from v4agent.pack.select.discover import Entry, git_blob_sha

__all__ = ["FileReader", "Item"]


@dataclass
class Item:
    """A file the build analysed. Mutable on purpose: its secret scan and its text are filled in on first need,
    and most files never need either."""

    entry: Entry
    blob: str
    analysis: Analysis
    lang: str | None
    raw: str | None = None  # decoded text, when read (loaded lazily otherwise)
    path: str = field(init=False)  # the entry's path, relative to the pack root (read ~10 times per file a build)

    def __post_init__(self) -> None:
        self.path = self.entry.path


class FileReader:
    """Reads the build's files under its root: never through a symlink, never past the size limit."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.prefix = os.path.join(root, "")  # joined as strings: a Path object per file is the costlier way
        self.max_bytes = max_bytes

    def read(self, entry: Entry) -> bytes:
        """The file's bytes (``ReadFailure`` when it cannot be read as a regular file within the limit)."""
        return read_bytes(self.prefix + entry.path, self.max_bytes)

    def raw(self, item: Item) -> str:
        """The item's text, read on first need; a file whose content changed since its analysis stops the build."""
        if item.raw is None:
            data = self.read(item.entry)
            if git_blob_sha(data) != item.blob:
                raise PackError(f"{item.path} changed while it was being packed; run the pack again")
            item.raw = data.decode("utf-8")
        return item.raw
