"""A loopback fake of GitHub's REST API for the pull-request review endpoints, strict about the contract.

It checks what GitHub checks (documented at docs.github.com "REST API endpoints for pull request reviews"):
a User-Agent, the Authorization header, the method and path, required fields, the allowed values of
``event`` and ``side``, that a comment's lines are inside the diff and a range inside one hunk (422 otherwise,
with GitHub's wording), and it paginates listings with ``Link`` headers. Rate limits are produced on demand:
403 with ``x-ratelimit-remaining: 0`` / ``x-ratelimit-reset`` (primary) or ``retry-after`` (secondary).

Every token acts as an account, and what it posts is authored by that account, so a test can have a second,
hostile user post into the same pull request. The kind of token follows its prefix (github.blog/changelog/
2021-03-04-authentication-token-format-updates: ``ghs_`` is a server-to-server, that is installation, token;
``ghp_``, ``gho_``, ``ghu_`` and ``github_pat_`` act as a user). ``GET /user`` answers a user's account and
refuses an installation token with 403 "Resource not accessible by integration"
(docs.github.com/rest/users/users#get-the-authenticated-user; the body as GitHub sends it is quoted in
actions/create-github-app-token#258). An installation posts as its app's bot account, ``user.type`` "Bot".
Only a review's author may edit it here: the fake refuses anyone else (403), so an attempt fails loudly.

Its diff reading is deliberately independent of ``v4agent.review.hunks`` (only the ``@@`` headers), so the
client and the fake do not share a bug.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DOCS = "https://docs.github.com/rest/pulls/reviews"
USER_DOCS = "https://docs.github.com/rest/users/users#get-the-authenticated-user"
INSTALLATION_PREFIXES = ("ghs_",)
_HUNK_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")


def hunk_spans(diff_text: str) -> dict[str, list[tuple[tuple[int, int], tuple[int, int]]]]:
    """path -> [((left_first, left_last), (right_first, right_last)), ...] from the ``@@`` headers."""
    spans: dict[str, list[tuple[tuple[int, int], tuple[int, int]]]] = {}
    current: str | None = None
    old: str | None = None
    for line in diff_text.splitlines():
        if line.startswith("diff --git "):
            current = None
            old = None
        elif line.startswith("--- "):
            old = line[4:].strip()
            old = None if old == "/dev/null" else old.removeprefix("a/")
        elif line.startswith("+++ "):
            new = line[4:].strip()
            current = old if new == "/dev/null" else new.removeprefix("b/")
            spans.setdefault(current or "", [])
        elif current is not None and (m := _HUNK_RE.match(line)):
            a, b = int(m.group(1)), int(m.group(2) or "1")
            c, d = int(m.group(3)), int(m.group(4) or "1")
            spans[current].append(((a, a + b - 1), (c, c + d - 1)))
    return spans


@dataclass
class FakePull:
    """One pull request the fake serves, with the reviews and comments posted to it."""

    owner: str
    repo: str
    number: int
    head_sha: str
    base_sha: str
    diff: str
    title: str = ""
    body: str = ""
    author: str = "octocat"
    reviews: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class FakeAccount:
    """The account a token acts as: a user, or an app's bot account for an installation token."""

    login: str
    id: int
    installation: bool

    def user_json(self) -> dict[str, Any]:
        """The ``user`` object GitHub puts on what this account posts."""
        return {"login": self.login, "id": self.id, "type": "Bot" if self.installation else "User",
                "site_admin": False}


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received, as it parsed it, with the status it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int


class FakeGitHub:
    """``with FakeGitHub(token=...) as gh: gh.add_pull(...); ... gh.api_url``.

    ``token`` acts as ``bot_login`` when it is an installation token, else as ``user_login``; ``add_token``
    adds more accounts.
    """

    def __init__(self, token: str = "ghs_fake_token_0123456789", *, bot_login: str = "github-actions[bot]",
                 user_login: str = "octo-reviewer") -> None:
        self.token = token
        self.accounts: dict[str, FakeAccount] = {}
        self._account_ids = itertools.count(41898282)
        installation = token.startswith(INSTALLATION_PREFIXES)
        self.bot_login = self.add_token(token, bot_login if installation else user_login).login
        self.pulls: dict[tuple[str, str, int], FakePull] = {}
        self.requests: list[RecordedRequest] = []
        self._ids = itertools.count(1000)
        self._lock = threading.Lock()
        self._limits: list[tuple[str, float]] = []  # ("primary", reset_in) or ("secondary", retry_after)
        self.remaining = 5000
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- set-up -------------------------------------------------------------------------------------

    def add_pull(self, owner: str, repo: str, number: int, *, diff: str, head_sha: str, base_sha: str,
                 title: str = "", body: str = "", author: str = "octocat") -> FakePull:
        """Serve a pull request with this diff and these commits; returns it for the test to inspect."""
        pull = FakePull(owner, repo, number, head_sha, base_sha, diff, title, body, author)
        self.pulls[(owner, repo, number)] = pull
        return pull

    def add_token(self, token: str, login: str, *, installation: bool | None = None) -> FakeAccount:
        """Accept ``token`` as ``login``; an installation token unless said otherwise when it starts ``ghs_``."""
        if installation is None:
            installation = token.startswith(INSTALLATION_PREFIXES)
        account = FakeAccount(login, next(self._account_ids), installation)
        self.accounts[token] = account
        return account

    def rate_limit(self, kind: str = "primary", *, count: int = 1, seconds: float = 0.0) -> None:
        """The next ``count`` requests get 403: primary (reset in ``seconds``) or secondary (retry-after)."""
        if kind not in ("primary", "secondary"):
            raise ValueError(kind)
        self._limits.extend([(kind, seconds)] * count)

    @property
    def api_url(self) -> str:
        """The fake's base URL, to pass as the client's API URL; the fake must be started."""
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def posted_reviews(self) -> list[RecordedRequest]:
        """The reviews created with status 200, in order."""
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/reviews") and r.status == 200]

    # ---- lifecycle ----------------------------------------------------------------------------------

    def __enter__(self) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: avoid the delayed-ACK stall

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                return

            def _handle(self) -> None:
                fake._dispatch(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ---- request handling ---------------------------------------------------------------------------

    def _rate_headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-used": str(5000 - self.remaining),
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-resource": "core",
        }

    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        method = handler.command
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body: Any = None
        bad_json = False
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                bad_json = True
        with self._lock:
            status, payload, headers = self._route(method, split.path, parse_qs(split.query), handler, body, bad_json)
            self.requests.append(RecordedRequest(method, split.path, parse_qs(split.query),
                                                 {k.lower(): v for k, v in handler.headers.items()}, body, status))
        if isinstance(payload, str):
            data = payload.encode("utf-8")
            ctype = "text/plain; charset=utf-8"
        else:
            data = json.dumps(payload).encode("utf-8")
            ctype = "application/json; charset=utf-8"
        handler.send_response(status)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _gate(self, handler: BaseHTTPRequestHandler) -> FakeAccount | tuple[int, Any, dict[str, str]]:
        """The account the request acts as, or the answer GitHub gives before routing (403, 401, limits)."""
        rate = self._rate_headers()
        if not handler.headers.get("User-Agent"):
            return 403, {"message": "Request forbidden by administrative rules. Please make sure your request "
                                    "has a User-Agent header", "documentation_url": DOCS}, rate
        auth = handler.headers.get("Authorization") or ""
        if not auth:
            return 401, {"message": "Requires authentication", "documentation_url": DOCS}, rate
        scheme, _, token = auth.partition(" ")
        account = self.accounts.get(token)
        if scheme.lower() not in ("bearer", "token") or account is None:
            return 401, {"message": "Bad credentials", "documentation_url": DOCS}, rate
        if self._limits:
            kind, seconds = self._limits.pop(0)
            if kind == "primary":
                rate.update({"x-ratelimit-remaining": "0", "x-ratelimit-used": "5000",
                             "x-ratelimit-reset": str(int(time.time() + seconds))})
                return 403, {"message": "API rate limit exceeded for installation ID 1.",
                             "documentation_url": DOCS}, rate
            rate["retry-after"] = str(int(seconds))
            return 403, {"message": "You have exceeded a secondary rate limit. Please wait a few minutes "
                                    "before you try again.", "documentation_url": DOCS}, rate
        self.remaining = max(0, self.remaining - 1)
        return account

    def _route(self, method: str, path: str, query: dict[str, list[str]], handler: BaseHTTPRequestHandler,
               body: Any, bad_json: bool) -> tuple[int, Any, dict[str, str]]:
        account = self._gate(handler)
        if not isinstance(account, FakeAccount):
            return account
        rate = self._rate_headers()
        if bad_json:
            return 400, {"message": "Problems parsing JSON", "documentation_url": DOCS}, rate
        if path == "/user" and method == "GET":
            if account.installation:
                return 403, {"message": "Resource not accessible by integration", "documentation_url": USER_DOCS,
                             "status": "403"}, rate
            return 200, account.user_json(), rate
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)/pulls/(\d+)(/comments|/reviews(?:/(\d+))?)?", path)
        if m is None:
            return 404, {"message": "Not Found", "documentation_url": DOCS}, rate
        pull = self.pulls.get((m.group(1), m.group(2), int(m.group(3))))
        if pull is None:
            return 404, {"message": "Not Found", "documentation_url": DOCS}, rate
        sub, review_id = m.group(4), m.group(5)
        if sub is None and method == "GET":
            accept = handler.headers.get("Accept") or ""
            if "diff" in accept:
                return 200, pull.diff, rate
            return 200, self._pull_json(pull), rate
        if sub == "/comments" and method == "GET":
            return self._page(pull.comments, path, query, rate)
        if sub == "/reviews" and method == "GET":
            return self._page(pull.reviews, path, query, rate)
        if sub == "/reviews" and method == "POST":
            status, payload = self._create_review(pull, body, account)
            return status, payload, rate
        if sub and review_id and method == "PUT":
            status, payload = self._update_review(pull, int(review_id), body, account)
            return status, payload, rate
        return 404, {"message": "Not Found", "documentation_url": DOCS}, rate

    def _pull_json(self, pull: FakePull) -> dict[str, Any]:
        return {
            "number": pull.number, "title": pull.title, "body": pull.body, "state": "open",
            "user": {"login": pull.author},
            "head": {"sha": pull.head_sha, "ref": "feature"},
            "base": {"sha": pull.base_sha, "ref": "main"},
        }

    def _page(self, items: list[dict[str, Any]], path: str, query: dict[str, list[str]],
              rate: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        try:
            per_page = min(100, max(1, int(query.get("per_page", ["30"])[0])))
            page = max(1, int(query.get("page", ["1"])[0]))
        except ValueError:
            return 422, {"message": "Invalid per_page or page", "documentation_url": DOCS}, rate
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        links = []
        url = f"{self.api_url}{path}"
        if page < last:
            links += [f'<{url}?per_page={per_page}&page={page + 1}>; rel="next"',
                      f'<{url}?per_page={per_page}&page={last}>; rel="last"']
        if page > 1:
            links += [f'<{url}?per_page={per_page}&page={page - 1}>; rel="prev"',
                      f'<{url}?per_page={per_page}&page=1>; rel="first"']
        headers = dict(rate)
        if links:
            headers["Link"] = ", ".join(links)
        return 200, chunk, headers

    @staticmethod
    def _unprocessable(*errors: str) -> tuple[int, dict[str, Any]]:
        return 422, {"message": "Unprocessable Entity", "errors": list(errors), "documentation_url": DOCS,
                     "status": "422"}

    def _create_review(self, pull: FakePull, body: Any, account: FakeAccount) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict):
            return 400, {"message": "Problems parsing JSON", "documentation_url": DOCS}
        commit_id = body.get("commit_id")
        if commit_id is not None and (not isinstance(commit_id, str) or not _SHA_RE.match(commit_id)):
            return self._unprocessable("commit_id is not a valid SHA")
        if commit_id is not None and commit_id != pull.head_sha:
            return self._unprocessable("commit_id is not part of the pull request")
        event = body.get("event")
        if event is not None and event not in ("APPROVE", "REQUEST_CHANGES", "COMMENT"):
            return self._unprocessable(f"Variable event of type PullRequestReviewEvent was provided invalid value: "
                                       f"{event!r}")
        text = body.get("body")
        if text is not None and not isinstance(text, str):
            return self._unprocessable("body is not a string")
        if event in ("REQUEST_CHANGES", "COMMENT") and not text:
            return self._unprocessable(f"Review body is required when event is {event}")
        if event in ("REQUEST_CHANGES", "APPROVE") and pull.author == account.login:
            return self._unprocessable("Can not request changes on your own pull request")
        comments = body.get("comments", [])
        if not isinstance(comments, list):
            return self._unprocessable("comments is not an array")
        spans = hunk_spans(pull.diff)
        for number, comment in enumerate(comments):
            problem = self._check_comment(comment, spans)
            if problem:
                return self._unprocessable(f"comments[{number}]: {problem}")
        review_id = next(self._ids)
        state = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}.get(
            event or "", "PENDING")
        review = {
            "id": review_id, "node_id": f"PRR_{review_id}", "user": account.user_json(),
            "body": text or "", "state": state, "commit_id": commit_id or pull.head_sha,
            "html_url": f"https://github.invalid/{pull.owner}/{pull.repo}/pull/{pull.number}#review-{review_id}",
            "submitted_at": "2026-10-01T00:00:00Z",
        }
        pull.reviews.append(review)
        for comment in comments:
            comment_id = next(self._ids)
            stored = {"id": comment_id, "pull_request_review_id": review_id, "user": review["user"],
                      "commit_id": review["commit_id"], "path": comment["path"], "body": comment["body"],
                      "line": comment["line"], "side": comment.get("side", "RIGHT"),
                      "start_line": comment.get("start_line"),
                      "start_side": comment.get("start_side") if comment.get("start_line") else None}
            pull.comments.append(stored)
        return 200, review

    @staticmethod
    def _check_comment(comment: Any, spans: dict[str, list[tuple[tuple[int, int], tuple[int, int]]]]) -> str:
        if not isinstance(comment, dict):
            return "comment is not an object"
        for key in ("path", "body"):
            if not isinstance(comment.get(key), str) or not comment[key]:
                return f"{key} is required"
        if "position" in comment:
            return "position is deprecated; use line and side"
        line = comment.get("line")
        if isinstance(line, bool) or not isinstance(line, int):
            return "line is required and must be an integer"
        side = comment.get("side", "RIGHT")
        if side not in ("LEFT", "RIGHT"):
            return f"side must be LEFT or RIGHT, got {side!r}"
        if comment["path"] not in spans:
            return "Path could not be resolved"
        index = 1 if side == "RIGHT" else 0
        hunks = [h[index] for h in spans[comment["path"]]]
        hunk = next((h for h in hunks if h[0] <= line <= h[1]), None)
        if hunk is None:
            return "pull_request_review_thread.line must be part of the diff"
        start = comment.get("start_line")
        if start is not None:
            if isinstance(start, bool) or not isinstance(start, int):
                return "start_line must be an integer"
            start_side = comment.get("start_side", side)
            if start_side not in ("LEFT", "RIGHT"):
                return f"start_side must be LEFT or RIGHT, got {start_side!r}"
            if start >= line:
                return "pull_request_review_thread.start_line must precede the end line"
            if start_side != side or not hunk[0] <= start <= hunk[1]:
                return "pull_request_review_thread.start_line must be part of the same hunk as the line."
        elif "start_side" in comment:
            return "start_side requires start_line"
        return ""

    def _update_review(self, pull: FakePull, review_id: int, body: Any,
                       account: FakeAccount) -> tuple[int, dict[str, Any]]:
        review = next((r for r in pull.reviews if r["id"] == review_id), None)
        if review is None:
            return 404, {"message": "Not Found", "documentation_url": DOCS}
        if review["user"]["login"] != account.login:
            message = "Resource not accessible by integration" if account.installation else "Forbidden"
            return 403, {"message": message, "documentation_url": DOCS}
        if not isinstance(body, dict) or not isinstance(body.get("body"), str) or not body["body"]:
            return self._unprocessable("body is required")
        review["body"] = body["body"]
        return 200, review
