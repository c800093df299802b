"""A review rendered for people and machines: GitHub comment bodies, the summary, Markdown, JSON and SARIF 2.1.0."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from typing import Any

from v4agent import __version__
from v4agent.review.bodies import BODY_BUDGET, body_size, clip
from v4agent.review.findings import CATEGORIES, SEVERITIES, SUMMARY_MARKER, marker, marker_list
from v4agent.review.report import PlacedFinding, ReviewReport
from v4agent.review.sanitize import clean_line, clean_prose, clean_suggestion

SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub code scanning ranks security results by this property (CVSS-like scale).
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}
# The model's overall summary heads the review: a paragraph, not a place for a second report.
_SUMMARY_PROSE_BUDGET = 6_000
# At most this many cut-off fingerprints in the summary's marker list (17 characters each): more would crowd
# out the findings themselves; beyond it (the least severe) a re-run takes them for new.
_MAX_LISTED_MARKERS = 1_000


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


def comment_body(placed: PlacedFinding, *, budget: int = BODY_BUDGET) -> str:
    """The body of one inline review comment, ending with its hidden fingerprint marker.

    Every piece of model text is sanitised (``sanitize.py``); the suggestion alone goes out verbatim, inside
    a fence longer than any backtick run in it, so it cannot close the fence and write past it. The body is
    held under GitHub's limit (``bodies.py``): a suggestion that would not fit is left out whole, never cut.
    """
    f = placed.finding
    head = [f"**{f.severity}** · {f.category} — **{clean_line(f.title)}**", ""]
    return _finding_body(placed, head, budget)


def file_comment_body(placed: PlacedFinding, *, budget: int = BODY_BUDGET) -> str:
    """The body of a file-level comment: the lines it is about said in words, since it points at none."""
    f = placed.finding
    head = [f"**{f.severity}** · {f.category} — **{clean_line(f.title)}**", "",
            f"`{_posted_label(placed)}` (outside the diff's hunks)", ""]
    return _finding_body(placed, head, budget)


def _finding_body(placed: PlacedFinding, head: list[str], budget: int) -> str:
    tail = ["", marker(placed.fingerprint)]
    room = budget - body_size("\n".join([*head, *tail])) - body_size("\n")  # and the break before the prose
    prose = clip(clean_prose(placed.finding.body), max(0, room))
    parts = [*head, prose]
    suggestion = clean_suggestion(placed.finding.suggestion)
    if suggestion:
        text = suggestion if suggestion.endswith("\n") else suggestion + "\n"
        fence = _fence(text)
        label = f"{fence}suggestion" if placed.suggestion_block else f"Possible replacement:\n\n{fence}"
        block = ["", label, text.rstrip("\n"), fence]
        if body_size("\n".join([*parts, *block, *tail])) <= budget:
            parts += block
    return "\n".join([*parts, *tail])


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


def _remainder(count: int) -> str:
    return f"… and {count} more finding(s): see the SARIF/JSON output."


def _listed_items(listed: Sequence[PlacedFinding], used: int, budget: int) -> list[str]:
    """As many findings' items as fit after ``used``, then the remainder line and the rest's fingerprints.

    Findings come most severe first, so what a cut leaves out is the least severe. The cut-off ones still go
    into one marker list, so a re-run knows it said them already (``findings.marker_list``).
    """
    out: list[str] = []
    for index, placed in enumerate(listed):
        item = "\n".join(_outside_item(placed))
        rest = len(listed) - index - 1
        # What must still fit after this item if the next one does not: the remainder line and a marker list.
        reserve = 0 if rest == 0 else body_size(_remainder(rest)) + 17 * min(rest, _MAX_LISTED_MARKERS) + 40
        if used + body_size(item) + body_size("\n") + reserve > budget:
            skipped = listed[index:]
            room = budget - used - body_size(_remainder(len(skipped))) - 40
            fps = [p.fingerprint for p in skipped][: max(0, min(room // 17, _MAX_LISTED_MARKERS))]
            return [*out, _remainder(len(skipped)), "", marker_list(fps)]
        out.append(item)
        used += body_size(item) + body_size("\n")  # and the line break that joins it
    return out


def summary_body(report: ReviewReport, *, new_inline: int | None = None, file_comments: Collection[str] = (),
                 budget: int = BODY_BUDGET) -> str:
    """The review's summary (its body on GitHub): counts, figures, and the findings outside the diff.

    It starts with a hidden marker so a re-run finds and edits it instead of adding another. Findings whose
    fingerprint is in ``file_comments`` are posted as file-level comments and only counted here. The body is
    held under GitHub's limit: findings that do not fit are counted in a closing line that points to the
    SARIF/JSON output, which lists every one.
    """
    lines = [SUMMARY_MARKER, "## v4agent review", ""]
    if report.summary:
        lines += [clip(clean_prose(report.summary), _SUMMARY_PROSE_BUDGET), ""]
    lines += [f"**Findings:** {_counts_line(report)}", "", f"**Usage:** {_figures_line(report)}", ""]
    inline = len(report.inline)
    note = f"{inline} as line comments" if new_inline is None else f"{inline} as line comments ({new_inline} new)"
    as_files = [p for p in report.outside if p.fingerprint in file_comments]
    listed = [p for p in report.outside if p.fingerprint not in file_comments]
    if as_files:
        note += f", {len(as_files)} as file comments"
    lines += [f"Reviewed `{report.head[:12]}` against `{report.base[:12]}`: {note}, "
              f"{len(listed)} outside the diff (below).", ""]
    if report.skipped:
        lines += [skipped_line(report), ""]
    if listed:
        lines += ["### Outside the diff", ""]
        used = body_size("\n".join(lines)) + body_size("\n")
        lines += _listed_items(listed, used, budget)
    return "\n".join(lines).rstrip("\n") + "\n"


_MAX_SKIPPED_LISTED = 20


def skipped_line(report: ReviewReport) -> str:
    """How many earlier findings this run did not raise again, and why, with the first few named."""
    reasons: dict[str, int] = {}
    for item in report.skipped:
        reasons[item.reason] = reasons.get(item.reason, 0) + 1
    why = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
    lines = [f"**Not raised again:** {len(report.skipped)} earlier finding(s) that people settled ({why}):"]
    for item in report.skipped[:_MAX_SKIPPED_LISTED]:
        by = f" by @{clean_line(item.by)}" if item.by else ""
        lines.append(f"- `{_posted_label(item.placed)}` {clean_line(item.placed.finding.title)} ({item.reason}{by})")
    if len(report.skipped) > _MAX_SKIPPED_LISTED:
        lines.append(f"- … and {len(report.skipped) - _MAX_SKIPPED_LISTED} more")
    return "\n".join(lines)


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
    if report.skipped:
        lines += [skipped_line(report), ""]
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
        "skipped": [item.to_json() for item in report.skipped],
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
