"""Reading the small text files extensions come from (instruction files, command files), safely.

A repository's file is opened beneath the repository without following a link at any component
(``tools.safeopen``): a committed ``AGENTS.md`` that links to ``~/.ssh/id_rsa`` is refused, not read. A file
with more than one hard link is refused as well (it may be an outside file linked in), and so is anything but
a regular file. Secret values are redacted by the pack's own rules, so they never reach the prompt.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from v4agent.secrets.results import redact_file
from v4agent.tools.safeopen import open_dir, opened_root, read_at

MAX_FILE_BYTES = 64 * 1024  # an instruction or command file larger than this is cut, with a note


class FileRefused(OSError):
    """A file that is not read: a link, a hard-linked file, not a regular file, or not UTF-8."""


@dataclass(frozen=True)
class ReadText:
    """A file's text as it enters the prompt (secrets redacted, cut at ``MAX_FILE_BYTES``), and its size."""

    text: str
    size: int  # bytes on disk
    cut: bool  # the text was cut at MAX_FILE_BYTES
    redacted: int  # secret values replaced


def _decode(data: bytes, shown: str) -> ReadText:
    size = len(data)
    cut = size > MAX_FILE_BYTES
    if cut:
        data = data[:MAX_FILE_BYTES]
    try:
        text = data.decode("utf-8", errors="strict" if not cut else "ignore")
    except UnicodeDecodeError:
        raise FileRefused(f"{shown} is not UTF-8 text") from None
    text, redacted = redact_file(shown, text)
    return ReadText(text, size, cut, redacted)


def _single_link(info: os.stat_result) -> None:
    if info.st_nlink > 1:
        raise FileRefused("it has more than one hard link")


def read_repository_text(root: Path, rel: str) -> ReadText:
    """``rel`` (a path beneath ``root``), opened without following links; raises OSError (FileRefused)."""
    parent, _, name = rel.rpartition("/")
    with opened_root(root) as root_fd:
        dir_fd = open_dir(root_fd, parent)
        try:
            data, _info = read_at(dir_fd, name, _single_link)
        finally:
            os.close(dir_fd)
    return _decode(data, rel)


def read_user_text(path: Path) -> ReadText:
    """A file of the user's own config directory (the user's own: links are followed); raises OSError."""
    if not path.is_file():
        raise FileRefused(f"{path} is not a regular file")
    return _decode(path.read_bytes(), str(path))
