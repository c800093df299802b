"""Review threads in fake GitHub: replies, reactions and resolution, over REST and GraphQL.

- A review comment without ``in_reply_to_id`` opens a thread; ``POST /pulls/{n}/comments/{id}/replies``
  adds a reply to it, on the same path and line (docs.github.com/rest/pulls/comments#create-a-reply-for-a-
  review-comment: "Replies to replies are not supported", so a reply is filed under its target's thread).
- Reactions: ``GET``/``POST /repos/{o}/{r}/pulls/comments/{id}/reactions``; the listing filters by
  ``content``; posting a reaction the user already gave answers 200 with it, a new one 201
  (docs.github.com/rest/reactions/reactions#create-reaction-for-a-pull-request-review-comment).
- GraphQL ``repository.pullRequest.reviewThreads`` (docs.github.com/graphql/reference/objects#
  pullrequestreviewthread) and the ``resolveReviewThread`` mutation (docs.github.com/graphql/reference/
  mutations#resolvereviewthread), which the pull request's author or anyone with write access may use
  (docs.github.com/pull-requests/collaborating-with-pull-requests/reviewing-changes-in-pull-requests/
  commenting-on-a-pull-request#resolving-conversations).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from v4agent.testing.fake_github_graphql import GraphQLFailure, execute, paged
from v4agent.testing.fake_github_objects import CREATED_AT, FakeAccount, comment_links
from v4agent.testing.fake_github_pulls import COMMENTS_DOCS, MAX_BODY, FakePull, Site

REACTIONS_DOCS = "https://docs.github.com/rest/reactions/reactions"
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")
Answer = tuple[int, Any]


def thread_root(pull: FakePull, comment_id: int) -> dict[str, Any] | None:
    """The comment that opened the thread ``comment_id`` belongs to."""
    comment = next((c for c in pull.comments if c["id"] == comment_id), None)
    while comment is not None and comment.get("in_reply_to_id"):
        comment = next((c for c in pull.comments if c["id"] == comment["in_reply_to_id"]), None)
    return comment


def create_reply(site: Site, pull: FakePull, comment_id: int, body: Any, account: FakeAccount) -> Answer:
    """``POST /pulls/{n}/comments/{id}/replies``: a reply in the target's thread, by any account that may write."""
    root = thread_root(pull, comment_id)
    if root is None:
        return 404, {"message": "Not Found", "documentation_url": COMMENTS_DOCS, "status": "404"}
    if not isinstance(body, dict) or not isinstance(body.get("body"), str) or not body["body"]:
        return 422, {"message": "Validation Failed", "documentation_url": COMMENTS_DOCS, "status": "422",
                     "errors": [{"resource": "PullRequestReviewComment", "code": "missing_field", "field": "body"}]}
    if len(body["body"]) > MAX_BODY:
        return 422, {"message": "Validation Failed", "documentation_url": COMMENTS_DOCS, "status": "422",
                     "errors": [{"resource": "PullRequestReviewComment", "code": "custom", "field": "body",
                                 "message": f"Body is too long (maximum is {MAX_BODY} characters)"}]}
    reply_id = site.next_id()
    url = f"{site.api_url}/repos/{pull.owner}/{pull.repo}/pulls/comments/{reply_id}"
    html = f"{site.html_url(pull)}#discussion_r{reply_id}"
    reply = {**root, "id": reply_id, "node_id": f"PRRC_{reply_id}", "url": url, "html_url": html,
             "_links": comment_links(url, site.pull_url(pull), html), "body": body["body"],
             "user": account.user_json(site.api_url), "in_reply_to_id": root["id"], "created_at": CREATED_AT,
             "updated_at": CREATED_AT}
    pull.comments.append(reply)
    return 201, reply


def _reaction_json(site: Site, account: FakeAccount, content: str) -> dict[str, Any]:
    number = site.next_id()
    return {"id": number, "node_id": f"REA_{number}", "user": account.user_json(site.api_url), "content": content,
            "created_at": CREATED_AT}


def create_reaction(site: Site, pull: FakePull, comment_id: int, body: Any, account: FakeAccount) -> Answer:
    """``POST .../pulls/comments/{id}/reactions``: 201 with a new reaction, 200 with one the user already gave."""
    if not isinstance(body, dict) or body.get("content") not in REACTIONS:
        return 422, {"message": "Validation Failed", "documentation_url": REACTIONS_DOCS, "status": "422",
                     "errors": [{"resource": "Reaction", "code": "invalid", "field": "content"}]}
    given = pull.reactions.setdefault(comment_id, [])
    same = next((r for r in given if r["user"]["login"] == account.login and r["content"] == body["content"]), None)
    if same is not None:
        return 200, same
    reaction = _reaction_json(site, account, body["content"])
    given.append(reaction)
    return 201, reaction


def reactions_of(pull: FakePull, comment_id: int, content: str | None) -> list[dict[str, Any]] | str:
    """The reactions to one comment, of one kind when ``content`` is given; a message when it is not a kind."""
    if content is not None and content not in REACTIONS:
        return f"content must be one of {', '.join(REACTIONS)}"
    return [r for r in pull.reactions.get(comment_id, []) if content is None or r["content"] == content]


# ---- GraphQL ----------------------------------------------------------------------------------------

def _actor(user: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not isinstance(user, Mapping):
        return None  # a deleted account ("ghost"): GitHub's author is null
    login = str(user["login"])
    if user.get("type") == "Bot":
        return {"__typename": "Bot", "login": login.removesuffix("[bot]")}
    return {"__typename": "User", "login": login}


def _comment_node(comment: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": comment["node_id"], "author": _actor(comment.get("user")), "body": comment["body"],
            "databaseId": comment["id"], "fullDatabaseId": str(comment["id"])}


def thread_node(pull: FakePull, root: Mapping[str, Any]) -> dict[str, Any]:
    """A ``PullRequestReviewThread`` for the thread ``root`` opened."""
    def members() -> list[dict[str, Any]]:
        return [_comment_node(c) for c in pull.comments
                if c["id"] == root["id"] or c.get("in_reply_to_id") == root["id"]]
    resolver = pull.resolved.get(root["id"])
    # resolvedBy is typed User in GitHub's schema (docs.github.com/graphql/reference/objects#
    # pullrequestreviewthread, "resolvedBy: User"): an app's bot account is a Bot, not a User, so a thread an
    # installation token resolved names nobody there.
    by_app = resolver is not None and resolver.lower().endswith("[bot]")
    return {"id": f"PRRT_{root['id']}", "isResolved": resolver is not None, "isOutdated": False,
            "path": root["path"],
            "resolvedBy": None if resolver is None or by_app else {"__typename": "User", "login": resolver},
            "comments": paged(members, "comments")}


def query_root(pulls: Mapping[tuple[str, str, int], FakePull]) -> dict[str, Any]:
    """The ``Query`` root over the fake's pull requests."""
    def repository(_info: Any, owner: str, name: str, followRenames: bool = True) -> dict[str, Any] | None:
        known = {(o.lower(), r.lower()) for o, r, _ in pulls}
        if (owner.lower(), name.lower()) not in known:
            raise GraphQLFailure("NOT_FOUND", f"Could not resolve to a Repository with the name '{owner}/{name}'.")

        def pull_request(_info: Any, number: int) -> dict[str, Any] | None:
            pull = next((p for (o, r, n), p in pulls.items()
                         if (o.lower(), r.lower(), n) == (owner.lower(), name.lower(), number)), None)
            if pull is None:
                raise GraphQLFailure("NOT_FOUND", f"Could not resolve to a PullRequest with the number of {number}.")
            roots = [c for c in pull.comments if not c.get("in_reply_to_id")]
            return {"number": number, "reviewThreads": paged(lambda: [thread_node(pull, c) for c in roots],
                                                             "reviewThreads")}

        return {"nameWithOwner": f"{owner}/{name}", "pullRequest": pull_request}

    return {"repository": repository}


def mutation_root(pulls: Mapping[tuple[str, str, int], FakePull], account: FakeAccount) -> dict[str, Any]:
    """The ``Mutation`` root: ``resolveReviewThread`` as ``account``."""
    def resolve_review_thread(_info: Any, input: dict[str, Any]) -> dict[str, Any]:
        number = str(input["threadId"]).removeprefix("PRRT_")
        for pull in pulls.values():
            root = next((c for c in pull.comments if number.isdigit() and c["id"] == int(number)
                         and not c.get("in_reply_to_id")), None)
            if root is None:
                continue
            if not account.can_write and account.login != pull.author:
                raise GraphQLFailure("FORBIDDEN", f"{account.login} does not have permission to resolve this "
                                                  "review thread.")
            pull.resolved[root["id"]] = account.login
            return {"clientMutationId": input.get("clientMutationId"), "thread": thread_node(pull, root)}
        raise GraphQLFailure("NOT_FOUND", f"Could not resolve to a node with the global id of '{input['threadId']}'")

    return {"resolveReviewThread": resolve_review_thread}


def execute_graphql(pulls: Mapping[tuple[str, str, int], FakePull], body: Any,
                    account: FakeAccount) -> dict[str, Any]:
    """The answer to one ``POST /graphql`` made as ``account``."""
    return execute(body, query_root(pulls), mutation_root(pulls, account))
