"""Workspace trust: which repositories' own configuration files the user has agreed to apply.

A repository is trusted for one exact content of its trust-relevant files (``TRUST_FILES``), keyed by its
real path, so a file that changes after the user said yes is asked about again. The store is
``$XDG_CONFIG_HOME/v4agent/trust.json``. The decision itself is pure (``decide``); reading the repository's
files and the store are the only I/O, at the edges.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from v4agent.core.fsutil import atomic_write_text

PROJECT_CONFIG_NAME = ".v4agent.toml"
# Every repository file that can change what v4agent does with the user's keys and machine; a file added
# here changes every repository's fingerprint, so each is asked about again.
# ``.mcp.json``: the MCP servers other agents read from a repository's root (their commands run here).
EXTENSION_FILES: tuple[str, ...] = (".mcp.json",)
TRUST_FILES: tuple[str, ...] = (PROJECT_CONFIG_NAME, *EXTENSION_FILES)
# Directories whose ``*.md`` files are trust-relevant too (custom command prompts, ``v4agent.extend.commands``).
# Absent, they add nothing, so a repository without them keeps its fingerprint.
TRUST_DIRS: tuple[str, ...] = (".v4agent/commands",)
STORE_NAME = "trust.json"
_STORE_VERSION = 1

TrustStatus = Literal["trusted", "declined", "new", "changed"]


def user_config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The user's v4agent config directory: ``$XDG_CONFIG_HOME/v4agent`` (or ``~/.config/v4agent``)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", str(Path.home()))) / ".config")
    return Path(base) / "v4agent"


def store_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the trust decisions are kept."""
    return user_config_dir(environ) / STORE_NAME


def repository_key(root: Path) -> str:
    """The store's key for a repository: its real path, so a symlink to it or a relative path is the same one."""
    return str(Path(root).resolve())


@dataclass(frozen=True)
class TrustFiles:
    """The trust-relevant files of one repository as read once: (name, bytes or None when absent)."""

    root: Path
    contents: tuple[tuple[str, bytes | None], ...]

    def get(self, name: str) -> bytes | None:
        """The bytes of ``name``, or None when the repository has no such file."""
        return dict(self.contents).get(name)

    @property
    def present(self) -> bool:
        """Whether any trust-relevant file exists."""
        return any(data is not None for _name, data in self.contents)

    @property
    def fingerprint(self) -> str:
        """A SHA-256 over every file's name and content (an absent file differs from an empty one).

        Files added to ``TRUST_FILES`` after the first (the extension files) count only when present, so a
        repository without them keeps the fingerprint its owner already trusted."""
        digest = hashlib.sha256()
        for name, data in self.contents:
            if data is None and name != PROJECT_CONFIG_NAME:
                continue
            digest.update(name.encode("utf-8") + b"\0")
            digest.update(b"-" if data is None else b"+" + str(len(data)).encode("ascii") + b"\0" + data)
        return digest.hexdigest()


@dataclass(frozen=True)
class UntrustedProject:
    """The settings an untrusted project file made that were not applied, and the state of its trust."""

    path: str
    root: str
    fingerprint: str  # of the repository's trust-relevant files as read: what a yes would trust
    settings: tuple[tuple[str, str], ...]  # (key, value as displayed, secrets masked)
    status: TrustStatus | None  # None: this run never trusts the repository's files

    @property
    def keys(self) -> tuple[str, ...]:
        """The ignored keys, in declaration order."""
        return tuple(key for key, _value in self.settings)

    @property
    def askable(self) -> bool:
        """Whether to ask the user: no decision was made for this content yet."""
        return self.status in ("new", "changed")

    def describe(self) -> str:
        """The ignored settings, one ``key = value`` a line, under a line saying why they matter."""
        changed = " (changed since it was trusted)" if self.status == "changed" else ""
        lines = [f"{self.path}{changed} sets keys that choose endpoints, keys, commands or approvals:"]
        lines += [f"  {key} = {value}" for key, value in self.settings]
        return "\n".join(lines)

    def warning(self, reason: str = "") -> str:
        """One line: which keys were ignored, why, and how to apply them."""
        keys = ", ".join(self.keys)
        if self.status is None:
            return f"ignored {keys} from {self.path}: {reason or 'this command never trusts the repository config'}"
        why = "it changed since it was trusted" if self.status == "changed" else "this repository is not trusted"
        return (f"ignored {keys} from {self.path} ({why}); review it and run "
                f"`v4agent trust {shlex.quote(self.root)}` to apply them")


def read_trust_files(root: Path) -> TrustFiles:
    """Read ``TRUST_FILES`` under ``root``; only regular files count (a FIFO or device is never read)."""
    found: list[tuple[str, bytes | None]] = []
    for name in TRUST_FILES:
        path = Path(root) / name
        found.append((name, path.read_bytes() if path.is_file() else None))
    for directory in TRUST_DIRS:
        found += _markdown_files(Path(root), directory)
    return TrustFiles(Path(root), tuple(found))


def _markdown_files(root: Path, directory: str) -> list[tuple[str, bytes | None]]:
    """The regular ``*.md`` files of ``directory`` (no component a link: such a directory is never loaded)."""
    path = root
    for part in directory.split("/"):
        path = path / part
        if path.is_symlink() or not path.is_dir():
            return []
    return [(f"{directory}/{entry.name}", entry.read_bytes()) for entry in sorted(path.iterdir())
            if entry.name.endswith(".md") and not entry.is_symlink() and entry.is_file()]


@dataclass(frozen=True)
class TrustEntry:
    """One recorded decision: the repository, the fingerprint it was made for, yes or no, and when."""

    path: str
    fingerprint: str
    trusted: bool
    at: str


def decide(entries: Mapping[str, TrustEntry], key: str, fingerprint: str) -> TrustStatus:
    """Trusted or declined when a decision was made for exactly this content; else new or changed (ask).

    "changed" is a trusted file that has changed since; a declined one that changed is simply new again.
    """
    entry = entries.get(key)
    if entry is None:
        return "new"
    if entry.fingerprint != fingerprint:
        return "changed" if entry.trusted else "new"
    return "trusted" if entry.trusted else "declined"


def parse_store(text: str) -> dict[str, TrustEntry]:
    """The entries of a store file; anything unreadable counts as no decision (never as trust)."""
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    raw = data.get("repositories") if isinstance(data, dict) else None
    if not isinstance(raw, dict):
        return {}
    entries: dict[str, TrustEntry] = {}
    for key, item in raw.items():
        if not isinstance(item, dict):
            continue
        fingerprint, trusted, at = item.get("sha256"), item.get("trusted"), item.get("at", "")
        if isinstance(fingerprint, str) and isinstance(trusted, bool) and isinstance(at, str):
            entries[key] = TrustEntry(key, fingerprint, trusted, at)
    return entries


def render_store(entries: Mapping[str, TrustEntry]) -> str:
    """The store file's text for ``entries``, sorted so rewrites are stable."""
    repositories = {key: {"sha256": e.fingerprint, "trusted": e.trusted, "at": e.at}
                    for key, e in sorted(entries.items())}
    return json.dumps({"version": _STORE_VERSION, "repositories": repositories}, indent=2) + "\n"


def load_store(environ: Mapping[str, str] | None = None) -> dict[str, TrustEntry]:
    """The recorded decisions; a missing or unreadable store means none."""
    try:
        return parse_store(store_path(environ).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return {}


def save_store(entries: Mapping[str, TrustEntry], environ: Mapping[str, str] | None = None) -> Path:
    """Write the store atomically (readers see the old or the new file); returns its path."""
    path = store_path(environ)
    atomic_write_text(path, render_store(entries), mode=0o600)
    return path


def trust_status(root: Path, environ: Mapping[str, str] | None = None) -> TrustStatus:
    """The decision for ``root``'s files as they are now."""
    return decide(load_store(environ), repository_key(root), read_trust_files(root).fingerprint)


def record_decision(root: Path, fingerprint: str, *, trusted: bool,
                    environ: Mapping[str, str] | None = None) -> TrustEntry:
    """Record yes or no for ``root`` with the fingerprint of the content the user was shown."""
    entries = load_store(environ)
    entry = TrustEntry(repository_key(root), fingerprint, trusted, datetime.now(UTC).isoformat(timespec="seconds"))
    entries[entry.path] = entry
    save_store(entries, environ)
    return entry


def trust_repository(root: Path, environ: Mapping[str, str] | None = None) -> TrustEntry:
    """Trust ``root``'s trust-relevant files exactly as they are now."""
    return record_decision(root, read_trust_files(root).fingerprint, trusted=True, environ=environ)
