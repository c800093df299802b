"""Secret values out of tool results before they enter the conversation and the session log.

The pack and ``read_file`` redact a file's secrets by that file's rules; search hits, diffs and command output
carry the same text and must not undo that. Each is scanned by the rules of where its text comes from: a
search hit or a diff section by its file's path; command output, whose provenance is unknown, by code rules
(quoted values, known token formats, private keys, high-entropy strings) plus config rules for unquoted
``key = value`` / ``key: value`` whose value is not a code expression: config rules alone would take
``token = make_token(user)`` for a secret wherever code is printed.

A private key's lines can come apart from its markers: a search hit is redacted by the findings of its whole
file (its block's range), and command output and diff hunks by ``keyruns`` (key-body lines without a BEGIN).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from v4agent.secrets.keyruns import key_line_spans
from v4agent.secrets.redact import redact_secrets
from v4agent.secrets.scan import SecretFinding, scan_secrets

__all__ = ["redact_diff", "redact_file", "redact_hit_lines", "redact_output"]

_OUTPUT_RULES = "output.txt"  # scanned as code: quoted values, token formats, keys
_CONFIG_RULES = "output.env"  # unquoted ``password = value`` too, but in code that value is an expression:
_CODE_VALUE = re.compile(r"[()\[\]{}]|^\w+\.\w|^(?:self|this|cls)\b")  # a call, an index, an attribute
# A name, not a value: raw_password, PasswordChangeForm, DEFAULT_PASSWORD_LIST (before "," or ")": an argument).
_KEYED = re.compile(r"[\w.-]+[\"']?\s*[:=]\s*")
_NAME = re.compile(r"[a-z][a-z_]*$|[A-Z][a-z]+(?:[A-Z][a-z]+)+$|[A-Z]+(?:_[A-Z]+)+$")
_NEW_PATH = re.compile(r"^\+\+\+ (?:b/)?(.+?)\s*$")


def _key_bodies(text: str) -> list[SecretFinding]:
    """Key-body lines that came without their BEGIN line (``keyruns``): only output and diffs need these."""
    return [SecretFinding(line, "private-key", start, end) for line, start, end in key_line_spans(text)]


def redact_output(text: str) -> tuple[str, int]:
    """Command output with its secret values replaced, and how many were found."""
    findings = scan_secrets(text, _OUTPUT_RULES) + _key_bodies(text)
    lines = text.split("\n")
    for finding in scan_secrets(text, _CONFIG_RULES):
        line = lines[finding.line - 1]
        # The span may hold the whole ``key = value`` when the value is short: judge what follows the sign.
        span = line[finding.start:finding.end]
        keyed = _KEYED.match(span)
        value = (span[keyed.end():] if keyed else span).strip("\"' ")
        before = line[:finding.end - len(value)].rstrip()[-1:]
        after = line[finding.end:].lstrip()[:1]
        if before in ("'", '"'):  # a quoted value is the code rules' to judge (they found it, or it is no secret)
            continue
        if not (_CODE_VALUE.search(value) or _NAME.match(value) or after in (",", ")")):
            findings.append(finding)
    return _apply(text, findings)


def redact_file(path: str, text: str) -> tuple[str, int]:
    """A whole file's text with its secret values replaced by its own rules (what the pack does)."""
    return _apply(text, scan_secrets(text, path))


def redact_hit_lines(path: str, text: str, numbers: Iterable[int]) -> tuple[dict[int, str], int]:
    """Search hits in one file: lines ``numbers`` (1-based) of ``text``, the whole file's text, redacted by the
    findings of the WHOLE file (a private key's body lines are secret only as part of their block), and how
    many findings those lines held."""
    findings = scan_secrets(text, path)
    wanted = set(numbers)
    lines = redact_secrets(text, findings).split("\n") if findings else text.split("\n")
    shown = {n: lines[n - 1] for n in sorted(wanted) if 0 < n <= len(lines)}
    count = len({(f.line, f.start, f.end) for f in findings if f.line in shown})
    return shown, count


def redact_diff(diff: str) -> tuple[str, int]:
    """A unified diff (git's or difflib's) with each file section scanned by that file's rules."""
    if not diff:
        return diff, 0
    lines = diff.split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith("--- ") and i + 1 < len(lines)
              and lines[i + 1].startswith("+++ ")]
    if not starts:
        return redact_output(diff)
    sections = [(0, starts[0])] if starts[0] else []
    sections += [(a, b) for a, b in zip(starts, [*starts[1:], len(lines)], strict=True)]
    count = 0
    out: list[str] = []
    for start, end in sections:
        text = "\n".join(lines[start:end])
        match = _NEW_PATH.match(lines[start + 1]) if start in starts else None
        path = match.group(1) if match and match.group(1) != "/dev/null" else _old_path(lines[start])
        redacted, found = _apply(text, scan_secrets(text, path) + _key_bodies(text)) if path else redact_output(text)
        out.append(redacted)
        count += found
    return "\n".join(out), count


def _old_path(line: str) -> str:  # a deleted file's section names it on the --- line only
    return line[4:].removeprefix("a/").strip() if line.startswith("--- ") and "/dev/null" not in line else ""


def _apply(text: str, findings: Sequence[SecretFinding]) -> tuple[str, int]:
    if not findings:
        return text, 0
    return redact_secrets(text, findings), len({(f.line, f.start, f.end) for f in findings})
