"""The findings tool the model reports through, strict validation of what it sends, and fingerprints.

The model must call ``report_findings`` with a fixed schema. Anything invalid or partial is dropped with a
warning, never posted blind. Each posted finding carries a hidden HTML-comment marker with a fingerprint, so a
re-run on the same pull request recognises what it already said.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, cast

Severity = Literal["critical", "high", "medium", "low", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low", "info")  # most severe first
CATEGORIES: tuple[str, ...] = (
    "bug", "security", "performance", "concurrency", "error-handling", "api", "maintainability",
    "style", "tests", "docs",
)
TOOL_NAME = "report_findings"
_MAX_TITLE = 200
_MAX_BODY = 8_000
_MAX_SUGGESTION = 20_000

MARKER_PREFIX = "<!-- v4agent-review:fp="
SUMMARY_MARKER = "<!-- v4agent-review:summary -->"
_MARKER_RE = re.compile(r"<!-- v4agent-review:fp=([0-9a-f]{16}) -->")
# Many fingerprints in one marker: a capped summary still records the findings it had no room to list, so a
# re-run does not take them for new ones (17 characters each instead of 43).
_MARKER_LIST_RE = re.compile(r"<!-- v4agent-review:fps=((?:[0-9a-f]{16},)*[0-9a-f]{16}) -->")


@dataclass(frozen=True)
class Finding:
    """One problem the model reported: where it is, how severe, what it is, and an optional replacement."""

    path: str
    start_line: int
    end_line: int
    side: Literal["LEFT", "RIGHT"]
    severity: Severity
    category: str
    title: str
    body: str
    suggestion: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The finding as a JSON-ready dict, one key per field."""
        return asdict(self)


def severity_rank(severity: str) -> int:
    """0 for the most severe; raises ValueError for an unknown name."""
    return SEVERITIES.index(cast(Severity, severity))


def at_or_above(severity: str, threshold: str) -> bool:
    """True when ``severity`` is as severe as ``threshold`` or more."""
    return severity_rank(severity) <= severity_rank(threshold)


def findings_tool_schema() -> dict[str, Any]:
    """The OpenAI-style tool schema; byte-stable (it is part of the cached prefix)."""
    finding = {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "File path relative to the repository root, as in the diff."},
            "start_line": {"type": "integer", "minimum": 1, "description": "First line of the range."},
            "end_line": {"type": "integer", "minimum": 1, "description": "Last line (= start_line for one line)."},
            "side": {"type": "string", "enum": ["LEFT", "RIGHT"],
                     "description": "RIGHT: line numbers of the new file (head); LEFT: of the old file (base), "
                                    "for removed lines."},
            "severity": {"type": "string", "enum": list(SEVERITIES)},
            "category": {"type": "string", "enum": list(CATEGORIES)},
            "title": {"type": "string", "description": "One line, under 100 characters."},
            "body": {"type": "string", "description": "What is wrong and why, in Markdown."},
            "suggestion": {"type": "string",
                           "description": "Optional: the exact replacement text for lines start_line..end_line "
                                          "(RIGHT side), without fences. Omit when unsure."},
        },
        "required": ["path", "start_line", "end_line", "side", "severity", "category", "title", "body"],
        "additionalProperties": False,
    }
    return {
        "type": "function",
        "function": {
            "name": TOOL_NAME,
            "description": "Report every finding of this review in one call. Call it once, with an empty list "
                           "when the change has no problems.",
            "parameters": {
                "type": "object",
                "properties": {
                    "findings": {"type": "array", "items": finding},
                    "summary": {"type": "string", "description": "Two or three sentences on the change overall."},
                },
                "required": ["findings"],
                "additionalProperties": False,
            },
        },
    }


@dataclass(frozen=True)
class ParsedFindings:
    """The model's report after validation: accepted findings, its summary, and what was dropped and why."""

    findings: tuple[Finding, ...]
    summary: str
    warnings: tuple[str, ...]


def _check_int(item: Mapping[str, Any], key: str) -> int | str:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        # Models sometimes send "12": accept a plain decimal string, nothing looser.
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        return f"'{key}' must be an integer, got {value!r}"
    return value


_REQUIRED = ("path", "start_line", "end_line", "side", "severity", "category", "title", "body")


def _shape_problem(item: dict[str, Any]) -> str | None:
    """What is wrong with the item's fields as a whole (missing, unknown, not strings), or None."""
    missing = [k for k in _REQUIRED if k not in item or item[k] in (None, "")]
    if missing:
        return f"missing {', '.join(missing)}"
    unknown = sorted(set(item) - {*_REQUIRED, "suggestion"})
    if unknown:
        return f"unknown field(s) {', '.join(unknown)}"
    for key in ("path", "side", "severity", "category", "title", "body"):
        if not isinstance(item[key], str):
            return f"'{key}' must be a string"
    return None


def _line_range(item: Mapping[str, Any]) -> tuple[int, int] | str:
    start = _check_int(item, "start_line")
    end = _check_int(item, "end_line")
    if isinstance(start, str):
        return start
    if isinstance(end, str):
        return end
    if start < 1 or end < start:
        return f"bad line range {start}..{end}"
    return start, end


def _text_problem(title: str, body: str, suggestion: Any) -> str | None:
    if len(title) > _MAX_TITLE:
        return "title too long"
    if len(body) > _MAX_BODY:
        return "body too long"
    if suggestion is not None and not isinstance(suggestion, str):
        return "'suggestion' must be a string"
    if suggestion is not None and len(suggestion) > _MAX_SUGGESTION:
        return "suggestion too long"
    return None


def validate_finding(item: Any) -> Finding | str:
    """A Finding, or a message saying why the item is invalid."""
    if not isinstance(item, dict):
        return f"expected an object, got {type(item).__name__}"
    problem = _shape_problem(item)
    if problem:
        return problem
    path = item["path"].strip()
    if path.startswith(("a/", "b/")) and len(path) > 2:
        path = path[2:]
    if path.startswith("/") or ".." in path.split("/"):
        return f"path {path!r} is not relative to the repository"
    lines = _line_range(item)
    if isinstance(lines, str):
        return lines
    start, end = lines
    side = item["side"].strip().upper()
    if side not in ("LEFT", "RIGHT"):
        return f"side must be LEFT or RIGHT, got {item['side']!r}"
    severity = item["severity"].strip().lower()
    if severity not in SEVERITIES:
        return f"severity must be one of {', '.join(SEVERITIES)}, got {item['severity']!r}"
    category = item["category"].strip().lower()
    if category not in CATEGORIES:
        return f"category must be one of {', '.join(CATEGORIES)}, got {item['category']!r}"
    title = " ".join(item["title"].split())
    body = item["body"].strip()
    suggestion = item.get("suggestion")
    problem = _text_problem(title, body, suggestion)
    if problem:
        return problem
    return Finding(
        path=path, start_line=start, end_line=end, side=cast(Literal["LEFT", "RIGHT"], side),
        severity=cast(Severity, severity), category=category, title=title, body=body,
        suggestion=suggestion if suggestion else None,
    )


def parse_findings_call(arguments: str) -> ParsedFindings:
    """Validate one ``report_findings`` call's raw JSON arguments; drops bad items with a warning each."""
    try:
        payload = json.loads(arguments)
    except (ValueError, TypeError, RecursionError) as exc:  # not JSON, or nested past the decoder's depth
        return ParsedFindings((), "", (f"{TOOL_NAME}: arguments are not valid JSON ({exc}); call ignored",))
    if not isinstance(payload, dict) or not isinstance(payload.get("findings"), list):
        return ParsedFindings((), "", (f"{TOOL_NAME}: arguments lack a 'findings' list; call ignored",))
    summary = payload.get("summary")
    findings: list[Finding] = []
    warnings: list[str] = []
    for number, item in enumerate(payload["findings"], start=1):
        result = validate_finding(item)
        if isinstance(result, str):
            where = f" ({item.get('path')}:{item.get('start_line')})" if isinstance(item, dict) else ""
            warnings.append(f"finding {number}{where} dropped: {result}")
        else:
            findings.append(result)
    return ParsedFindings(tuple(findings), summary.strip() if isinstance(summary, str) else "", tuple(warnings))


def dedupe(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Drop exact repeats (same place, same title), keeping the first."""
    seen: set[tuple[str, int, int, str, str]] = set()
    out: list[Finding] = []
    for f in findings:
        key = (f.path, f.start_line, f.end_line, f.side, f.title.lower())
        if key not in seen:
            seen.add(key)
            out.append(f)
    return tuple(out)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first, then by path, lines and title (a stable order across runs)."""
    return sorted(findings, key=lambda f: (severity_rank(f.severity), f.path, f.start_line, f.end_line, f.title))


def fingerprint(finding: Finding, anchor_text: Sequence[str] = ()) -> str:
    """16 hex digits identifying a finding across re-runs.

    It hashes the path, side, category, normalised title and the commented lines' text (not their numbers),
    so a push that only shifts the lines does not make an old finding look new.
    """
    title = re.sub(r"[^a-z0-9]+", " ", finding.title.lower()).strip()
    anchor = "\n".join(line.strip() for line in anchor_text)
    if not anchor:
        anchor = f"{finding.start_line}-{finding.end_line}"
    material = "\x1f".join((finding.path, finding.side, finding.category, title, anchor))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]


def marker(fp: str) -> str:
    """The hidden HTML comment that tags a posted comment with the finding's fingerprint."""
    return f"{MARKER_PREFIX}{fp} -->"


def marker_list(fps: Iterable[str]) -> str:
    """One hidden HTML comment carrying several fingerprints; empty when there are none."""
    joined = ",".join(fps)
    return f"<!-- v4agent-review:fps={joined} -->" if joined else ""


def markers_in(text: str) -> set[str]:
    """Fingerprints carried by hidden markers in ``text`` (single markers and marker lists)."""
    found = set(_MARKER_RE.findall(text or ""))
    for listed in _MARKER_LIST_RE.findall(text or ""):
        found.update(listed.split(","))
    return found
