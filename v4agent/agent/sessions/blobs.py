"""Large message contents of sessions, stored once by content hash beside the session files.

A session records every message it sends, so ``--resume`` can send a byte-identical prefix; the pack alone is
megabytes (about 4 MB for a 1M-token pack), and every session of a repository state sends the same one. So a
content above ``BLOB_MIN_CHARS`` goes to ``sessions/blobs/<sha256>.txt`` (written atomically and fsync'd
before the record that names it), and the message record holds ``{"blob": "<sha256>"}`` in its place: the
pack is stored once however many sessions use it, and listing sessions reads small lines.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from v4agent.core.errors import V4AgentError
from v4agent.core.fsutil import atomic_write_text

__all__ = ["BLOB_MIN_CHARS", "BlobMissing", "blob_refs", "inline_contents", "outline_contents"]

BLOB_MIN_CHARS = 16_384
BLOBS_DIR = "blobs"
_BLOB_REF = re.compile(r'"content"\s*:\s*\{\s*"blob"\s*:\s*"([0-9a-f]{64})"\s*\}')  # as outline_contents records it
_CACHE_ITEMS = 8  # contents kept in memory: listing sessions that share a pack reads it once

_cache: OrderedDict[tuple[Path, str], str] = OrderedDict()
_lock = threading.Lock()


class BlobMissing(V4AgentError):
    """A message record names a blob that is gone or damaged."""


def outline_contents(message: dict[str, Any], sessions_dir: Path) -> dict[str, Any]:
    """The message as recorded: a large string content moved to a blob (key order kept)."""
    content = message.get("content")
    if not isinstance(content, str) or len(content) < BLOB_MIN_CHARS:
        return message
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
    path = sessions_dir / BLOBS_DIR / f"{digest}.txt"
    if not path.exists():
        atomic_write_text(path, content)
    return {key: ({"blob": digest} if key == "content" else value) for key, value in message.items()}


def blob_refs(session_texts: Iterable[str]) -> set[str]:
    """The digests of the stored contents these session files' records name (pure)."""
    return {digest for text in session_texts for digest in _BLOB_REF.findall(text)}


def inline_contents(message: dict[str, Any], sessions_dir: Path) -> dict[str, Any]:
    """The message as sent: a blob reference replaced by its content (checked against its hash)."""
    content = message.get("content")
    if not (isinstance(content, dict) and set(content) == {"blob"}):
        return message
    digest = str(content["blob"])
    return {key: (_load(sessions_dir, digest) if key == "content" else value) for key, value in message.items()}


def _load(sessions_dir: Path, digest: str) -> str:
    key = (sessions_dir, digest)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    path = sessions_dir / BLOBS_DIR / f"{digest}.txt"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BlobMissing(f"{path} cannot be read ({exc.strerror or exc})") from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise BlobMissing(f"{path} is damaged: its content does not match its name")
    text = data.decode("utf-8")
    with _lock:
        _cache[key] = text
        while len(_cache) > _CACHE_ITEMS:
            _cache.popitem(last=False)
    return text
