"""The change a ``--github`` run reviews: the event's commits present in the clone, the merge base, the diff.

The diff is GitHub's own (``application/vnd.github.diff``), so comments anchor where GitHub will take them.
GitHub refuses that representation for a large pull request: 406 ``too_large`` above 300 files or 20,000
lines (``GitHubError.diff_too_large``). The review then diffs the clone from the merge base to the head,
which is what GitHub's diff is ("three-dot", ``gitrefs.py``), with no size limit. The paginated
``GET /pulls/{n}/files`` is not used for this: it stops at 3,000 files, omits the patch of a large file
(docs.github.com/rest/pulls/pulls#list-pull-requests-files), and once a page's patches reach about 20,000
lines it answers the rest with zero counts and no patch, marked nowhere (github.com/orgs/community/
discussions/213491); the review needs the commits in the clone anyway, to read the changed files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from v4agent.review.actions import PullRequestEvent
from v4agent.review.github import GitHubClient, GitHubError
from v4agent.review.gitrefs import ensure_commit, merge_base
from v4agent.review.run import ReviewError, ReviewInput, range_diff

_FETCH_HINT = ("check out with `fetch-depth: 0`; the review fetches a missing commit from `origin` "
               "(a fork's head as refs/pull/N/head), which needs the checkout's credentials")


@dataclass(frozen=True)
class PullInput:
    """The change to review, and what was done to get it that the user should hear about."""

    change: ReviewInput
    notes: tuple[str, ...] = ()


def _commits(repo: Path, event: PullRequestEvent) -> tuple[str, str]:
    """(merge base, head): each fetched from ``origin`` when the clone lacks it."""
    head_refs = (f"refs/pull/{event.pull.number}/head",)
    base_refs = (f"refs/heads/{event.base_ref}",) if event.base_ref else ()
    for sha, refs, what in ((event.head_sha, head_refs, "head"), (event.base_sha, base_refs, "base")):
        if not ensure_commit(repo, sha, refs):
            raise ReviewError(f"the pull request's {what} commit {sha[:12]} is not in the clone and could not be "
                              "fetched", hint=_FETCH_HINT)
    found = merge_base(repo, event.base_sha, event.head_sha)
    if found is None:
        raise ReviewError(f"no merge base of {event.base_sha[:12]} and {event.head_sha[:12]} in the clone",
                          hint=_FETCH_HINT)
    return found, event.head_sha


def pull_input(repo: Path, event: PullRequestEvent) -> PullInput:
    """The pull request of ``event`` as a ReviewInput whose base is the merge base; GitHubError passes through."""
    base, head = _commits(repo, event)
    notes: list[str] = []
    with GitHubClient(event.token, event.api_url) as client:
        try:
            diff_text = client.get_pull_diff(event.pull)
        except GitHubError as exc:
            if not exc.diff_too_large:
                raise
            notes.append(f"GitHub would not send the diff ({exc.detail}); reviewing the clone's diff from the "
                         f"merge base {base[:12]} instead")
            diff_text = range_diff(repo, base, head)
    if base != event.base_sha:
        notes.append(f"the base branch is at {event.base_sha[:12]}; the pull request's diff, and this review, "
                     f"start at the merge base {base[:12]}")
    return PullInput(ReviewInput(repo, base, head, event.title, event.description, diff_text), tuple(notes))
