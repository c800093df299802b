"""Posting a review on GitHub: line comments in one review, file-level comments, one summary kept up to date,
and the bot's own change requests dismissed once nothing at or above the threshold is left.

A re-run recognises what it said before by the fingerprint markers in its own posts only (``identity.py``), so
it posts nothing twice and edits its summary instead of adding another.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from v4agent.review.findings import SUMMARY_MARKER, at_or_above, markers_in
from v4agent.review.github import GitHubClient, GitHubError, PullRef
from v4agent.review.identity import BotIdentity, resolve_identity
from v4agent.review.incremental import with_head
from v4agent.review.render import comment_body, file_comment_body, summary_body
from v4agent.review.report import PlacedFinding, ReviewReport

# Each file comment is a request of its own, and GitHub asks integrators not to create content in bursts
# (docs.github.com/rest/using-the-rest-api/best-practices-for-using-the-rest-api#avoid-concurrent-requests):
# past this many in one run, the rest wait in the summary.
MAX_FILE_COMMENTS = 20


@dataclass(frozen=True)
class PostOutcome:
    """What posting did: the reviews created or updated, comment counts, the event used and warnings."""

    review_id: int | None  # the review created this run (None if nothing new was posted)
    summary_review_id: int | None
    new_comments: int
    already_posted: int
    summary_updated: bool
    event: str = ""
    warnings: tuple[str, ...] = ()
    file_comments: int = 0  # file-level comments posted this run
    dismissed: tuple[int, ...] = ()  # the bot's earlier change requests dismissed this run


@dataclass
class _Earlier:
    """What the bot posted on this pull request before: read from its own reviews and comments only."""

    commented: set[str] = field(default_factory=set)  # fingerprints in its line and file comments
    summarised: set[str] = field(default_factory=set)  # fingerprints in its summary reviews
    summary_review: dict[str, Any] | None = None  # its latest summary review
    change_requests: list[dict[str, Any]] = field(default_factory=list)  # its reviews still requesting changes

    @property
    def posted(self) -> set[str]:
        return self.commented | self.summarised


def _comment_payload(placed: PlacedFinding) -> dict[str, Any]:
    f = placed.finding
    payload: dict[str, Any] = {"path": f.path, "line": f.end_line, "side": f.side, "body": comment_body(placed)}
    if f.start_line < f.end_line:
        payload.update(start_line=f.start_line, start_side=f.side)
    return payload


def choose_event(findings: Sequence[PlacedFinding], request_changes_at: str | None) -> str:
    """REQUEST_CHANGES when a new finding reaches the policy's severity, else COMMENT."""
    if request_changes_at and any(at_or_above(p.finding.severity, request_changes_at) for p in findings):
        return "REQUEST_CHANGES"
    return "COMMENT"


def _earlier_posts(client: GitHubClient, pull: PullRef, me: BotIdentity) -> _Earlier:
    """The fingerprints the bot already posted, its latest summary review and its open change requests.

    Anyone can write the bot's markers into a comment or review: a marker counts only when the bot's
    identity wrote it, so another author can neither hide a finding nor have the bot edit their review.
    """
    earlier = _Earlier()
    for comment in client.list_review_comments(pull):
        if me.authored(comment):
            earlier.commented |= markers_in(str(comment.get("body") or ""))
    for review in client.list_reviews(pull):
        if not me.authored(review):
            continue
        body = str(review.get("body") or "")
        if body.startswith(SUMMARY_MARKER):
            earlier.summary_review = review  # the latest one wins
            earlier.summarised |= markers_in(body)
        if review.get("state") == "CHANGES_REQUESTED":
            earlier.change_requests.append(review)
    return earlier


def _post_file_comments(client: GitHubClient, pull: PullRef, commit_id: str, report: ReviewReport,
                        earlier: _Earlier, warnings: list[str]) -> set[str]:
    """File-level comments for the new findings on changed files outside the hunks; the fingerprints posted."""
    wanted = [p for p in report.outside if p.file_comment and p.fingerprint not in earlier.posted]
    if len(wanted) > MAX_FILE_COMMENTS:
        warnings.append(f"{len(wanted) - MAX_FILE_COMMENTS} finding(s) on changed files are listed in the summary: "
                        f"at most {MAX_FILE_COMMENTS} file comments are posted per run")
    posted: set[str] = set()
    for placed in wanted[:MAX_FILE_COMMENTS]:
        try:
            client.create_file_comment(pull, commit_id=commit_id, path=placed.finding.path,
                                       body=file_comment_body(placed))
        except GitHubError as exc:
            if exc.status != 422:
                raise
            warnings.append(f"GitHub refused a file comment on {placed.finding.path} ({exc.detail}); "
                            "it is listed in the summary")
            continue
        posted.add(placed.fingerprint)
    return posted


def _dismiss_stale(client: GitHubClient, pull: PullRef, commit_id: str, report: ReviewReport,
                   request_changes_at: str | None, earlier: _Earlier, warnings: list[str]) -> tuple[int, ...]:
    """Dismiss the bot's own change requests when this run finds nothing at or above the threshold.

    A change request blocks merging until it is dismissed or the same reviewer approves
    (docs.github.com/pull-requests/collaborating-with-pull-requests/reviewing-changes-in-pull-requests/
    about-pull-request-reviews); the bot never approves, so it dismisses its own once the reason is gone.
    Other reviewers' reviews are never touched.
    """
    if request_changes_at and any(at_or_above(p.finding.severity, request_changes_at) for p in report.placed):
        return ()
    threshold = f"at or above {request_changes_at}" if request_changes_at else "that requests changes"
    message = f"v4agent: no finding {threshold} remains at {commit_id[:12]}."
    dismissed: list[int] = []
    for review in earlier.change_requests:
        try:
            client.dismiss_review(pull, int(review["id"]), message)
        except GitHubError as exc:
            if exc.status not in (403, 404, 422):
                raise
            warnings.append(f"could not dismiss the earlier change request {review['id']}: {exc.detail}")
            continue
        dismissed.append(int(review["id"]))
    return tuple(dismissed)


def post_review(client: GitHubClient, pull: PullRef, commit_id: str, report: ReviewReport, *,
                request_changes_at: str | None = "high", bot_login: str = "") -> PostOutcome:
    """Post one review with the new line comments; edit the bot's earlier summary instead of adding another.

    ``bot_login`` names the account the token posts as; empty, it is asked of GitHub (``identity.py``).
    """
    me = resolve_identity(client, bot_login)
    earlier = _earlier_posts(client, pull, me)
    new_inline = [p for p in report.inline if p.fingerprint not in earlier.posted]
    new_any = [p for p in report.placed if p.fingerprint not in earlier.posted]
    already = len(report.placed) - len(new_any)
    event = choose_event(new_any, request_changes_at)
    warnings: list[str] = []
    filed = _post_file_comments(client, pull, commit_id, report, earlier, warnings)
    as_files = filed | {p.fingerprint for p in report.outside if p.file_comment and p.fingerprint in earlier.commented}
    summary = with_head(summary_body(report, new_inline=len(new_inline), file_comments=as_files), commit_id)
    review_id: int | None = None
    summary_id: int | None = None
    updated = False
    if earlier.summary_review is None:
        review_id = summary_id = _create(client, pull, commit_id, event, summary, new_inline, report, as_files,
                                         warnings)
    else:
        summary_id = int(earlier.summary_review["id"])
        if new_inline or (new_any and event == "REQUEST_CHANGES"):
            note = (f"v4agent review of `{commit_id[:12]}`: {len(new_inline)} new line comment(s); "
                    "the summary review above is updated.")
            review_id = _create(client, pull, commit_id, event, note, new_inline, report, as_files, warnings)
        if str(earlier.summary_review.get("body") or "") != summary:
            client.update_review(pull, summary_id, summary)
            updated = True
    dismissed = _dismiss_stale(client, pull, commit_id, report, request_changes_at, earlier, warnings)
    return PostOutcome(review_id, summary_id, len(new_inline), already, updated, event if review_id else "",
                       tuple(warnings), len(filed), dismissed)


def _create(client: GitHubClient, pull: PullRef, commit_id: str, event: str, body: str,
            inline: Sequence[PlacedFinding], report: ReviewReport, as_files: Collection[str],
            warnings: list[str]) -> int:
    try:
        review_id = client.create_review(pull, commit_id=commit_id, event=event, body=body,
                                         comments=[_comment_payload(p) for p in inline])["id"]
        return int(review_id)
    except GitHubError as exc:
        if exc.status != 422 or not inline:
            raise
    # GitHub disagreed with our reading of the diff (e.g. a local diff that differs from the PR's):
    # post nothing blind; move the line comments into the body and post once more.
    warnings.append("GitHub rejected the line comments (422); they are listed in the review body instead")
    moved = tuple(p if p not in inline else PlacedFinding(p.finding, p.fingerprint, False, False,
                                                          "GitHub rejected the line") for p in report.placed)
    fallback = with_head(summary_body(ReviewReport(report.base, report.head, moved, report.summary, report.stats,
                                                   report.warnings, skipped=report.skipped),
                                      file_comments=as_files), commit_id)
    if SUMMARY_MARKER not in body:
        fallback = fallback.replace(SUMMARY_MARKER + "\n", "", 1)
    return int(client.create_review(pull, commit_id=commit_id, event=event, body=fallback, comments=[])["id"])
