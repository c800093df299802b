"""Incremental re-review: what changed since the head the bot last reviewed, and what became of its comments.

The bot records the head it reviewed in its summary review (a hidden ``head=`` marker next to the summary
marker). On the next push:

- when that head is an ancestor of the new one, the review request keeps the whole pull request (its diff and
  files) and adds the diff since that head, marked as the focus; when it is not (a force-push, a rebase), the
  run is a full review and the summary says why;
- each of the bot's earlier line comments is followed from the commit it was made on to the new head: lines
  that changed or went away make it fixed (the bot replies "Fixed in <sha>" in its thread, through the REST
  reply endpoint docs.github.com/rest/pulls/comments#create-a-reply-for-a-review-comment); lines that did not
  keep it open, carried into this run's report under its old fingerprint so it is neither posted again nor
  forgotten when deciding whether changes are still requested.

Reading the git history is I/O here; following lines through a diff is pure (``follow``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, cast

from v4agent.core.git import GitError, run_git
from v4agent.review.context import ReviewLayout, redact_diff
from v4agent.review.findings import SEVERITIES, SUMMARY_MARKER, Finding, Severity, markers_in
from v4agent.review.github import GitHubClient, PullRef
from v4agent.review.gitrefs import ensure_commit
from v4agent.review.hunks import DiffError, DiffMap, FileDiff, parse_diff
from v4agent.review.identity import BotIdentity
from v4agent.review.report import PlacedFinding, ReviewReport

_HEAD_RE = re.compile(r"<!-- v4agent-review:head=([0-9a-f]{40}) -->")
_FIXED_RE = re.compile(r"<!-- v4agent-review:fixed=([0-9a-f]{16}) -->")
# The first line of the bot's own line comments (render.comment_body): "**high** · bug — **Title**".
_HEAD_LINE_RE = re.compile(r"^\*\*(" + "|".join(SEVERITIES) + r")\*\* · ([a-z-]+) — \*\*(.*)\*\*$")
_FOCUS_HEADING = "## Changes since the last review"


def head_marker(sha: str) -> str:
    """The hidden marker that records, in the summary review, the head commit the bot reviewed."""
    return f"<!-- v4agent-review:head={sha} -->"


def with_head(summary: str, sha: str) -> str:
    """The summary body with the head marker on the line after the summary marker."""
    if not summary.startswith(SUMMARY_MARKER):
        return summary
    return f"{SUMMARY_MARKER}\n{head_marker(sha)}{summary[len(SUMMARY_MARKER):]}"


def reviewed_head(body: str) -> str | None:
    """The head commit a summary body says it reviewed, or None."""
    found = _HEAD_RE.search(body or "")
    return found.group(1) if found else None


def fixed_marker(fp: str) -> str:
    """The hidden marker of the bot's "fixed" reply, so a later run does not reply twice."""
    return f"<!-- v4agent-review:fixed={fp} -->"


# ---- what the bot said before -------------------------------------------------------------------------

@dataclass(frozen=True)
class EarlierComment:
    """One of the bot's earlier line comments: where it was made (lines at its commit) and what it said."""

    id: int
    fingerprint: str
    path: str
    side: Literal["LEFT", "RIGHT"]
    start: int
    end: int
    commit: str
    severity: Severity
    category: str
    title: str
    body: str


@dataclass(frozen=True)
class Prior:
    """What the pull request holds from the bot's earlier runs."""

    last_head: str | None = None
    comments: tuple[EarlierComment, ...] = ()
    replied_fixed: frozenset[int] = frozenset()  # comment ids the bot already marked fixed


def _earlier_comment(comment: Mapping[str, Any]) -> EarlierComment | None:
    """The comment as an EarlierComment, or None when it is not one of the bot's line-comment findings."""
    if comment.get("in_reply_to_id") or comment.get("subject_type") == "file":
        return None
    body = str(comment.get("body") or "")
    fps = markers_in(body)
    head = _HEAD_LINE_RE.match(body.split("\n", 1)[0])
    # GitHub moves ``line``/``commit_id`` along with later pushes; the ``original_`` fields stay where the
    # comment was made, which is where its lines are read from.
    end = comment.get("original_line") or comment.get("line")
    start = comment.get("original_start_line") or comment.get("start_line") or end
    commit = comment.get("original_commit_id") or comment.get("commit_id")
    if len(fps) != 1 or head is None or not isinstance(end, int) or not isinstance(start, int) or not commit:
        return None
    side: Literal["LEFT", "RIGHT"] = "LEFT" if comment.get("side") == "LEFT" else "RIGHT"
    prose = body.split("\n", 2)[2] if body.count("\n") >= 2 else ""
    prose = re.sub(r"\n*<!-- v4agent-review:fp=[0-9a-f]{16} -->\s*$", "", prose)
    return EarlierComment(int(comment["id"]), next(iter(fps)), str(comment.get("path") or ""), side,
                          min(start, end), max(start, end), str(commit), cast(Severity, head.group(1)),
                          head.group(2), head.group(3), prose.strip())


def read_prior(client: GitHubClient, pull: PullRef, me: BotIdentity) -> Prior:
    """The head the bot last reviewed (its latest summary review's marker) and its earlier line comments.

    Only what the bot's own identity wrote counts: anyone can type a marker (``identity.py``).
    """
    last_head: str | None = None
    for review in client.list_reviews(pull):
        body = str(review.get("body") or "")
        if me.authored(review) and body.startswith(SUMMARY_MARKER):
            last_head = reviewed_head(body) or last_head
    comments: list[EarlierComment] = []
    replied: set[int] = set()
    for comment in client.list_review_comments(pull):
        if not me.authored(comment):
            continue
        if comment.get("in_reply_to_id") and _FIXED_RE.search(str(comment.get("body") or "")):
            replied.add(int(comment["in_reply_to_id"]))
        earlier = _earlier_comment(comment)
        if earlier is not None:
            comments.append(earlier)
    return Prior(last_head, tuple(comments), frozenset(replied))


# ---- the plan: incremental or full ----------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """How this run reviews: ``since`` is the last reviewed head when incremental (None: a full review)."""

    since: str | None = None
    increment: str = ""  # the diff since..head
    note: str = ""  # what the summary says about it

    @property
    def incremental(self) -> bool:
        """True when this run focuses on what changed since the last reviewed head."""
        return self.since is not None


def _is_ancestor(repo: Path, older: str, newer: str) -> bool:
    try:
        run_git(repo, "merge-base", "--is-ancestor", older, newer, ok=(0,))
    except GitError:
        return False
    return True


def _diff(repo: Path, older: str, newer: str, *, context: int = 3) -> str:
    out = run_git(repo, "diff", "--no-color", "--no-ext-diff", "-M", f"-U{context}", older, newer)
    return out.decode("utf-8", "replace")


def plan_review(repo: Path, last_head: str | None, head: str, *, full: bool = False) -> Plan:
    """Incremental when the last reviewed head is an ancestor of ``head``; else a full review, saying why."""
    if last_head is None or last_head == head:
        return Plan()
    if full:
        return Plan(note=f"Full review (asked for); the last review was of `{last_head[:12]}`.")
    if not ensure_commit(repo, last_head):
        return Plan(note=f"Full review: the last reviewed head `{last_head[:12]}` is not in the clone and could "
                         "not be fetched (a force-push GitHub no longer serves, or a shallow checkout).")
    if not _is_ancestor(repo, last_head, head):
        return Plan(note=f"Full review: the last reviewed head `{last_head[:12]}` is not an ancestor of "
                         f"`{head[:12]}` (the branch was force-pushed or rebased).")
    increment = _diff(repo, last_head, head)
    if not increment.strip():
        return Plan()  # a push that changed nothing: review it all again, as a re-run would
    return Plan(last_head, increment, f"Incremental review: the changes since the last reviewed head "
                                      f"`{last_head[:12]}`, with the whole pull request as context.")


def focus_layout(layout: ReviewLayout, plan: Plan) -> ReviewLayout:
    """The request with the increment appended to the pull request's message, marked as the focus.

    Only the last message changes: the cached prefix (system prompt, tools, pack) stays byte for byte.
    """
    if not plan.incremental or plan.since is None:
        return layout
    diff = redact_diff(plan.increment).rstrip("\n")
    longest = max((len(m) for m in re.findall(r"`+", diff)), default=0)
    fence = "`" * max(3, longest + 1)
    section = "\n".join([
        "", _FOCUS_HEADING, "",
        f"This pull request was reviewed before at commit {plan.since}. Focus this review on the changes "
        "since then, below; use the whole pull request above as context. Report problems in these changes, "
        "and problems elsewhere in the pull request only when these changes cause them; earlier findings on "
        "unchanged lines were already reported and are kept. Line numbers are those of the new file at the "
        "head, as in the diff above.", "",
        f"{fence}diff", diff, fence, "",
    ])
    last = dict(layout.messages[-1])
    content = str(last.get("content") or "")
    cut = content.rfind("\nNow review")
    last["content"] = content[:cut] + section + content[cut:] if cut >= 0 else content + section
    return replace(layout, messages=(*layout.messages[:-1], cast(Any, last)))


# ---- following earlier comments to the new head (pure) ------------------------------------------------

def follow(diff: FileDiff | None, start: int, end: int) -> tuple[int, int] | None:
    """Lines ``start..end`` of the old file in the new one, or None when any of them changed.

    ``diff`` is the file's part of a zero-context diff (``-U0``) from the comment's commit to the head; None
    means the file did not change. A hunk touching the range, or lines inserted inside it, count as a change.
    """
    if diff is None:
        return start, end
    if diff.status == "deleted" or diff.binary:
        return None
    shift = 0
    for hunk in diff.hunks:
        length = hunk.source_end - hunk.source_start + 1
        delta = (hunk.target_end - hunk.target_start + 1) - length
        if length:  # old lines source_start..source_end changed or removed
            if hunk.source_start <= end and hunk.source_end >= start:
                return None
            if hunk.source_end < start:
                shift += delta
        else:  # a pure insertion ("-5,0") goes after old line source_start
            if start <= hunk.source_start < end:
                return None  # new lines inside the range
            if hunk.source_start < start:
                shift += delta
    return start + shift, end + shift


@dataclass(frozen=True)
class Standing:
    """An earlier comment at the new head: fixed (its lines changed), or open at ``path:start-end``."""

    comment: EarlierComment
    fixed: bool
    path: str
    start: int
    end: int


def _same_remark(comment: EarlierComment, findings: Iterable[Finding]) -> bool:
    def norm(text: str) -> str:
        return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()

    return any(f.path == comment.path and f.category == comment.category and norm(f.title) == norm(comment.title)
               for f in findings)


def stand(repo: Path, comments: Sequence[EarlierComment], head: str) -> list[Standing]:
    """Each earlier RIGHT-side comment followed to ``head``; comments whose commit the clone lacks are skipped.

    A LEFT-side comment is about the base's removed lines, which no push to the branch changes: it stays.
    """
    diffs: dict[str, DiffMap | None] = {}
    out: list[Standing] = []
    for comment in comments:
        if comment.side != "RIGHT":
            out.append(Standing(comment, False, comment.path, comment.start, comment.end))
            continue
        if comment.commit not in diffs:
            try:
                diffs[comment.commit] = parse_diff(_diff(repo, comment.commit, head, context=0))
            except (GitError, DiffError):
                diffs[comment.commit] = None
        parsed = diffs[comment.commit]
        if parsed is None:
            continue
        changed = parsed.file(comment.path)
        moved = follow(changed, comment.start, comment.end)
        path = changed.path if changed is not None else comment.path
        if moved is None:
            out.append(Standing(comment, True, path, comment.start, comment.end))
        else:
            out.append(Standing(comment, False, path, *moved))
    return out


def carry(report: ReviewReport, standings: Sequence[Standing]) -> ReviewReport:
    """The report with the earlier findings that still apply added (under their old fingerprints)."""
    have = {p.fingerprint for p in report.placed}
    kept: list[PlacedFinding] = []
    for s in standings:
        c = s.comment
        if s.fixed or c.fingerprint in have:
            continue
        have.add(c.fingerprint)
        finding = Finding(s.path, s.start, s.end, c.side, c.severity, c.category, c.title,
                          c.body or "(reported in an earlier review)")
        kept.append(PlacedFinding(finding, c.fingerprint, True, False))
    if not kept:
        return report
    return replace(report, placed=(*report.placed, *kept))


def fixed_to_mark(standings: Sequence[Standing], prior: Prior, report: ReviewReport) -> list[EarlierComment]:
    """The earlier comments to mark fixed: lines changed, not already marked, and not reported again."""
    current = [p.finding for p in report.placed]
    return [s.comment for s in standings
            if s.fixed and s.comment.id not in prior.replied_fixed and not _same_remark(s.comment, current)]


def fixed_reply(head: str, fp: str) -> str:
    """The body of the bot's reply to a comment whose lines changed."""
    return (f"Fixed in {head}: the lines this comment is about have changed since it was posted "
            "(v4agent re-review). Reply here if the problem remains.\n\n" + fixed_marker(fp))


def mark_fixed(client: GitHubClient, pull: PullRef, head: str, comments: Sequence[EarlierComment]) -> int:
    """Reply "Fixed in <head>" in each comment's thread; the number of replies posted."""
    for comment in comments:
        client.reply_to_comment(pull, comment.id, fixed_reply(head, comment.fingerprint))
    return len(comments)


def open_prior(token: str, api_url: str, pull: PullRef, bot_login: str) -> Prior:
    """``read_prior`` with a client of its own (the run reads this before the model is asked anything)."""
    from v4agent.review.identity import resolve_identity

    with GitHubClient(token, api_url) as client:
        return read_prior(client, pull, resolve_identity(client, bot_login))


def settle(report: ReviewReport, prior: Prior, plan: Plan, repo: Path) -> tuple[ReviewReport, list[EarlierComment]]:
    """The report with the earlier findings that still apply (incremental runs), and the comments to mark fixed.

    The summary's prose starts with what kind of review this was and what became of the earlier comments.
    """
    standings = stand(repo, prior.comments, report.head) if prior.comments else []
    if plan.incremental:
        report = carry(report, standings)
    fixed = fixed_to_mark(standings, prior, report)
    notes = [plan.note] if plan.note else []
    if plan.incremental:
        kept = sum(1 for s in standings if not s.fixed)
        notes.append(f"{kept} earlier finding(s) on unchanged lines still apply.")
    if fixed:
        notes.append(f"{len(fixed)} earlier comment(s) marked fixed: their lines changed.")
    if notes:
        report = replace(report, summary="\n\n".join([" ".join(notes), report.summary]).strip())
    return report, fixed
