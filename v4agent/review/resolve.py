"""Resolve the review threads of the bot's comments that a later push fixed (after their "Fixed in" reply).

GitHub's ``resolveReviewThread`` mutation (docs.github.com/graphql/reference/mutations#resolvereviewthread) takes
the thread's node id, read with the threads (``memory.THREADS_QUERY``). A thread the bot resolved never counts as
settled by a person (``memory.resolved_by_person``), so a problem that comes back is raised again.
"""

from __future__ import annotations

from collections.abc import Sequence

from v4agent.review.github import GitHubClient, GitHubError, PullRef
from v4agent.review.incremental import EarlierComment
from v4agent.review.memory import read_threads

RESOLVE_THREAD = """\
mutation($threadId: ID!) {
  resolveReviewThread(input: {threadId: $threadId}) { thread { isResolved } }
}
"""


def resolve_fixed(client: GitHubClient, pull: PullRef, comments: Sequence[EarlierComment]) -> int:
    """Resolve the open threads that ``comments`` opened; how many were resolved.

    A refusal (a token that may not resolve, GraphQL unavailable) ends the attempt: the replies already say
    what was fixed, and the review itself stands.
    """
    opened = {comment.id for comment in comments}
    if not opened:
        return 0
    resolved = 0
    try:
        for thread in read_threads(client, pull):
            if thread.resolved or not thread.node_id or not thread.comments or thread.comments[0].id not in opened:
                continue
            client.graphql(RESOLVE_THREAD, {"threadId": thread.node_id})
            resolved += 1
    except GitHubError:
        return resolved
    return resolved
