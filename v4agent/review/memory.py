"""Memory of settled findings: what people resolved or answered on a pull request is not raised again.

A finding the bot posted as a review comment opens a thread. When a person resolves that thread, replies to
it, replies "won't fix" (or "wontfix", "not a bug"), or gives the bot's comment a thumbs-down, the finding is
settled: a later run of the same pull request that finds it again (the same fingerprint, ``findings.py``)
neither posts, lists, gates nor requests changes on it, and its summary says how many were skipped and why.

Thread state is read the way GitHub exposes it:
- ``reviewThreads`` of ``repository.pullRequest`` over GraphQL: ``isResolved``, ``resolvedBy`` (a ``User``,
  null when nobody a User resolved it) and each comment's author and
  ``fullDatabaseId`` (docs.github.com/graphql/reference/objects#pullrequestreviewthread). ``databaseId`` is
  deprecated there in favour of ``fullDatabaseId``, a BigInt sent as a string (GitHub's published schema,
  as npm's @octokit/graphql-schema ships it).
- reactions over REST, ``GET /repos/{o}/{r}/pulls/comments/{id}/reactions?content=-1``
  (docs.github.com/rest/reactions/reactions#list-reactions-for-a-pull-request-review-comment).

A thread is the bot's when its first comment is one the bot's identity wrote (``identity.py``, by the REST
comment's author, never by its text); the fingerprints are read from that comment. Bots' replies and
reactions (``__typename`` Bot, or a ``[bot]`` login) never settle a finding, and neither does a resolution
that no person made: the bot resolves its own threads when it sees a finding fixed (``incremental.py``), and
a finding it raises again after that must be posted again, so a resolved thread settles its finding only when
``resolvedBy`` is a person other than the bot's own login. The decisions are pure
(``settled``, ``without_settled``); ``recall`` does the I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from v4agent.review.findings import markers_in
from v4agent.review.github import GitHubClient, GitHubError, PullRef
from v4agent.review.identity import BotIdentity, resolve_identity
from v4agent.review.report import ReviewReport, SkippedFinding

RESOLVED, WONT_FIX, THUMBS_DOWN, ANSWERED = "resolved", "won't fix", "thumbs-down", "answered"
_ORDER = (RESOLVED, WONT_FIX, THUMBS_DOWN, ANSWERED)  # the reason shown when several apply
_WONT_FIX_RE = re.compile(r"\b(?:won['’]?t[\s-]?fix|wontfix|not\s+a\s+bug)\b", re.IGNORECASE)

THREADS_QUERY = """\
query($owner: String!, $name: String!, $number: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviewThreads(first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes {
          id
          isResolved
          resolvedBy { __typename login }
          comments(first: 100) {
            nodes { author { __typename login } body fullDatabaseId }
          }
        }
      }
    }
  }
}
"""


@dataclass(frozen=True)
class ThreadComment:
    """One comment of a review thread: its REST id, author and body."""

    id: int
    author: str  # "" for a deleted account
    author_is_bot: bool
    body: str


@dataclass(frozen=True)
class Thread:
    """A review thread: whether it is resolved and by whom, and its comments, first (the one that opened it) first."""

    resolved: bool
    comments: tuple[ThreadComment, ...]
    resolved_by: str = ""  # the login of the User who resolved it; "" when GitHub names none
    resolved_by_bot: bool = False
    node_id: str = ""  # the thread's GraphQL id (what resolveReviewThread takes)


@dataclass(frozen=True)
class Settled:
    """Why one fingerprint is settled, and by whom."""

    reason: str
    by: str = ""


@dataclass(frozen=True)
class Memory:
    """The fingerprints people settled on this pull request."""

    settled: Mapping[str, Settled]


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_threads(data: Mapping[str, Any]) -> tuple[list[Thread], str | None]:
    """The threads of one answer to THREADS_QUERY, and the cursor of the next page (None on the last)."""
    pull = ((data.get("repository") or {}).get("pullRequest") or {})
    connection = pull.get("reviewThreads") or {}
    threads: list[Thread] = []
    for node in connection.get("nodes") or []:
        if not isinstance(node, Mapping):
            continue
        comments: list[ThreadComment] = []
        for item in ((node.get("comments") or {}).get("nodes") or []):
            number = _int(item.get("fullDatabaseId")) if isinstance(item, Mapping) else None
            if number is None:
                continue
            author = item.get("author") if isinstance(item.get("author"), Mapping) else {}
            login = str(author.get("login") or "")
            is_bot = author.get("__typename") == "Bot" or login.lower().endswith("[bot]")
            comments.append(ThreadComment(number, login, is_bot, str(item.get("body") or "")))
        # docs.github.com/graphql/reference/objects#pullrequestreviewthread: resolvedBy is a nullable User.
        raw = node.get("resolvedBy")
        resolver: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        by = str(resolver.get("login") or "")
        by_bot = resolver.get("__typename") == "Bot" or by.lower().endswith("[bot]")
        threads.append(Thread(bool(node.get("isResolved")), tuple(comments), by, by_bot, str(node.get("id") or "")))
    info = connection.get("pageInfo") or {}
    cursor = info.get("endCursor") if info.get("hasNextPage") else None
    return threads, cursor if isinstance(cursor, str) and cursor else None


def resolved_by_person(thread: Thread, bot_login: str = "") -> bool:
    """Whether a person resolved ``thread``: not a bot, not the bot's own login (REST's, maybe with "[bot]",
    against GraphQL's, without it), and not nobody (a resolution GitHub attributes to no User)."""
    if not thread.resolved or not thread.resolved_by or thread.resolved_by_bot:
        return False
    own = bot_login.lower().removesuffix("[bot]")
    return not own or thread.resolved_by.lower() != own


def settled(threads: Iterable[Thread], own: Mapping[int, set[str]],
            thumbs_down: Mapping[int, str], bot_login: str = "") -> dict[str, Settled]:
    """Fingerprint -> why it is settled. ``own``: the bot's comments (REST id -> fingerprints in them);
    ``thumbs_down``: comment id -> who gave a thumbs-down, for the bot's comments that have one;
    ``bot_login``: the bot's own login, whose resolutions settle nothing."""
    out: dict[str, Settled] = {}
    for thread in threads:
        if not thread.comments or thread.comments[0].id not in own:
            continue  # not a thread the bot opened
        first = thread.comments[0]
        people = [c for c in thread.comments[1:] if c.author and not c.author_is_bot and c.id not in own]
        found: list[Settled] = []
        if resolved_by_person(thread, bot_login):
            found.append(Settled(RESOLVED, thread.resolved_by))
        found += [Settled(WONT_FIX, c.author) for c in thread.comments[1:]
                  if c.id not in own and _WONT_FIX_RE.search(c.body) and (c.author and not c.author_is_bot)]
        if first.id in thumbs_down:
            found.append(Settled(THUMBS_DOWN, thumbs_down[first.id]))
        found += [Settled(ANSWERED, c.author) for c in people]
        if not found:
            continue
        best = min(found, key=lambda s: _ORDER.index(s.reason))
        for fp in own[first.id]:
            out.setdefault(fp, best)
    return out


def without_settled(report: ReviewReport, memory: Memory) -> ReviewReport:
    """The report less the findings people settled; those are recorded in ``skipped``."""
    kept = tuple(p for p in report.placed if p.fingerprint not in memory.settled)
    if len(kept) == len(report.placed):
        return report
    skipped = tuple(SkippedFinding(p, memory.settled[p.fingerprint].reason, memory.settled[p.fingerprint].by)
                    for p in report.placed if p.fingerprint in memory.settled)
    return replace(report, placed=kept, skipped=report.skipped + skipped)


def read_threads(client: GitHubClient, pull: PullRef) -> list[Thread]:
    """Every review thread of ``pull`` (THREADS_QUERY, page by page)."""
    threads: list[Thread] = []
    cursor: str | None = None
    for _ in range(1_000):  # 100,000 threads: past any real pull request
        data = client.graphql(THREADS_QUERY, {"owner": pull.owner, "name": pull.repo, "number": pull.number,
                                              "after": cursor})
        if (data.get("repository") or {}).get("pullRequest") is None:
            raise GitHubError(f"GitHub's GraphQL API does not know pull request {pull.owner}/{pull.repo}#"
                              f"{pull.number}")
        page, cursor = parse_threads(data)
        threads += page
        if cursor is None:
            break
    return threads


def _thumbs_down_by(client: GitHubClient, pull: PullRef, comment_id: int) -> str | None:
    """Who gave the comment a thumbs-down (a person, not a bot), or None."""
    for reaction in client.list_comment_reactions(pull, comment_id, "-1"):
        user = reaction.get("user") if isinstance(reaction, Mapping) else None
        if reaction.get("content") != "-1" or not isinstance(user, Mapping):
            continue
        login = str(user.get("login") or "")
        if user.get("type") != "Bot" and not login.lower().endswith("[bot]"):
            return login
    return None


def recall(client: GitHubClient, pull: PullRef, bot_login: str = "",
           wanted: Iterable[str] | None = None) -> Memory:
    """What people settled on this pull request's earlier findings; ``wanted`` limits the reactions asked for
    to the comments carrying those fingerprints (each is one request)."""
    me: BotIdentity = resolve_identity(client, bot_login)
    own: dict[int, set[str]] = {}
    for comment in client.list_review_comments(pull):
        fps = markers_in(str(comment.get("body") or "")) if me.authored(comment) else set()
        if fps and _int(comment.get("id")) is not None:
            own[int(comment["id"])] = fps
    if not own:
        return Memory({})  # the bot never commented here: nothing to remember
    threads = read_threads(client, pull)
    looked = set(wanted) if wanted is not None else None
    thumbs: dict[int, str] = {}
    for thread in threads:
        first = thread.comments[0].id if thread.comments else None
        if first not in own or resolved_by_person(thread, me.login) or (looked is not None and not own[first] & looked):
            continue  # a thread a person resolved is settled already: spare the request
        who = _thumbs_down_by(client, pull, first)
        if who is not None:
            thumbs[first] = who
    return Memory(settled(threads, own, thumbs, me.login))
