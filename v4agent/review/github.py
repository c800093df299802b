"""A small GitHub REST client for the review bot: the few pull-request endpoints it needs.

It follows GitHub's rules for integrators: a User-Agent, ``Authorization: Bearer``, ``Link``-header pagination,
waiting on ``Retry-After`` and on ``x-ratelimit-remaining: 0`` until ``x-ratelimit-reset``, backing off on
secondary limits, and spacing out writes. Errors quote GitHub's own message. The token lives only in the
request header: never in a message, a log line or an exception.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from v4agent import __version__
from v4agent.core.errors import V4AgentError

API_VERSION = "2022-11-28"
DEFAULT_API_URL = "https://api.github.com"


class GitHubError(V4AgentError):
    """A request failed; the message says what GitHub said and what to do."""

    def __init__(self, message: str, *, status: int | None = None, detail: str = "",
                 codes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail  # GitHub's own message, for callers that tell refusals apart
        self.codes = codes  # the ``code`` of each item of GitHub's ``errors[]`` (``too_large``, ``custom``...)

    @property
    def diff_too_large(self) -> bool:
        """GitHub would not render the diff: 406 with ``code: too_large`` (above 300 files or 20,000 lines).

        The answer as GitHub sends it: ``{"message": "Sorry, the diff exceeded the maximum number of files
        (300). Consider using 'List pull requests files' API or locally cloning the repository instead.",
        "errors": [{"resource": "PullRequest", "field": "diff", "code": "too_large"}], "status": "406"}``, or
        "...maximum number of lines (20000)" (quoted in github.com/reviewdog/reviewdog/issues/1696 and
        github.com/cpp-linter/cpp-linter-action/issues/249; the 300-file and 20,000-line limits:
        docs.github.com/repositories/creating-and-managing-repositories/repository-limits).
        """
        return self.status == 406 and ("too_large" in self.codes or "exceeded the maximum" in self.detail)

    @property
    def not_permitted(self) -> bool:
        """403 "Resource not accessible by integration" (an app's token, GITHUB_TOKEN included) or "... by
        personal access token": the token's permissions do not cover this call, a read-only token's write."""
        return self.status == 403 and "resource not accessible by" in self.detail.lower()


@dataclass(frozen=True)
class PullRef:
    """A pull request by owner, repository and number."""

    owner: str
    repo: str
    number: int

    @property
    def path(self) -> str:
        """The pull request's REST path, ``/repos/{owner}/{repo}/pulls/{number}``."""
        return f"/repos/{self.owner}/{self.repo}/pulls/{self.number}"


def _github_message(response: httpx.Response) -> str:
    """GitHub's error message plus its ``errors[]`` details, from the JSON body when there is one."""
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if not isinstance(data, dict):
        return str(data)[:300]
    message = str(data.get("message") or response.reason_phrase)
    details: list[str] = []
    for err in data.get("errors") or []:
        if isinstance(err, str):
            details.append(err)
        elif isinstance(err, dict):
            details.append(str(err.get("message") or ", ".join(f"{k}={v}" for k, v in err.items())))
    return f"{message} ({'; '.join(details)})" if details else message


def _error_codes(response: httpx.Response) -> tuple[str, ...]:
    """The ``code`` of each object in GitHub's ``errors[]``, when the body has them."""
    try:
        data = response.json()
    except ValueError:
        return ()
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        return ()
    return tuple(str(e["code"]) for e in errors if isinstance(e, dict) and e.get("code"))


_HINTS = {
    401: "check that GITHUB_TOKEN is set to a valid token",
    403: "the token lacks permission; a workflow needs `permissions: pull-requests: write` "
         "(and `contents: read`)",
    404: "check the repository and pull request number, and that the token can see the repository",
    422: "GitHub rejected the request's content",
}


class GitHubClient:
    """Synchronous client; ``sleep`` and ``clock`` are injectable so waits are observable in tests."""

    def __init__(
        self,
        token: str,
        api_url: str = DEFAULT_API_URL,
        *,
        timeout_s: float = 30.0,
        max_wait_s: float = 900.0,
        max_retries: int = 4,
        write_interval_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not token:
            raise GitHubError("no GitHub token: set GITHUB_TOKEN (in a workflow: `${{ secrets.GITHUB_TOKEN }}`)")
        self._http = httpx.Client(
            base_url=api_url.rstrip("/"),
            timeout=timeout_s,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": f"v4agent-review/{__version__}",
            },
        )
        self._max_wait = max_wait_s
        self._max_retries = max_retries
        self._write_interval = write_interval_s
        self._sleep = sleep
        self._clock = clock
        self._last_write: float | None = None
        self._exhausted_until: float | None = None  # primary limit hit: wait before the next request
        self.waits: list[float] = []  # every wait taken, for the summary and tests

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- transport --------------------------------------------------------------------------------

    def _wait(self, seconds: float, why: str) -> None:
        if seconds > self._max_wait:
            raise GitHubError(f"GitHub {why}: would have to wait {seconds:.0f} s (more than {self._max_wait:.0f} s); "
                              "try again later", status=403)
        if seconds > 0:
            self.waits.append(seconds)
            self._sleep(seconds)

    def _rate_limit_wait(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None if the response is not a rate limit."""
        if response.status_code not in (403, 429):
            return None
        retry_after = response.headers.get("retry-after")
        if retry_after is not None:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                return 60.0
        if response.headers.get("x-ratelimit-remaining") == "0":
            reset: str | None = response.headers.get("x-ratelimit-reset")
            try:
                until: float = float(reset) if reset else self._clock() + 59.0
                return max(0.0, until - self._clock()) + 1.0
            except ValueError:
                return 60.0
        text = response.text.lower()
        if "secondary rate limit" in text or "abuse" in text or response.status_code == 429:
            # GitHub: wait at least a minute, then back off exponentially.
            return 60.0 * (1 << attempt)
        return None

    def request(self, method: str, path: str, *, json_body: Any = None, params: dict[str, Any] | None = None,
                accept: str | None = None, write: bool | None = None) -> httpx.Response:
        """One API call with rate-limit handling; raises GitHubError for any non-2xx answer.

        ``write``: whether the call creates content (spaced out); by default, any POST, PUT, PATCH or DELETE."""
        writing = method.upper() in ("POST", "PUT", "PATCH", "DELETE") if write is None else write
        if self._exhausted_until is not None:
            self._wait(self._exhausted_until - self._clock(), "rate limit exhausted")
            self._exhausted_until = None
        if writing and self._last_write is not None:
            # GitHub asks integrators to space out content-creating requests.
            self._wait(self._write_interval - (self._clock() - self._last_write), "write spacing")
        headers = {"Accept": accept} if accept else None
        for attempt in range(self._max_retries + 1):
            try:
                response = self._http.request(method, path, json=json_body, params=params, headers=headers)
            except httpx.HTTPError as exc:
                raise GitHubError(f"cannot reach GitHub at {self._http.base_url}: {type(exc).__name__}") from None
            if writing:
                self._last_write = self._clock()
            if response.headers.get("x-ratelimit-remaining") == "0" and response.is_success:
                reset = response.headers.get("x-ratelimit-reset")
                if reset and reset.isdigit():
                    self._exhausted_until = float(reset) + 1.0
            wait = self._rate_limit_wait(response, attempt)
            if wait is not None and attempt < self._max_retries:
                self._wait(wait, f"rate limit ({_github_message(response)})")
                continue
            if response.is_success:
                return response
            raise self._error(method, path, response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, method: str, path: str, response: httpx.Response) -> GitHubError:
        status = response.status_code
        hint = _HINTS.get(status, "")
        if status in (403, 429) and self._rate_limit_wait(response, 0) is not None:
            hint = "rate limit still exceeded after retrying; try again later"
        detail = _github_message(response)
        text = f"GitHub answered {status} to {method} {path}: {detail}"
        return GitHubError(f"{text}; {hint}" if hint else text, status=status, detail=detail,
                           codes=_error_codes(response))

    def paginate(self, path: str, *, per_page: int = 100, params: dict[str, Any] | None = None) -> list[Any]:
        """Every item of a listing, following ``Link: <...>; rel="next"``; ``params`` filter the first page (the
        next pages' links carry them)."""
        items: list[Any] = []
        response = self.request("GET", path, params={**(params or {}), "per_page": per_page})
        while True:
            page = response.json()
            if not isinstance(page, list):
                raise GitHubError(f"GitHub returned a {type(page).__name__} for the listing {path}")
            items.extend(page)
            next_url = response.links.get("next", {}).get("url")
            if not next_url:
                return items
            response = self.request("GET", next_url)

    # ---- endpoints ----------------------------------------------------------------------------------

    def get_authenticated_user(self) -> dict[str, Any]:
        """``GET /user``: the account the token acts as (refused for an installation token; see identity.py)."""
        data: dict[str, Any] = self.request("GET", "/user").json()
        return data

    def get_pull(self, pull: PullRef) -> dict[str, Any]:
        """The pull request object (head and base commits, title, body...)."""
        data: dict[str, Any] = self.request("GET", pull.path).json()
        return data

    def get_pull_diff(self, pull: PullRef) -> str:
        """The pull request's unified diff; a GitHubError whose ``diff_too_large`` is set for a large one."""
        return self.request("GET", pull.path, accept="application/vnd.github.diff").text

    def list_review_comments(self, pull: PullRef) -> list[dict[str, Any]]:
        """Every review comment on the pull request, all pages."""
        return self.paginate(f"{pull.path}/comments")

    def list_reviews(self, pull: PullRef) -> list[dict[str, Any]]:
        """Every review of the pull request, all pages."""
        return self.paginate(f"{pull.path}/reviews")

    def create_review(self, pull: PullRef, *, commit_id: str, event: str, body: str,
                      comments: list[dict[str, Any]]) -> dict[str, Any]:
        """Post a review at ``commit_id`` with a body and inline comments; returns GitHub's review object."""
        payload = {"commit_id": commit_id, "event": event, "body": body, "comments": comments}
        data: dict[str, Any] = self.request("POST", f"{pull.path}/reviews", json_body=payload).json()
        return data

    def update_review(self, pull: PullRef, review_id: int, body: str) -> dict[str, Any]:
        """Replace the body of an existing review; returns GitHub's review object."""
        data: dict[str, Any] = self.request("PUT", f"{pull.path}/reviews/{review_id}", json_body={"body": body}).json()
        return data

    def dismiss_review(self, pull: PullRef, review_id: int, message: str) -> dict[str, Any]:
        """Dismiss a review (its state becomes DISMISSED); ``message`` is required and shows on the timeline.

        docs.github.com/rest/pulls/reviews#dismiss-a-review-for-a-pull-request: only an APPROVED or
        CHANGES_REQUESTED review can be dismissed; on a protected branch that restricts dismissals, only
        the people and apps it names may (else 403).
        """
        data: dict[str, Any] = self.request("PUT", f"{pull.path}/reviews/{review_id}/dismissals",
                                            json_body={"message": message, "event": "DISMISS"}).json()
        return data

    def create_file_comment(self, pull: PullRef, *, commit_id: str, path: str, body: str) -> dict[str, Any]:
        """A review comment on a whole file (``subject_type: file``); returns GitHub's comment object.

        docs.github.com/rest/pulls/comments#create-a-review-comment-for-a-pull-request: ``line`` is
        "Required unless using subject_type:file"; a review's own ``comments[]`` take no ``subject_type``,
        so a file comment is a request of its own.
        """
        payload = {"commit_id": commit_id, "path": path, "body": body, "subject_type": "file"}
        data: dict[str, Any] = self.request("POST", f"{pull.path}/comments", json_body=payload).json()
        return data

    def list_comment_reactions(self, pull: PullRef, comment_id: int, content: str = "") -> list[dict[str, Any]]:
        """The reactions to one review comment, all pages; ``content`` (``-1``...) keeps one kind only.

        docs.github.com/rest/reactions/reactions#list-reactions-for-a-pull-request-review-comment
        """
        path = f"/repos/{pull.owner}/{pull.repo}/pulls/comments/{comment_id}/reactions"
        return self.paginate(path, params={"content": content} if content else None)

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """One GraphQL query; its ``data``. GitHubError when GitHub answers ``errors`` (which it does with 200).

        docs.github.com/graphql/guides/forming-calls-with-graphql: ``POST /graphql`` with ``query`` and
        ``variables``; GitHub Enterprise Server serves it at ``/api/graphql`` beside ``/api/v3``.
        """
        url = str(self._http.base_url).rstrip("/")
        url = url[: -len("/v3")] + "/graphql" if url.endswith("/api/v3") else url + "/graphql"
        # A query creates nothing: it is not spaced out like a write.
        answer = self.request("POST", url, json_body={"query": query, "variables": variables}, write=False).json()
        if not isinstance(answer, dict):
            raise GitHubError(f"GitHub's GraphQL answer is a {type(answer).__name__}, not an object")
        errors = answer.get("errors")
        if errors:
            messages = "; ".join(str(e.get("message") if isinstance(e, dict) else e) for e in errors)[:500]
            raise GitHubError(f"GitHub's GraphQL API answered: {messages}", status=200, detail=messages)
        data = answer.get("data")
        if not isinstance(data, dict):
            raise GitHubError("GitHub's GraphQL answer has no data")
        return data

    def reply_to_comment(self, pull: PullRef, comment_id: int, body: str) -> dict[str, Any]:
        """A reply in a review comment's thread; returns GitHub's comment object.

        docs.github.com/rest/pulls/comments#create-a-reply-for-a-review-comment: ``comment_id`` must be a
        top-level review comment ("Replies to replies are not supported"); the body is the only field.
        """
        data: dict[str, Any] = self.request("POST", f"{pull.path}/comments/{comment_id}/replies",
                                            json_body={"body": body}).json()
        return data
