"""A review's result as records: where each finding goes (inline comment or summary body) and the run's figures.

Pure: ``place_findings`` decides placement from the parsed diff and the file texts; rendering is in
``render.py`` and posting in ``run.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from v4agent.review.findings import SEVERITIES, Finding, fingerprint, sort_findings
from v4agent.review.hunks import DiffMap


@dataclass(frozen=True)
class PlacedFinding:
    """A finding with its fingerprint and where it goes: inline on the diff or in the summary body."""

    finding: Finding
    fingerprint: str
    inline: bool  # True: a review comment on the diff; False: listed in the summary body
    suggestion_block: bool  # True: the suggestion replaces exactly the commented lines
    reason: str = ""  # why it is not inline
    # Not inline, but on a file the pull request changes: GitHub takes a file-level comment there
    # (``subject_type: file``), so the finding need not wait in the summary.
    file_comment: bool = False

    def to_json(self) -> dict[str, Any]:
        """The finding's fields plus fingerprint, placement and, when not inline, why."""
        data = self.finding.to_json()
        data.update(fingerprint=self.fingerprint, inline=self.inline, suggestion_block=self.suggestion_block)
        if self.reason:
            data["outside_diff_reason"] = self.reason
        return data


@dataclass(frozen=True)
class SkippedFinding:
    """A finding not raised again: a person settled its thread on an earlier run (``memory.py``)."""

    placed: PlacedFinding
    reason: str  # "resolved", "won't fix", "thumbs-down" or "answered"
    by: str = ""  # who settled it, when GitHub says

    def to_json(self) -> dict[str, Any]:
        """The finding's JSON with why it was skipped and by whom."""
        return {**self.placed.to_json(), "skipped_because": self.reason, "settled_by": self.by}


@dataclass(frozen=True)
class ReviewStats:
    """The run's figures: model, calls, tokens, cache hits, pack size and cost."""

    model: str = ""
    calls: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0
    cache_hit_tokens: int | None = None  # None when the server did not report hits
    pack_tokens: int = 0
    cost_usd: float | None = None
    price_entry: str = ""

    @property
    def cache_hit_pct(self) -> float | None:
        """Percent of prompt tokens that hit the cache; None when unknown or no tokens were sent."""
        if self.cache_hit_tokens is None or self.prompt_tokens == 0:
            return None
        return 100.0 * self.cache_hit_tokens / self.prompt_tokens

    def to_json(self) -> dict[str, Any]:
        """The figures as a JSON-ready dict, the hit percentage rounded to 2 places."""
        return {
            "model": self.model, "calls": self.calls, "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens, "cache_hit_tokens": self.cache_hit_tokens,
            "cache_hit_pct": None if self.cache_hit_pct is None else round(self.cache_hit_pct, 2),
            "pack_tokens": self.pack_tokens, "cost_usd": self.cost_usd, "price_entry": self.price_entry,
        }


@dataclass(frozen=True)
class ReviewReport:
    """A whole review: the commits it covers, the placed findings, the summary, figures and warnings."""

    base: str
    head: str
    placed: tuple[PlacedFinding, ...]
    summary: str = ""
    stats: ReviewStats = field(default_factory=ReviewStats)
    warnings: tuple[str, ...] = ()
    # False when the model never reported its findings: "no findings" would then be a review that did not
    # happen, and a gate must not pass it.
    reported: bool = True
    # Findings of this run that people settled on an earlier one: not posted, gated or counted again.
    skipped: tuple[SkippedFinding, ...] = ()

    @property
    def inline(self) -> tuple[PlacedFinding, ...]:
        """Findings posted as comments on the diff."""
        return tuple(p for p in self.placed if p.inline)

    @property
    def outside(self) -> tuple[PlacedFinding, ...]:
        """Findings listed in the summary body (outside the diff or not placeable)."""
        return tuple(p for p in self.placed if not p.inline)

    def counts(self) -> dict[str, int]:
        """Findings per severity, every severity present (zero included)."""
        counts: dict[str, int] = dict.fromkeys(SEVERITIES, 0)
        for placed in self.placed:
            counts[placed.finding.severity] += 1
        return counts


def _lines(text: str | None) -> list[str] | None:
    return None if text is None else text.splitlines()


def place_findings(
    findings: Sequence[Finding],
    diff: DiffMap,
    head_files: Mapping[str, str],
    base_files: Mapping[str, str],
) -> tuple[PlacedFinding, ...]:
    """Decide for each finding whether GitHub will take it as a line comment, and fingerprint it.

    ``head_files``/``base_files`` map paths to file text at head/base (RIGHT/LEFT side), used for the
    fingerprint's anchor text and to check a suggestion against the lines it replaces.
    """
    placed: list[PlacedFinding] = []
    seen: set[str] = set()
    for finding in sort_findings(findings):
        source = head_files if finding.side == "RIGHT" else base_files
        lines = _lines(source.get(finding.path))
        anchor: Sequence[str] = ()
        if lines is not None and finding.end_line <= len(lines):
            anchor = lines[finding.start_line - 1:finding.end_line]
        fp = fingerprint(finding, anchor)
        if fp in seen:  # the same remark twice in one run
            continue
        seen.add(fp)
        hunk = diff.placement(finding.path, finding.side, finding.start_line, finding.end_line)
        reason = ""
        if diff.file(finding.path) is None:
            reason = "file not changed by this pull request"
        elif hunk is None:
            reason = "lines outside the diff's hunks"
        suggestion_block = (
            hunk is not None
            and finding.side == "RIGHT"
            and finding.suggestion is not None
            and bool(anchor)
            # A suggestion equal to the current lines would be a no-op "change": show none.
            and finding.suggestion.rstrip("\n").splitlines() != list(anchor)
        )
        on_changed_file = hunk is None and diff.file(finding.path) is not None
        placed.append(PlacedFinding(finding, fp, hunk is not None, suggestion_block, reason, on_changed_file))
    return tuple(placed)
