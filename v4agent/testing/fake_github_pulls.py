"""A pull request fake GitHub serves, and its review endpoints, checked as GitHub checks them.

The rules, each from docs.github.com/rest/pulls/reviews and /rest/pulls/comments unless said otherwise:

- ``commit_id`` may be any commit of the pull request ("Not using the latest commit SHA may render your
  review comment outdated"); a comment's lines are checked against the diff at that commit.
- A line comment names ``line`` and ``side``, or the closing-down ``position``, which is still accepted.
  A multi-line comment's ``start_line``/``start_side`` may lie on the other side of the diff from its end
  (a range from a removed line to an added one), but both ends lie in one hunk and the start comes first.
- ``subject_type: file`` (``POST /pulls/{n}/comments`` only) comments on a whole file of the diff.
- A review needs a body for ``REQUEST_CHANGES`` and ``COMMENT``; nobody requests changes on, or approves,
  their own pull request.
- Only an APPROVED or CHANGES_REQUESTED review can be dismissed (422 "Can not dismiss a commented pull
  request review", as GitHub words it), and only by someone with write access (docs.github.com/
  pull-requests/collaborating-with-pull-requests/reviewing-changes-in-pull-requests/dismissing-a-pull-
  request-review); a review's body is edited by its author alone.
- A body is at most 65,536 characters: 422 "Body is too long (maximum is 65536 characters)".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from v4agent.testing.fake_github_diff import FileDiff, Row, parse
from v4agent.testing.fake_github_objects import (
    CREATED_AT,
    WEB,
    FakeAccount,
    comment_links,
    pull_links,
    repository_json,
    review_links,
)

DOCS = "https://docs.github.com/rest/pulls/reviews"
COMMENTS_DOCS = "https://docs.github.com/rest/pulls/comments"
MAX_BODY = 65_536
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_STATES = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}
Answer = tuple[int, Any]


@dataclass
class FakePull:
    """One pull request the fake serves, with its commits and the reviews and comments posted to it."""

    owner: str
    repo: str
    number: int
    head_sha: str
    base_sha: str
    diff: str
    title: str = ""
    body: str = ""
    author: str = "octocat"
    from_fork: bool = False
    reviews: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    diffs: dict[str, str] = field(default_factory=dict)  # commit -> the pull request's diff at that commit
    dismissals: dict[int, str] = field(default_factory=dict)  # review id -> the dismissal's message
    resolved: dict[int, str] = field(default_factory=dict)  # a thread's first comment id -> who resolved it
    reactions: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # comment id -> its reactions

    def __post_init__(self) -> None:
        self.diffs.setdefault(self.head_sha, self.diff)

    def push(self, head_sha: str, diff: str) -> None:
        """A new head commit (a push to the branch); the earlier ones stay commits of the pull request."""
        self.head_sha, self.diff = head_sha, diff
        self.diffs[head_sha] = diff


@dataclass(frozen=True)
class Site:
    """What the endpoints need of the fake around them: its API URL and its id counter."""

    api_url: str
    next_id: Callable[[], int]

    def pull_url(self, pull: FakePull) -> str:
        """The pull request's API URL."""
        return f"{self.api_url}/repos/{pull.owner}/{pull.repo}/pulls/{pull.number}"

    def html_url(self, pull: FakePull) -> str:
        """The pull request's web page."""
        return f"{WEB}/{pull.owner}/{pull.repo}/pull/{pull.number}"


def unprocessable(*errors: str) -> Answer:
    """422 as the review endpoints send it (``validation-error-simple``: the errors are strings)."""
    return 422, {"message": "Unprocessable Entity", "errors": list(errors), "documentation_url": DOCS,
                 "status": "422"}


def _comment_invalid(field_name: str, message: str) -> Answer:
    """422 as ``POST /pulls/{n}/comments`` sends it (``validation-error``: each error an object with a code)."""
    return 422, {"message": "Validation Failed", "documentation_url": COMMENTS_DOCS, "status": "422",
                 "errors": [{"resource": "PullRequestReviewComment", "code": "custom", "field": field_name,
                             "message": message}]}


def _too_long(text: Any) -> bool:
    return isinstance(text, str) and len(text) > MAX_BODY


def _rows(comment: dict[str, Any], diff: FileDiff) -> tuple[Row, Row] | str:
    """The (first, last) rows a line comment covers, or what is wrong with its lines."""
    position = comment.get("position")
    if "line" not in comment and position is not None:
        if isinstance(position, bool) or not isinstance(position, int):
            return "position must be an integer"
        row = diff.at_position(position)
        if row is None or (row.left is None and row.right is None):
            return "pull_request_review_thread.position is invalid"
        return row, row
    line, side = comment.get("line"), comment.get("side", "RIGHT")
    if isinstance(line, bool) or not isinstance(line, int):
        return "line is required and must be an integer"
    if side not in ("LEFT", "RIGHT"):
        return f"side must be LEFT or RIGHT, got {side!r}"
    end = diff.row(side, line)
    if end is None:
        return "pull_request_review_thread.line must be part of the diff"
    start_line = comment.get("start_line")
    if start_line is None:
        return "start_side requires start_line" if "start_side" in comment else (end, end)
    start_side = comment.get("start_side", side)
    if isinstance(start_line, bool) or not isinstance(start_line, int):
        return "start_line must be an integer"
    if start_side not in ("LEFT", "RIGHT"):
        return f"start_side must be LEFT or RIGHT, got {start_side!r}"
    start = diff.row(start_side, start_line)
    if start is None or start.hunk != end.hunk:
        return "pull_request_review_thread.start_line must be part of the same hunk as the line."
    if start.position >= end.position:
        return "pull_request_review_thread.start_line must precede the end line"
    return start, end


def _comment_json(site: Site, pull: FakePull, review_id: int | None, author: dict[str, Any], commit_id: str,
                  comment: dict[str, Any], diff: FileDiff, rows: tuple[Row, Row] | None) -> dict[str, Any]:
    comment_id = site.next_id()
    url = f"{site.api_url}/repos/{pull.owner}/{pull.repo}/pulls/comments/{comment_id}"
    html = f"{site.html_url(pull)}#discussion_r{comment_id}"
    data: dict[str, Any] = {
        "url": url, "id": comment_id, "node_id": f"PRRC_{comment_id}", "pull_request_review_id": review_id,
        "path": diff.path, "commit_id": commit_id, "original_commit_id": commit_id, "user": author,
        "body": comment["body"], "created_at": CREATED_AT, "updated_at": CREATED_AT, "html_url": html,
        "pull_request_url": site.pull_url(pull), "author_association": "CONTRIBUTOR",
        "_links": comment_links(url, site.pull_url(pull), html),
        "subject_type": "file" if rows is None else "line", "diff_hunk": "",
    }
    if rows is not None:
        start, end = rows
        side = "LEFT" if end.right is None else comment.get("side", "RIGHT")
        line = end.left if side == "LEFT" else end.right
        data.update(diff_hunk=diff.diff_hunk(end), position=end.position, original_position=end.position,
                    line=line, original_line=line, side=side, start_line=None, original_start_line=None,
                    start_side=None)
        if start is not end:
            start_side = "LEFT" if start.right is None else comment.get("start_side", side)
            first = start.left if start_side == "LEFT" else start.right
            data.update(start_line=first, original_start_line=first, start_side=start_side)
    return data


def _review_problem(pull: FakePull, body: dict[str, Any], account: FakeAccount) -> str:
    commit_id = body.get("commit_id")
    if commit_id is not None and (not isinstance(commit_id, str) or not _SHA_RE.match(commit_id)):
        return "commit_id is not a valid SHA"
    if commit_id is not None and commit_id not in pull.diffs:
        return "commit_id is not part of the pull request"
    event = body.get("event")
    if event is not None and event not in _STATES:
        return f"Variable event of type PullRequestReviewEvent was provided invalid value: {event!r}"
    text = body.get("body")
    if text is not None and not isinstance(text, str):
        return "body is not a string"
    if event in ("REQUEST_CHANGES", "COMMENT") and not text:
        return f"Review body is required when event is {event}"
    if _too_long(text):
        return f"Body is too long (maximum is {MAX_BODY} characters)"
    if event in ("REQUEST_CHANGES", "APPROVE") and pull.author == account.login:
        return "Can not request changes on your own pull request"
    if not isinstance(body.get("comments", []), list):
        return "comments is not an array"
    return ""


def create_review(site: Site, pull: FakePull, body: Any, account: FakeAccount) -> Answer:
    """``POST /pulls/{n}/reviews``: the review and its line comments, all or nothing."""
    if not isinstance(body, dict):
        return 400, {"message": "Problems parsing JSON", "documentation_url": DOCS}
    problem = _review_problem(pull, body, account)
    if problem:
        return unprocessable(problem)
    commit_id = body.get("commit_id") or pull.head_sha
    files = parse(pull.diffs[commit_id])
    checked: list[tuple[dict[str, Any], FileDiff, tuple[Row, Row]]] = []
    for number, comment in enumerate(body.get("comments", [])):
        if not isinstance(comment, dict):
            return unprocessable(f"comments[{number}]: comment is not an object")
        missing = next((k for k in ("path", "body") if not isinstance(comment.get(k), str) or not comment[k]), None)
        if missing:
            return unprocessable(f"comments[{number}]: {missing} is required")
        if _too_long(comment["body"]):
            return unprocessable(f"comments[{number}]: Body is too long (maximum is {MAX_BODY} characters)")
        diff = files.get(comment["path"])
        if diff is None:
            return unprocessable(f"comments[{number}]: Path could not be resolved")
        rows = _rows(comment, diff)
        if isinstance(rows, str):
            return unprocessable(f"comments[{number}]: {rows}")
        checked.append((comment, diff, rows))
    review = _review_json(site, pull, account.user_json(site.api_url), body.get("body") or "",
                          _STATES.get(body.get("event") or "", "PENDING"), commit_id)
    pull.reviews.append(review)
    for comment, diff, rows in checked:
        pull.comments.append(_comment_json(site, pull, review["id"], review["user"], commit_id, comment, diff, rows))
    return 200, review


def _review_json(site: Site, pull: FakePull, user: dict[str, Any], body: str, state: str,
                 commit_id: str) -> dict[str, Any]:
    review_id = site.next_id()
    html = f"{site.html_url(pull)}#pullrequestreview-{review_id}"
    return {
        "id": review_id, "node_id": f"PRR_{review_id}", "user": user, "body": body, "state": state,
        "commit_id": commit_id, "html_url": html, "pull_request_url": site.pull_url(pull),
        "_links": review_links(site.pull_url(pull), html), "submitted_at": CREATED_AT,
        "author_association": "CONTRIBUTOR",
    }


def create_comment(site: Site, pull: FakePull, body: Any, account: FakeAccount) -> Answer:
    """``POST /pulls/{n}/comments``: one comment on a line range or, with ``subject_type: file``, a file."""
    if not isinstance(body, dict):
        return 400, {"message": "Problems parsing JSON", "documentation_url": COMMENTS_DOCS}
    for key in ("body", "commit_id", "path"):
        if not isinstance(body.get(key), str) or not body[key]:
            return _comment_invalid(key, f"{key} is required")
    if _too_long(body["body"]):
        return _comment_invalid("body", f"Body is too long (maximum is {MAX_BODY} characters)")
    if body["commit_id"] not in pull.diffs:
        return _comment_invalid("commit_id", "commit_id is not part of the pull request")
    diff = parse(pull.diffs[body["commit_id"]]).get(body["path"])
    if diff is None:
        return _comment_invalid("path", "Path could not be resolved")
    subject = body.get("subject_type", "line")
    if subject not in ("line", "file"):
        return _comment_invalid("subject_type", f"subject_type must be line or file, got {subject!r}")
    rows: tuple[Row, Row] | str | None = None if subject == "file" else _rows(body, diff)
    if isinstance(rows, str):
        return _comment_invalid("pull_request_review_thread", rows)
    # A comment made on its own still belongs to a review: GitHub makes one, COMMENTED, with no body.
    user = account.user_json(site.api_url)
    review = _review_json(site, pull, user, "", "COMMENTED", body["commit_id"])
    pull.reviews.append(review)
    stored = _comment_json(site, pull, review["id"], user, body["commit_id"], body, diff, rows)
    pull.comments.append(stored)
    return 201, stored


def _own_review(pull: FakePull, review_id: int) -> dict[str, Any] | None:
    return next((r for r in pull.reviews if r["id"] == review_id), None)


def refused(account: FakeAccount) -> Answer:
    """403 for a write the token may not make, in GitHub's words for an app's token or a user's."""
    kind = "integration" if account.installation else "personal access token"
    return 403, {"message": f"Resource not accessible by {kind}", "documentation_url": DOCS, "status": "403"}


def update_review(pull: FakePull, review_id: int, body: Any, account: FakeAccount) -> Answer:
    """``PUT /pulls/{n}/reviews/{id}``: a new body, by the review's author only."""
    review = _own_review(pull, review_id)
    if review is None:
        return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}
    if review["user"]["login"] != account.login:
        return refused(account)
    if not isinstance(body, dict) or not isinstance(body.get("body"), str) or not body["body"]:
        return unprocessable("body is required")
    if _too_long(body["body"]):
        return unprocessable(f"Body is too long (maximum is {MAX_BODY} characters)")
    review["body"] = body["body"]
    return 200, review


def dismiss_review(pull: FakePull, review_id: int, body: Any, account: FakeAccount) -> Answer:
    """``PUT /pulls/{n}/reviews/{id}/dismissals``: an APPROVED or CHANGES_REQUESTED review, by a writer."""
    review = _own_review(pull, review_id)
    if review is None:
        return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}
    if not account.can_write:
        return refused(account)
    if not isinstance(body, dict) or not isinstance(body.get("message"), str) or not body["message"]:
        return unprocessable("message is required")
    if body.get("event", "DISMISS") != "DISMISS":
        return unprocessable(f"event must be DISMISS, got {body.get('event')!r}")
    if review["state"] not in ("APPROVED", "CHANGES_REQUESTED"):
        return 422, {"message": f"Can not dismiss a {review['state'].lower()} pull request review",
                     "documentation_url": DOCS, "status": "422"}
    review["state"] = "DISMISSED"
    pull.dismissals[review_id] = body["message"]  # GitHub shows it on the timeline
    return 200, review


def pull_json(site: Site, pull: FakePull, author: dict[str, Any], owner: dict[str, Any]) -> dict[str, Any]:
    """``GET /pulls/{n}``'s ``pull-request`` object."""
    url, html = site.pull_url(pull), site.html_url(pull)
    api_repo = f"{site.api_url}/repos/{pull.owner}/{pull.repo}"
    issue_url = f"{api_repo}/issues/{pull.number}"
    files = parse(pull.diff).values()
    base_repo = repository_json(owner, pull.repo, site.api_url)
    head_repo = repository_json(author, pull.repo, site.api_url, fork=True) if pull.from_fork else base_repo
    return {
        "url": url, "id": pull.number, "node_id": f"PR_{pull.number}", "html_url": html,
        "diff_url": f"{html}.diff", "patch_url": f"{html}.patch", "issue_url": issue_url,
        "commits_url": f"{url}/commits", "review_comments_url": f"{url}/comments",
        "review_comment_url": f"{api_repo}/pulls/comments{{/number}}", "comments_url": f"{issue_url}/comments",
        "statuses_url": f"{api_repo}/statuses/{pull.head_sha}", "number": pull.number, "state": "open",
        "locked": False, "title": pull.title, "user": author, "body": pull.body or None, "labels": [],
        "milestone": None, "created_at": CREATED_AT, "updated_at": CREATED_AT, "closed_at": None,
        "merged_at": None, "merge_commit_sha": None, "assignee": None, "author_association": "CONTRIBUTOR",
        "auto_merge": None, "merged": False, "mergeable": None, "mergeable_state": "unknown", "merged_by": None,
        "maintainer_can_modify": False, "comments": 0, "review_comments": len(pull.comments),
        "commits": len(pull.diffs), "additions": sum(f.additions for f in files),
        "deletions": sum(f.deletions for f in files), "changed_files": len(files),
        "head": {"label": f"{author['login'] if pull.from_fork else pull.owner}:feature", "ref": "feature",
                 "sha": pull.head_sha, "user": head_repo["owner"], "repo": head_repo},
        "base": {"label": f"{pull.owner}:main", "ref": "main", "sha": pull.base_sha, "user": owner,
                 "repo": base_repo},
        "_links": pull_links(url, issue_url, html, pull.head_sha, api_repo),
    }
