"""A loopback fake of GitHub's REST API for the pull-request review endpoints, as strict as GitHub and no stricter.

It checks what GitHub checks: a User-Agent, the Authorization header, the method and path, and what the
review endpoints check (``fake_github_pulls.py``); it paginates listings with ``Link`` headers, refuses the
diff media type for a diff over GitHub's limits (406 ``too_large``, ``fake_github_diff.py``), and keeps each
review's state, so a change request can be dismissed and stays dismissed. Rate limits are produced on demand:
403 with ``x-ratelimit-remaining: 0`` / ``x-ratelimit-reset`` (primary) or ``retry-after`` (secondary).
When GitHub's OpenAPI description is installed (``github_openapi.py``), every request body is checked
against it (422 "Invalid request" otherwise, as GitHub answers) and so is every answer; an answer that breaks
it is recorded in ``contract_violations`` and fails the ``with`` block that ran the fake.

Every token acts as an account, and what it posts is authored by that account, so a test can have a second,
hostile user post into the same pull request. The kind of token follows its prefix (github.blog/changelog/
2021-03-04-authentication-token-format-updates: ``ghs_`` is a server-to-server, that is installation, token;
``ghp_``, ``gho_``, ``ghu_`` and ``github_pat_`` act as a user). ``GET /user`` answers a user's account and
refuses an installation token with 403 "Resource not accessible by integration"
(docs.github.com/rest/users/users#get-the-authenticated-user; the body as GitHub sends it is quoted in
actions/create-github-app-token#258). An installation posts as its app's bot account, ``user.type`` "Bot".
A token made with ``can_write=False`` (a fork's read-only GITHUB_TOKEN) is refused every write.

Review threads (replies, reactions, resolution) are ``fake_github_threads.py``'s; ``POST /graphql`` answers
the part of GitHub's GraphQL schema ``fake_github_graphql.py`` models, validated against GitHub's own.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from v4agent.testing import fake_github_pulls as pulls
from v4agent.testing import fake_github_threads as threads
from v4agent.testing.fake_github_diff import too_large
from v4agent.testing.fake_github_objects import FakeAccount
from v4agent.testing.fake_github_pulls import FakePull, Site
from v4agent.testing.github_openapi import Contract, contract

DOCS = pulls.DOCS
USER_DOCS = "https://docs.github.com/rest/users/users#get-the-authenticated-user"
FILES_DOCS = "https://docs.github.com/rest/pulls/pulls#list-pull-requests-files"
INSTALLATION_PREFIXES = ("ghs_",)
_PULL_RE = re.compile(r"/repos/([^/]+)/([^/]+)/pulls/(\d+)(/comments|/reviews(?:/(\d+)(/dismissals)?)?)?")
_REPLY_RE = re.compile(r"/repos/([^/]+)/([^/]+)/pulls/(\d+)/comments/(\d+)/replies")
_REACTIONS_RE = re.compile(r"/repos/([^/]+)/([^/]+)/pulls/comments/(\d+)/reactions")
_WRITES = ("POST", "PUT", "PATCH", "DELETE")
Reply = tuple[int, Any, dict[str, str]]

__all__ = ["FakeAccount", "FakeGitHub", "FakePull", "RecordedRequest"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received, as it parsed it, with the status it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int


def _not_found() -> tuple[int, Any]:
    return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}


class FakeGitHub:
    """``with FakeGitHub(token=...) as gh: gh.add_pull(...); ... gh.api_url``.

    ``token`` acts as ``bot_login`` when it is an installation token, else as ``user_login``; ``add_token``
    adds more accounts. ``openapi``: check against GitHub's OpenAPI description (None: when installed).
    """

    def __init__(self, token: str = "ghs_fake_token_0123456789", *, bot_login: str = "github-actions[bot]",
                 user_login: str = "octo-reviewer", can_write: bool = True, openapi: bool | None = None) -> None:
        self.token = token
        self.accounts: dict[str, FakeAccount] = {}
        self._account_ids = itertools.count(41898282)
        installation = token.startswith(INSTALLATION_PREFIXES)
        self.bot_login = self.add_token(token, bot_login if installation else user_login,
                                        can_write=can_write).login
        self.owner = FakeAccount("octo", 583231, installation=False)  # the repositories' owner
        self.pulls: dict[tuple[str, str, int], FakePull] = {}
        self.requests: list[RecordedRequest] = []
        self.contract: Contract | None = contract() if openapi is None else (contract() if openapi else None)
        if openapi and self.contract is None:
            raise RuntimeError("GitHub's OpenAPI description is not installed (run tests/run.sh)")
        self.contract_violations: list[str] = []
        self._ids = itertools.count(1000)
        self._lock = threading.Lock()
        self._limits: list[tuple[str, float]] = []  # ("primary", reset_in) or ("secondary", retry_after)
        self.remaining = 5000
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- set-up -------------------------------------------------------------------------------------

    def add_pull(self, owner: str, repo: str, number: int, *, diff: str, head_sha: str, base_sha: str,
                 title: str = "", body: str = "", author: str = "octocat", from_fork: bool = False) -> FakePull:
        """Serve a pull request with this diff and these commits; returns it for the test to inspect."""
        pull = FakePull(owner, repo, number, head_sha, base_sha, diff, title, body, author, from_fork)
        self.pulls[(owner, repo, number)] = pull
        return pull

    def add_token(self, token: str, login: str, *, installation: bool | None = None,
                  can_write: bool = True) -> FakeAccount:
        """Accept ``token`` as ``login``; an installation token unless said otherwise when it starts ``ghs_``."""
        if installation is None:
            installation = token.startswith(INSTALLATION_PREFIXES)
        account = FakeAccount(login, next(self._account_ids), installation, can_write)
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

    def writes(self) -> list[RecordedRequest]:
        """Every write request that succeeded, in order."""
        return [r for r in self.requests if r.method in _WRITES and r.status < 300]

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

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if exc_type is None and self.contract_violations:
            raise AssertionError("fake GitHub broke GitHub's OpenAPI description:\n" +
                                 "\n".join(self.contract_violations[:20]))

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
            if self.contract is not None:
                self._check_answer(method, split.path, status, payload)
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

    def _check_answer(self, method: str, path: str, status: int, payload: Any) -> None:
        assert self.contract is not None
        if path == "/user" or any(rule.fullmatch(path) for rule in (_PULL_RE, _REPLY_RE, _REACTIONS_RE)):
            self.contract_violations += self.contract.response_problems(method, path, status, payload)

    def _gate(self, handler: BaseHTTPRequestHandler) -> FakeAccount | Reply:
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
               body: Any, bad_json: bool) -> Reply:
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
            return 200, account.public_user_json(self.api_url), rate
        if path == "/graphql" and method == "POST":  # answered 200 whatever it says (fake_github_graphql.py)
            return 200, threads.execute_graphql(self.pulls, body, account), rate
        if _REPLY_RE.fullmatch(path) or _REACTIONS_RE.fullmatch(path):
            return self._thread_answer(method, path, query, body, account, rate)
        m = _PULL_RE.fullmatch(path)
        pull = None if m is None else self.pulls.get((m.group(1), m.group(2), int(m.group(3))))
        if m is None or pull is None:
            return (*_not_found(), rate)
        if method in _WRITES and not account.can_write:
            return (*pulls.refused(account), rate)
        problems = [] if self.contract is None else self.contract.request_problems(method, path, body)
        if problems:  # GitHub checks a body against the operation's schema before anything else
            return 422, {"message": "Invalid request.\n\n" + "\n".join(problems), "documentation_url": DOCS,
                         "status": "422"}, rate
        sub, review_id, dismissal = m.group(4), m.group(5), m.group(6)
        if sub in ("/comments", "/reviews") and method == "GET":
            return self._page(pull.comments if sub == "/comments" else pull.reviews, path, query, rate)
        return (*self._answer(method, pull, sub, review_id, dismissal, handler, body, account), rate)

    def _answer(self, method: str, pull: FakePull, sub: str | None, review_id: str | None, dismissal: str | None,
                handler: BaseHTTPRequestHandler, body: Any, account: FakeAccount) -> tuple[int, Any]:
        site = Site(self.api_url, lambda: next(self._ids))
        if sub is None and method == "GET":
            if "diff" in (handler.headers.get("Accept") or ""):
                refusal = too_large(pull.diff)
                if refusal is None:
                    return 200, pull.diff
                return 406, {"message": refusal, "errors": [{"resource": "PullRequest", "field": "diff",
                                                             "code": "too_large"}],
                             "documentation_url": FILES_DOCS, "status": "406"}
            author = FakeAccount(pull.author, 1, installation=False).user_json(self.api_url)
            return 200, pulls.pull_json(site, pull, author, self.owner.user_json(self.api_url))
        if sub == "/reviews" and method == "POST":
            return pulls.create_review(site, pull, body, account)
        if sub == "/comments" and method == "POST":
            return pulls.create_comment(site, pull, body, account)
        if review_id and dismissal and method == "PUT":
            return pulls.dismiss_review(pull, int(review_id), body, account)
        if review_id and method == "PUT":
            return pulls.update_review(pull, int(review_id), body, account)
        return _not_found()

    def _thread_answer(self, method: str, path: str, query: dict[str, list[str]], body: Any,
                       account: FakeAccount, rate: dict[str, str]) -> Reply:
        """Replies and reactions (``fake_github_threads.py``)."""
        site = Site(self.api_url, lambda: next(self._ids))
        if method in _WRITES and not account.can_write:
            return (*pulls.refused(account), rate)
        problems = [] if self.contract is None else self.contract.request_problems(method, path, body)
        if problems:
            return 422, {"message": "Invalid request.\n\n" + "\n".join(problems), "documentation_url": DOCS,
                         "status": "422"}, rate
        reply = _REPLY_RE.fullmatch(path)
        if reply is not None:
            pull = self.pulls.get((reply.group(1), reply.group(2), int(reply.group(3))))
            if pull is None or method != "POST":
                return (*_not_found(), rate)
            return (*threads.create_reply(site, pull, int(reply.group(4)), body, account), rate)
        m = _REACTIONS_RE.fullmatch(path)
        assert m is not None
        comment_id = int(m.group(3))
        pull = next((p for (o, r, _), p in self.pulls.items() if (o, r) == (m.group(1), m.group(2))
                     and any(c["id"] == comment_id for c in p.comments)), None)
        if pull is None:
            return (*_not_found(), rate)
        if method == "POST":
            return (*threads.create_reaction(site, pull, comment_id, body, account), rate)
        if method != "GET":
            return (*_not_found(), rate)
        found = threads.reactions_of(pull, comment_id, query.get("content", [None])[0])
        if isinstance(found, str):
            return 422, {"message": found, "documentation_url": threads.REACTIONS_DOCS, "status": "422"}, rate
        return self._page(found, path, query, rate)

    def _page(self, items: list[dict[str, Any]], path: str, query: dict[str, list[str]],
              rate: dict[str, str]) -> Reply:
        try:
            per_page = min(100, max(1, int(query.get("per_page", ["30"])[0])))
            page = max(1, int(query.get("page", ["1"])[0]))
        except ValueError:
            return 422, {"message": "Invalid per_page or page", "documentation_url": DOCS}, rate
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        links = []
        # A filter the listing was asked with (``content`` of the reactions) stays in every page's link.
        kept = "".join(f"{key}={values[0]}&" for key, values in query.items() if key not in ("per_page", "page"))
        url = f"{self.api_url}{path}?{kept}"
        if page < last:
            links += [f'<{url}per_page={per_page}&page={page + 1}>; rel="next"',
                      f'<{url}per_page={per_page}&page={last}>; rel="last"']
        if page > 1:
            links += [f'<{url}per_page={per_page}&page={page - 1}>; rel="prev"',
                      f'<{url}per_page={per_page}&page=1>; rel="first"']
        headers = dict(rate)
        if links:
            headers["Link"] = ", ".join(links)
        return 200, chunk, headers
