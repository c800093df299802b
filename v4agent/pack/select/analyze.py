"""One file's content facts: read it safely, decide whether it can be packed, find its secrets.

The result (``Analysis``) depends only on the path and the bytes, so it is cached by (path, blob SHA). The
secret scan is the costly part: the packer asks for it (``scan=False`` here, ``findings_*`` to cache it) only
for files whose content it emits.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from v4agent.pack.render import render_file
from v4agent.pack.select.classify import content_skip_reason, decode_text, sniff_bytes
from v4agent.secrets.redact import redact_secrets
from v4agent.secrets.scan import SecretFinding, scan_secrets

__all__ = [
    "Analysis",
    "ReadFailure",
    "analyze",
    "emitted_text",
    "findings_from_json",
    "findings_to_json",
    "full_piece_text",
    "read_bytes",
]


class ReadFailure(Exception):
    """The file could not be read as a regular file within the size limit; the message is the skip reason."""


@dataclass(frozen=True)
class Analysis:
    """What a file's content allows: why it is skipped (if it is), and the secrets found in it."""

    skip: str | None  # reason the content cannot be packed (binary, not UTF-8, generated, minified)
    findings: tuple[SecretFinding, ...] | None = ()  # None: not scanned (skipped anyway, or not yet needed)
    soft: bool = False  # the skip is a class ``--include`` may override (generated, minified)

    def to_json(self) -> str:
        """The analysis as the compact JSON text stored in the fact cache."""
        if self.skip is None and self.findings is None and not self.soft:
            return _PLAIN_TEXT  # most files: no json.dumps per file
        rows = None if self.findings is None else _rows(self.findings)
        return json.dumps({"skip": self.skip, "findings": rows, "soft": self.soft}, separators=(",", ":"))

    @classmethod
    def from_json(cls, data: str) -> Analysis:
        """An analysis read back from its ``to_json`` text."""
        obj = json.loads(data)
        rows = obj["findings"]
        return cls(obj["skip"], None if rows is None else _findings(rows), bool(obj["soft"]))

    def secret_summary(self) -> str:
        """The number and kinds of the secrets found, for a skip reason ("contains ...")."""
        kinds = sorted({f.kind for f in self.findings or ()})
        n = len(self.findings or ())
        return f"{n} secret{'s' if n != 1 else ''} ({', '.join(kinds)})"


_PLAIN_TEXT = json.dumps({"skip": None, "findings": None, "soft": False}, separators=(",", ":"))


def _rows(findings: tuple[SecretFinding, ...]) -> list[list[Any]]:
    return [[f.line, f.kind, f.start, f.end] for f in findings]


def _findings(rows: list[list[Any]]) -> tuple[SecretFinding, ...]:
    return tuple(SecretFinding(int(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows)


def findings_to_json(findings: tuple[SecretFinding, ...]) -> str:
    """Secret findings as the compact JSON text stored in the fact cache."""
    return json.dumps(_rows(findings), separators=(",", ":"))


def findings_from_json(data: str) -> tuple[SecretFinding, ...]:
    """Secret findings read back from their ``findings_to_json`` text."""
    return _findings(json.loads(data))


def read_bytes(full_path: str | Path, max_bytes: int) -> bytes:
    """The file's bytes; never follows a symlink and never reads more than ``max_bytes`` + 1."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(full_path, flags)
    except OSError as exc:
        raise ReadFailure(f"unreadable: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ReadFailure("not a regular file")
        if info.st_size > max_bytes:
            raise ReadFailure(f"larger than the size limit ({info.st_size:,} > {max_bytes:,} bytes)")
        # One read asking for one byte more than fstat's size usually returns the whole file (no second call
        # to see the end); any other length (it grew, shrank, or the read was cut short) reads on to the end.
        first = os.read(fd, min(info.st_size + 1, max_bytes + 1))
        chunks = [first]
        remaining = max_bytes + 1 - len(first)
        while first and remaining > 0 and len(first) != info.st_size:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        if len(data) > max_bytes:
            raise ReadFailure(f"larger than the size limit (> {max_bytes:,} bytes)")
        return data
    except OSError as exc:
        raise ReadFailure(f"unreadable: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def analyze(path: str, data: bytes, *, scan_skipped: bool = False, scan: bool = True) -> tuple[Analysis, str | None]:
    """The analysis (independent of options, so it caches by content) and the decoded text when it is text.

    Secrets are scanned unless the content is skipped anyway (``scan_skipped`` scans a soft-skipped file too,
    for an ``--include`` override) or ``scan`` is False (findings None: the caller scans when it needs them)."""
    reason = sniff_bytes(data)
    if reason is not None:
        return Analysis(reason, None), None
    text = decode_text(data)
    if text is None:
        return Analysis("not valid UTF-8 text", None), None
    reason = content_skip_reason(path, text)
    if reason is not None and not scan_skipped:
        return Analysis(reason, None, soft=True), text
    findings = tuple(scan_secrets(text, path)) if scan else None
    return Analysis(reason, findings, soft=reason is not None), text


def emitted_text(text: str, analysis: Analysis) -> str:
    """The text as it may appear in a prompt: secret values replaced."""
    return redact_secrets(text, analysis.findings) if analysis.findings else text


def full_piece_text(path: str, text: str, findings: tuple[SecretFinding, ...], fmt: str, lang: str) -> str:
    """A file's full piece as the pack emits it (here or on a worker): its text, secret values replaced."""
    return render_file(path, emitted_text(text, Analysis(None, findings)), "full", fmt, lang)
