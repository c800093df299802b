"""Fake GitHub's GraphQL endpoint: review threads of a pull request, and resolving one, checked as GitHub checks.

GitHub's GraphQL API is one endpoint, ``POST /graphql`` with ``{"query", "variables"}``
(docs.github.com/graphql/guides/forming-calls-with-graphql). It answers 200 even for a query it rejects,
with ``errors`` and no ``data`` when the query does not validate against its schema, and with both when a
field fails while running. The fake models a part of GitHub's schema (``SCHEMA_SDL``: each type and field
as GitHub's published schema has it, which ``tests/review/test_fake_graphql.py`` checks against the real
schema file when it is installed), and:

- validates every query against GitHub's real schema when that is installed (the test cache holds
  @octokit/graphql-schema's ``schema.graphql``), so an unknown field gets GitHub's own kind of error, then
  against the modelled part, so the fake never answers a field it does not model;
- words the errors as GitHub does for unknown fields and arguments (``undefinedField``,
  ``argumentNotAccepted``; e.g. "Field 'foo' doesn't exist on type 'PullRequest'");
- requires ``first`` or ``last`` on every connection, each within 1..100 (docs.github.com/graphql/
  overview/rate-limits-and-query-limits-for-the-graphql-api#node-limit);
- answers a missing repository or pull request with null and a ``NOT_FOUND`` error.

An app's bot account is ``Bot`` in GraphQL, and its ``login`` there lacks the ``[bot]`` suffix that REST's
``user.login`` carries (the reviewThreads shape quoted in github.com/lhpaul/ai-dev-framework-template/pull/1237;
GraphQL "dependabot" against REST "dependabot[bot]" in github.com/marcusquinn/aidevops/issues/29778).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import graphql

from v4agent.testing.github_openapi import _CACHE_AT_IMPORT

GRAPHQL_DOCS = "https://docs.github.com/graphql"
SCHEMA_PACKAGE = "@octokit/graphql-schema"
SCHEMA_VERSION = "15.26.1"
MAX_PAGE = 100

# The modelled part of GitHub's schema, field for field as GitHub's schema.graphql declares it.
SCHEMA_SDL = '''
scalar BigInt

type Query {
  repository(followRenames: Boolean, name: String!, owner: String!): Repository
}

type Mutation {
  resolveReviewThread(input: ResolveReviewThreadInput!): ResolveReviewThreadPayload
}

input ResolveReviewThreadInput {
  clientMutationId: String
  threadId: ID!
}

type ResolveReviewThreadPayload {
  clientMutationId: String
  thread: PullRequestReviewThread
}

type Repository {
  nameWithOwner: String!
  pullRequest(number: Int!): PullRequest
}

type PullRequest {
  number: Int!
  reviewThreads(after: String, before: String, first: Int, last: Int): PullRequestReviewThreadConnection!
}

type PageInfo {
  endCursor: String
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
}

type PullRequestReviewThreadConnection {
  nodes: [PullRequestReviewThread]
  pageInfo: PageInfo!
  totalCount: Int!
}

type PullRequestReviewThread {
  comments(after: String, before: String, first: Int, last: Int, skip: Int): PullRequestReviewCommentConnection!
  id: ID!
  isOutdated: Boolean!
  isResolved: Boolean!
  path: String!
  resolvedBy: User
}

type PullRequestReviewCommentConnection {
  nodes: [PullRequestReviewComment]
  pageInfo: PageInfo!
  totalCount: Int!
}

type PullRequestReviewComment {
  author: Actor
  body: String!
  databaseId: Int @deprecated(reason: "`databaseId` will be removed because it does not support 64-bit signed integer identifiers. Use `fullDatabaseId` instead. Removal on 2024-07-01 UTC.")
  fullDatabaseId: BigInt
  id: ID!
}

interface Actor {
  login: String!
}

type User implements Actor {
  login: String!
}

type Bot implements Actor {
  login: String!
}
'''


class GraphQLFailure(Exception):
    """A field that fails while the query runs: GitHub's error ``type`` and message."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@lru_cache(maxsize=1)
def modelled_schema() -> graphql.GraphQLSchema:
    """The modelled part of GitHub's schema."""
    return graphql.build_schema(SCHEMA_SDL)


def real_schema_path() -> Path | None:
    """GitHub's published schema (``schema.graphql`` of @octokit/graphql-schema) in the test cache, if there."""
    found = _CACHE_AT_IMPORT / "github-graphql-schema" / SCHEMA_VERSION / "schema.graphql"
    return found if found.is_file() else None


@lru_cache(maxsize=1)
def real_schema() -> graphql.GraphQLSchema | None:
    """GitHub's whole schema, when installed. The published file repeats a few fields and has deprecation
    clashes graphql-core would refuse; GitHub serves it as it is, so it is taken as valid."""
    path = real_schema_path()
    if path is None:
        return None
    return graphql.build_schema(path.read_text(encoding="utf-8"), assume_valid_sdl=True, assume_valid=True)


_UNDEFINED_FIELD = re.compile(r"^Cannot query field '([^']+)' on type '([^']+)'\.")
_UNKNOWN_ARGUMENT = re.compile(r"^Unknown argument '([^']+)' on field '([^'.]+)\.([^']+)'\.")


def _validation_error(error: graphql.GraphQLError) -> dict[str, Any]:
    """One validation error as GitHub words it (the two kinds GitHub's clients meet most; others as they are)."""
    out: dict[str, Any] = {"message": error.message}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    field = _UNDEFINED_FIELD.match(error.message)
    if field:
        out["message"] = f"Field '{field.group(1)}' doesn't exist on type '{field.group(2)}'"
        out["extensions"] = {"code": "undefinedField", "typeName": field.group(2), "fieldName": field.group(1)}
    argument = _UNKNOWN_ARGUMENT.match(error.message)
    if argument:
        out["message"] = f"Field '{argument.group(3)}' doesn't accept argument '{argument.group(1)}'"
        out["extensions"] = {"code": "argumentNotAccepted", "name": argument.group(3), "typeName": "Field",
                             "argumentName": argument.group(1)}
    return out


def cursor(index: int) -> str:
    """An opaque cursor for the item at ``index`` of a connection."""
    return base64.b64encode(f"cursor:v2:{index}".encode()).decode()


def _position(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        text = base64.b64decode(value.encode(), validate=True).decode()
        return int(text.removeprefix("cursor:v2:"))
    except (ValueError, UnicodeDecodeError):
        raise GraphQLFailure("INVALID_CURSOR_ARGUMENTS", f"`{value}` does not appear to be a valid cursor.") from None


def connection(items: Sequence[Any], name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """One page of ``items`` as a connection, with GitHub's rules on ``first``/``last``."""
    first, last = args.get("first"), args.get("last")
    if first is None and last is None:
        raise GraphQLFailure("MISSING_PAGINATION_BOUNDARIES", f"You must provide a `first` or `last` value to "
                                                              f"properly paginate the `{name}` connection.")
    if first is not None and last is not None:
        raise GraphQLFailure("INVALID_PAGINATION", f"Passing both `first` and `last` to paginate the `{name}` "
                                                   "connection is not supported.")
    for label, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= MAX_PAGE:
            raise GraphQLFailure("EXCESSIVE_PAGINATION", f"Requesting {value} records on the `{name}` connection "
                                                         f"exceeds the `{label}` limit of {MAX_PAGE} records.")
    after, before = _position(args.get("after"), name), _position(args.get("before"), name)
    low = 0 if after is None else after + 1
    high = len(items) if before is None else min(before, len(items))
    low += int(args.get("skip") or 0)
    window = list(range(low, max(low, high)))
    chosen = window[:first] if first is not None else window[max(0, len(window) - (last or 0)):]
    return {
        "nodes": [items[i] for i in chosen],
        "totalCount": len(items),
        # Relay's rule: hasNextPage is said when paging forward (first), hasPreviousPage backward (last).
        "pageInfo": {"hasNextPage": first is not None and bool(chosen) and chosen[-1] < high - 1,
                     "hasPreviousPage": last is not None and bool(chosen) and chosen[0] > low,
                     "startCursor": cursor(chosen[0]) if chosen else None,
                     "endCursor": cursor(chosen[-1]) if chosen else None},
    }


def paged(items: Callable[[], Sequence[Any]], name: str) -> Callable[..., dict[str, Any]]:
    """A connection field's resolver (graphql-core calls a callable value with ``info`` and the arguments)."""
    return lambda _info, **args: connection(items(), name, args)


def execute(body: Any, root: Mapping[str, Any], mutations: Mapping[str, Any]) -> dict[str, Any]:
    """The answer to one GraphQL request body (always sent with 200, as GitHub does)."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return {"errors": [{"message": "A query attribute must be specified and must be a string."}]}
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        return {"errors": [{"message": "Variables are invalid JSON."}]}
    try:
        document = graphql.parse(body["query"])
    except graphql.GraphQLError as exc:
        return {"errors": [{"message": f"Parse error on {exc.message}",
                            "locations": [{"line": loc.line, "column": loc.column} for loc in exc.locations or []]}]}
    real = real_schema()
    for schema in (real, modelled_schema()):
        if schema is None:
            continue
        problems = graphql.validate(schema, document)
        if problems:
            errors = [_validation_error(p) for p in problems]
            if schema is not real:
                errors = [{**e, "message": "fake GitHub does not model this part of GitHub's schema: " + e["message"]}
                          for e in errors]
            return {"errors": errors}
    result = graphql.execute_sync(modelled_schema(), document, root_value={**root, **mutations},
                                  variable_values=variables)
    out: dict[str, Any] = {"data": result.data}
    if result.errors:
        out["errors"] = [_run_error(e) for e in result.errors]
    return out


def _run_error(error: graphql.GraphQLError) -> dict[str, Any]:
    out: dict[str, Any] = {"message": error.message, "path": list(error.path or [])}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    original = error.original_error
    if isinstance(original, GraphQLFailure):
        out["type"] = original.kind
    return out
