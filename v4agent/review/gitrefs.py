"""The commits a pull-request review needs in the local clone: fetched when missing, and the merge base.

GitHub diffs a pull request from the merge base of its base and head, not from ``pull_request.base.sha``
(the base branch's tip when the event fired): "three-dot" comparison, docs.github.com/pull-requests/
collaborating-with-pull-requests/proposing-changes-to-your-work-with-pull-requests/about-comparing-branches-
in-pull-requests#three-dot-and-two-dot-git-diff-comparisons. So the old side of every line comment, and the
repository a review packs, are read at the merge base; otherwise a base branch that moved since the pull
request was opened shifts the LEFT-side lines under the comments.

A workflow's clone may lack a commit: ``pull_request_target`` checks out the base branch, and
``fetch-depth: 0`` fetches the base repository's branches and tags, never a fork's head; GitHub keeps every
pull request's head at ``refs/pull/N/head`` in the base repository (docs.github.com/pull-requests/
collaborating-with-pull-requests/reviewing-changes-in-pull-requests/checking-out-pull-requests-locally).
A shallow clone may lack the history between the two. Both are fetched here with plain ``git fetch``,
which downloads objects and checks nothing out: the pull request's code is read as data, never run.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from v4agent.core.git import GitError, resolve_commit, run_git

REMOTE = "origin"
_FETCH_TIMEOUT_S = 300.0
# git must never wait for a password in CI: a fetch it cannot authenticate fails at once.
_NO_PROMPT = {"GIT_TERMINAL_PROMPT": "0"}


def _fetch(repo: Path, *args: str) -> bool:
    try:
        run_git(repo, "fetch", "--quiet", "--no-tags", *args, env=_NO_PROMPT, timeout=_FETCH_TIMEOUT_S)
    except (GitError, subprocess.TimeoutExpired):
        return False
    return True


def ensure_commit(repo: Path, sha: str, refs: Sequence[str] = ()) -> bool:
    """True once commit ``sha`` is in the clone: fetched from ``origin`` by its SHA, else by each of ``refs``."""
    if resolve_commit(repo, sha) is not None:
        return True
    # GitHub serves a reachable commit by its SHA; a ref is the way in for a head no branch points at.
    return any(_fetch(repo, REMOTE, want) and resolve_commit(repo, sha) is not None for want in (sha, *refs))


def _is_shallow(repo: Path) -> bool:
    try:
        return run_git(repo, "rev-parse", "--is-shallow-repository", text=True).strip() == "true"
    except GitError:
        return False


def merge_base(repo: Path, base: str, head: str, *, deepen: bool = True) -> str | None:
    """The best common ancestor of ``base`` and ``head``; with ``deepen``, a shallow clone is deepened once.

    None when the two share no history the clone can reach.
    """
    for attempt in range(2):
        try:
            found = run_git(repo, "merge-base", base, head, text=True, ok=(0, 1)).strip()
        except GitError:
            found = ""
        if found:
            return found
        if attempt == 0 and not (deepen and _is_shallow(repo) and _fetch(repo, "--unshallow", REMOTE)):
            return None
    return None
