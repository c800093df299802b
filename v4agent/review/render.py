"""A review rendered for people and machines: GitHub comment bodies, the summary, Markdown, JSON and SARIF 2.1.0."""

from __future__ import annotations

import json
import re
from typing import Any

from v4agent import __version__
from v4agent.review.findings import CATEGORIES, SEVERITIES, SUMMARY_MARKER, marker
from v4agent.review.report import PlacedFinding, ReviewReport
from v4agent.review.sanitize import clean_line, clean_prose, clean_suggestion

SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub code scanning ranks security results by this property (CVSS-like scale).
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}


def _fence(text: str) -> str:
    """A backtick fence longer than any backtick run inside ``text``."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _lines_label(placed: PlacedFinding) -> str:
    f = placed.finding
    span = f"{f.start_line}" if f.start_line == f.end_line else f"{f.start_line}-{f.end_line}"
    side = " (old file)" if f.side == "LEFT" else ""
    return f"{f.path}:{span}{side}"


def _posted_label(placed: PlacedFinding) -> str:
    """``_lines_label`` with the model's path neutralised, for text posted on GitHub."""
    return clean_line(_lines_label(placed))


def comment_body(placed: PlacedFinding) -> str:
    """The body of one inline review comment, ending with its hidden fingerprint marker.

    Every piece of model text is sanitised (``sanitize.py``); the suggestion alone goes out verbatim, inside
    a fence longer than any backtick run in it, so it cannot close the fence and write past it.
    """
    f = placed.finding
    parts = [f"**{f.severity}** · {f.category} — **{clean_line(f.title)}**", "", clean_prose(f.body)]
    suggestion = clean_suggestion(f.suggestion)
    if suggestion:
        text = suggestion if suggestion.endswith("\n") else suggestion + "\n"
        fence = _fence(text)
        label = f"{fence}suggestion" if placed.suggestion_block else f"Possible replacement:\n\n{fence}"
        parts += ["", label, text.rstrip("\n"), fence]
    parts += ["", marker(placed.fingerprint)]
    return "\n".join(parts)


def _counts_line(report: ReviewReport) -> str:
    counts = report.counts()
    return " · ".join(f"{counts[s]} {s}" for s in SEVERITIES)


def _figures_line(report: ReviewReport) -> str:
    s = report.stats
    hit = "cache hit unknown" if s.cache_hit_pct is None else f"{s.cache_hit_pct:.1f}% cache hit"
    cost = "cost unknown" if s.cost_usd is None else f"${s.cost_usd:.4f}"
    entry = f" ({s.price_entry})" if s.price_entry else ""
    model = f" · model {s.model}" if s.model else ""
    return (f"{s.prompt_tokens:,} prompt tokens ({hit}) · {s.output_tokens:,} output tokens · "
            f"{s.calls} call(s) · {cost}{entry}{model}")


def _outside_item(placed: PlacedFinding) -> list[str]:
    f = placed.finding
    lines = [f"- **{f.severity}** · {f.category} · `{_posted_label(placed)}` — **{clean_line(f.title)}**", ""]
    lines += ["  " + line if line else "" for line in clean_prose(f.body).splitlines()]
    suggestion = clean_suggestion(f.suggestion)
    if suggestion:
        fence = _fence(suggestion)
        lines += ["", "  Possible replacement:", "", "  " + fence]
        lines += ["  " + line if line else "" for line in suggestion.rstrip("\n").splitlines()]
        lines += ["  " + fence]
    lines += ["  " + marker(placed.fingerprint), ""]
    return lines


def summary_body(report: ReviewReport, *, new_inline: int | None = None) -> str:
    """The review's summary (its body on GitHub): counts, figures, and the findings outside the diff.

    It starts with a hidden marker so a re-run finds and edits it instead of adding another.
    """
    lines = [SUMMARY_MARKER, "## v4agent review", ""]
    if report.summary:
        lines += [clean_prose(report.summary), ""]
    lines += [f"**Findings:** {_counts_line(report)}", "", f"**Usage:** {_figures_line(report)}", ""]
    inline = len(report.inline)
    note = f"{inline} as line comments" if new_inline is None else f"{inline} as line comments ({new_inline} new)"
    lines += [f"Reviewed `{report.head[:12]}` against `{report.base[:12]}`: {note}, "
              f"{len(report.outside)} outside the diff (below).", ""]
    if report.outside:
        lines += ["### Outside the diff", ""]
        for placed in report.outside:
            lines += _outside_item(placed)
    return "\n".join(lines).rstrip("\n") + "\n"


def render_markdown(report: ReviewReport) -> str:
    """A stand-alone Markdown report (stdout or -o FILE), without GitHub markers."""
    lines = ["# v4agent review", "", f"Base `{report.base}` · head `{report.head}`", ""]
    if report.summary:
        lines += [report.summary, ""]
    lines += [f"**Findings:** {_counts_line(report)}", "", f"**Usage:** {_figures_line(report)}", ""]
    for placed in report.placed:
        f = placed.finding
        where = "" if placed.inline else f" — outside the diff ({placed.reason})"
        lines += [f"## [{f.severity}] {f.title}", "", f"`{_lines_label(placed)}` · {f.category}{where}", "", f.body, ""]
        if f.suggestion:
            fence = _fence(f.suggestion)
            lines += ["Suggested replacement:", "", fence, f.suggestion.rstrip("\n"), fence, ""]
    if not report.placed:
        lines += ["No findings.", ""]
    if report.warnings:
        lines += ["## Warnings", ""] + [f"- {w}" for w in report.warnings] + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


def render_json(report: ReviewReport) -> str:
    """The whole report as indented JSON with sorted keys."""
    data = {
        "base": report.base,
        "head": report.head,
        "summary": report.summary,
        "counts": report.counts(),
        "stats": report.stats.to_json(),
        "findings": [p.to_json() for p in report.placed],
        "warnings": list(report.warnings),
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _rule_id(category: str) -> str:
    return f"v4agent/{category}"


def render_sarif(report: ReviewReport) -> str:
    """SARIF 2.1.0 for GitHub code scanning. LEFT-side findings (old lines) carry no region."""
    rules = [{
        "id": _rule_id(category),
        "name": category.title().replace("-", ""),
        "shortDescription": {"text": f"v4agent review: {category}"},
        "properties": {"tags": ["v4agent", category]},
    } for category in CATEGORIES]
    rule_index = {category: i for i, category in enumerate(CATEGORIES)}
    results: list[dict[str, Any]] = []
    for placed in report.placed:
        f = placed.finding
        location: dict[str, Any] = {"artifactLocation": {"uri": f.path, "uriBaseId": "%SRCROOT%"}}
        if f.side == "RIGHT":
            location["region"] = {"startLine": f.start_line, "endLine": f.end_line}
        text = f"{f.title}\n\n{f.body}"
        if f.side == "LEFT":
            text += f"\n\n(Lines {f.start_line}-{f.end_line} of the base version of the file.)"
        properties: dict[str, Any] = {"severity": f.severity, "side": f.side, "inline": placed.inline}
        if f.category == "security":
            properties["security-severity"] = _SECURITY_SEVERITY[f.severity]
        if f.suggestion:
            properties["suggestion"] = f.suggestion
        results.append({
            "ruleId": _rule_id(f.category),
            "ruleIndex": rule_index[f.category],
            "level": _SARIF_LEVEL[f.severity],
            "message": {"text": text},
            "locations": [{"physicalLocation": location}],
            "partialFingerprints": {"v4agentFinding/v1": placed.fingerprint},
            "properties": properties,
        })
    sarif = {
        "$schema": SARIF_SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "v4agent-review",
                "version": __version__,
                "informationUri": "https://pypi.org/project/v4agent/",
                "rules": rules,
            }},
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The repository root."}}},
            "results": results,
            "properties": {"base": report.base, "head": report.head, "stats": report.stats.to_json()},
        }],
    }
    return json.dumps(sarif, indent=2, sort_keys=False) + "\n"


def render(report: ReviewReport, fmt: str) -> str:
    """The report in ``fmt``: markdown, json or sarif; raises ValueError for another."""
    if fmt == "markdown":
        return render_markdown(report)
    if fmt == "json":
        return render_json(report)
    if fmt == "sarif":
        return render_sarif(report)
    raise ValueError(f"unknown format {fmt!r}; choose markdown, json or sarif")
