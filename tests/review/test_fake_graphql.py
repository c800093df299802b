"""Fake GitHub's GraphQL endpoint against GitHub's schema, and its threads and reactions over REST.

The modelled part of the schema must be GitHub's own, field for field (checked against @octokit/graphql-schema's
``schema.graphql``, which tests/run.sh installs), and a query GitHub would refuse must be refused.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import graphql
import httpx
import pytest

from tests.review.test_github import BASE, DIFF, HEAD, TOKEN
from v4agent.review.github import GitHubClient, GitHubError, PullRef
from v4agent.review.memory import THREADS_QUERY, recall
from v4agent.testing.fake_github import FakeGitHub
from v4agent.testing.fake_github_graphql import (
    SCHEMA_PACKAGE,
    SCHEMA_VERSION,
    GraphQLFailure,
    connection,
    modelled_schema,
    real_schema,
)

USER = "ghp_person_token_0123456789"
PULL = PullRef("octo", "demo", 7)


def _real() -> graphql.GraphQLSchema:
    schema = real_schema()
    if schema is None:
        if os.environ.get("CI"):
            pytest.fail(f"{SCHEMA_PACKAGE}@{SCHEMA_VERSION} is not in the test cache: tests/run.sh installs it")
        pytest.skip(f"{SCHEMA_PACKAGE}@{SCHEMA_VERSION} is not installed (bash tests/run.sh installs it)")
    return schema


def _signature(field: graphql.GraphQLField) -> tuple[str, dict[str, str], bool]:
    return str(field.type), {name: str(arg.type) for name, arg in field.args.items()}, field.deprecation_reason is None


def test_the_modelled_schema_is_part_of_githubs_own() -> None:
    real = _real()
    checked = 0
    for name, kind in modelled_schema().type_map.items():
        if name.startswith("__") or name in ("String", "Int", "Boolean", "ID", "Float"):
            continue
        theirs = real.type_map.get(name)
        assert theirs is not None, name
        assert type(theirs) is type(kind), name
        if isinstance(kind, graphql.GraphQLObjectType | graphql.GraphQLInterfaceType | graphql.GraphQLInputObjectType):
            assert isinstance(theirs, type(kind))
            for field_name, field in kind.fields.items():
                assert field_name in theirs.fields, f"{name}.{field_name}"
                if isinstance(field, graphql.GraphQLField):
                    assert _signature(field) == _signature(theirs.fields[field_name]), f"{name}.{field_name}"
                else:
                    assert str(field.type) == str(theirs.fields[field_name].type), f"{name}.{field_name}"
                checked += 1
        if isinstance(kind, graphql.GraphQLObjectType):
            assert {i.name for i in kind.interfaces} <= {i.name for i in theirs.interfaces}, name
    assert checked >= 30
    # The bot's own query is valid against GitHub's whole schema.
    assert graphql.validate(real, graphql.parse(THREADS_QUERY)) == []


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=TOKEN) as fake:
        fake.add_token(USER, "alice")
        fake.add_pull("octo", "demo", 7, diff=DIFF, head_sha=HEAD, base_sha=BASE)
        yield fake


def _ask(gh: FakeGitHub, query: str, variables: dict[str, Any] | None = None, token: str = USER) -> Any:
    response = httpx.post(f"{gh.api_url}/graphql", json={"query": query, "variables": variables or {}},
                          headers={"Authorization": f"Bearer {token}", "User-Agent": "test"})
    assert response.status_code == 200  # GitHub answers a refused query with 200 and errors
    return response.json()


PR = 'repository(owner: "octo", name: "demo") { pullRequest(number: 7) { %s } }'


def test_a_query_github_would_refuse_is_refused(gh: FakeGitHub) -> None:
    unknown = _ask(gh, "{ %s }" % (PR % "nope"))
    assert unknown == {"errors": [{"message": "Field 'nope' doesn't exist on type 'PullRequest'",
                                   "locations": [{"line": 1, "column": 70}],
                                   "extensions": {"code": "undefinedField", "typeName": "PullRequest",
                                                  "fieldName": "nope"}}]}
    argument = _ask(gh, "{ %s }" % (PR % "reviewThreads(first: 1, orderBy: 2) { totalCount }"))
    assert argument["errors"][0]["message"] == "Field 'reviewThreads' doesn't accept argument 'orderBy'"
    assert "data" not in argument
    for args, says in (("", "You must provide a `first` or `last` value"),
                       ("(first: 101)", "exceeds the `first` limit of 100 records"),
                       ("(first: 1, last: 1)", "Passing both `first` and `last`"),
                       ('(first: 1, after: "!!")', "does not appear to be a valid cursor")):
        answer = _ask(gh, "{ %s }" % (PR % f"reviewThreads{args} {{ totalCount }}"))
        assert says in answer["errors"][0]["message"], args
    missing = _ask(gh, '{ repository(owner: "octo", name: "gone") { nameWithOwner } }')
    assert missing["data"] == {"repository": None}
    assert missing["errors"][0]["type"] == "NOT_FOUND"
    bad = httpx.post(f"{gh.api_url}/graphql", json={"variables": {}},
                     headers={"Authorization": f"Bearer {USER}", "User-Agent": "test"}).json()
    assert bad == {"errors": [{"message": "A query attribute must be specified and must be a string."}]}


def test_a_real_field_the_fake_does_not_model_is_said_so(gh: FakeGitHub) -> None:
    _real()
    answer = _ask(gh, "{ %s }" % (PR % "title"))
    assert answer["errors"][0]["message"].startswith("fake GitHub does not model this part of GitHub's schema")


def test_the_client_reports_graphql_errors_as_github_errors(gh: FakeGitHub) -> None:
    with GitHubClient(TOKEN, gh.api_url) as client, pytest.raises(GitHubError) as caught:
        client.graphql("{ %s }" % (PR % "nope"), {})
    assert "doesn't exist on type 'PullRequest'" in str(caught.value)


def test_connections_page_as_github_pages_them() -> None:
    items = list(range(250))
    first = connection(items, "x", {"first": 100})
    assert first["nodes"] == items[:100]
    assert first["pageInfo"]["hasNextPage"] is True
    second = connection(items, "x", {"first": 100, "after": first["pageInfo"]["endCursor"]})
    last = connection(items, "x", {"first": 100, "after": second["pageInfo"]["endCursor"]})
    assert last["nodes"] == items[200:]
    assert last["pageInfo"]["hasNextPage"] is False
    assert connection(items, "x", {"last": 2})["nodes"] == [248, 249]
    with pytest.raises(GraphQLFailure):
        connection(items, "x", {"first": -1})


def test_recall_pages_through_every_thread_and_every_reaction(gh: FakeGitHub) -> None:
    pull = gh.pulls[("octo", "demo", 7)]
    bodies = [f"n{n} <!-- v4agent-review:fp={n:016x} -->" for n in range(150)]
    with GitHubClient(TOKEN, gh.api_url, write_interval_s=0) as bot, \
            GitHubClient(USER, gh.api_url, write_interval_s=0) as alice:
        bot.create_review(PULL, commit_id=HEAD, event="COMMENT", body="review",
                          comments=[{"path": "src/app.py", "line": 11, "side": "RIGHT", "body": b} for b in bodies])
        last = pull.comments[-1]["id"]
        for content in ("+1", "-1", "heart"):
            alice.request("POST", f"/repos/octo/demo/pulls/comments/{last}/reactions", json_body={"content": content})
        again = alice.request("POST", f"/repos/octo/demo/pulls/comments/{last}/reactions",
                              json_body={"content": "-1"})
        assert again.status_code == 200  # the same reaction twice is the one already given
        assert [r["content"] for r in bot.list_comment_reactions(PULL, last, "-1")] == ["-1"]
        memory = recall(bot, PULL)
    pages = [r for r in gh.requests if r.path == "/graphql"]
    assert len(pages) == 2  # 150 threads: two pages of 100
    assert dict(memory.settled) == {f"{149:016x}": memory.settled[f"{149:016x}"]}
    assert memory.settled[f"{149:016x}"].reason == "thumbs-down"
    assert not gh.contract_violations


def test_a_reply_joins_its_thread_and_a_read_only_token_may_not_resolve(gh: FakeGitHub) -> None:
    pull = gh.pulls[("octo", "demo", 7)]
    gh.add_token("ghs_readonly_0123456789", "fork-app[bot]", can_write=False)
    with GitHubClient(TOKEN, gh.api_url, write_interval_s=0) as bot, \
            GitHubClient(USER, gh.api_url, write_interval_s=0) as alice:
        bot.create_review(PULL, commit_id=HEAD, event="COMMENT", body="r",
                          comments=[{"path": "src/app.py", "line": 11, "side": "RIGHT", "body": "x"}])
        root = pull.comments[0]["id"]
        reply = alice.request("POST", f"/repos/octo/demo/pulls/7/comments/{root}/replies",
                              json_body={"body": "first"}).json()
        alice.request("POST", f"/repos/octo/demo/pulls/7/comments/{reply['id']}/replies", json_body={"body": "2nd"})
    assert [c.get("in_reply_to_id") for c in pull.comments] == [None, root, root]  # a reply to a reply: same thread
    answer = _ask(gh, "{ %s }" % (PR % "reviewThreads(first: 5) { nodes { id comments(first: 5) { totalCount "
                                          "nodes { author { __typename login } } } } }"))
    thread = answer["data"]["repository"]["pullRequest"]["reviewThreads"]["nodes"][0]
    assert thread["comments"]["totalCount"] == 3
    assert thread["comments"]["nodes"][0]["author"] == {"__typename": "Bot", "login": "github-actions"}
    refused = _ask(gh, "mutation($id: ID!) { resolveReviewThread(input: {threadId: $id}) { thread { isResolved } } }",
                   {"id": thread["id"]}, token="ghs_readonly_0123456789")
    assert refused["errors"][0]["type"] == "FORBIDDEN"
    assert pull.resolved == {}


def test_graphql_queries_are_not_spaced_out_like_writes(gh: FakeGitHub) -> None:
    slept: list[float] = []
    query = "{ %s }" % (PR % "number")
    with GitHubClient(TOKEN, gh.api_url, write_interval_s=5.0, sleep=slept.append) as client:
        assert client.graphql(query, {}) == {"repository": {"pullRequest": {"number": 7}}}
        client.graphql(query, {})
    assert slept == []
