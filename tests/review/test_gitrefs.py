"""Commits a review needs but the clone lacks: a fork's head fetched as refs/pull/N/head, a shallow history deepened.

``origin`` is a bare repository on disk that holds what GitHub holds: the base branch, and the pull request's
head only under ``refs/pull/1/head`` (a fork's branch is not the base repository's).
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_git_repo
from tests.review.ghrun import TOKEN, actions_env, commit, event_file, finding, git, reporting, review
from v4agent.core.git import resolve_commit
from v4agent.review.gitrefs import ensure_commit, merge_base
from v4agent.review.run import range_diff
from v4agent.testing.fake_github import FakeGitHub
from v4agent.testing.standin import StandIn

CALC = "def div(a, b):\n    return a / b\n"


def _origin(tmp_path: Path) -> tuple[Path, str, str]:
    """(bare origin, base, head): main at base, the pull request's head only as refs/pull/1/head."""
    work = make_git_repo(tmp_path / "work", {"app/calc.py": CALC, "README.md": "# shop\n"})
    base = git(work, "rev-parse", "HEAD")
    git(work, "checkout", "-q", "-b", "fork-branch")
    head = commit(work, {"app/calc.py": CALC.replace("a / b", "a // b")}, "Floor division")
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "--initial-branch", "main", str(origin))
    git(work, "push", "-q", str(origin), "main:refs/heads/main", f"{head}:refs/pull/1/head")
    return origin, base, head


def test_a_head_the_clone_lacks_is_fetched_from_refs_pull(tmp_path: Path) -> None:
    origin, base, head = _origin(tmp_path)
    clone = tmp_path / "clone"
    # file:// so git transfers what the refs reach, as from GitHub (a plain path would copy every object)
    git(tmp_path, "clone", "-q", "--single-branch", "--branch", "main", f"file://{origin}", str(clone))
    assert resolve_commit(clone, head) is None
    assert ensure_commit(clone, head, ("refs/pull/1/head",))
    assert resolve_commit(clone, head) == head
    assert not ensure_commit(clone, "e" * 40, ("refs/pull/9/head",))  # nothing to fetch: False, no exception
    assert merge_base(clone, base, head) == base


def test_a_shallow_clone_is_deepened_to_find_the_merge_base(tmp_path: Path) -> None:
    origin, base, head = _origin(tmp_path)
    work = tmp_path / "work"
    git(work, "checkout", "-q", "main")
    tip = commit(work, {"NEWS.md": "moved on\n"}, "Main moves on")
    git(work, "push", "-q", str(origin), "main:refs/heads/main")
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{origin}", str(clone))
    assert ensure_commit(clone, head, ("refs/pull/1/head",))
    assert merge_base(clone, tip, head, deepen=False) is None  # the history between them is not there
    assert merge_base(clone, tip, head) == base


def test_a_review_of_a_forks_pull_request_fetches_its_head_first(tmp_path: Path) -> None:
    origin, base, head = _origin(tmp_path)
    clone = tmp_path / "checkout"  # what pull_request_target checks out: the base branch, fetch-depth 0
    git(tmp_path, "clone", "-q", f"file://{origin}", str(clone))
    diff = range_diff(tmp_path / "work", base, head)
    handler = reporting(lambda text: [finding("app/calc.py", 2, title="Floor division changes results")])
    with StandIn(handler=handler) as server, FakeGitHub(token=TOKEN) as gh:
        gh.add_pull("octo", "shop", 1, diff=diff, head_sha=head, base_sha=base, from_fork=True)
        env = actions_env(event_file(tmp_path / "e.json", 1, head, base, fork=True), gh.api_url)
        result = review(clone, server, env)
        posted = gh.posted_reviews()
    assert result.returncode == 0, result.stderr[-3000:]
    assert resolve_commit(clone, head) == head
    assert [(c["path"], c["line"]) for c in posted[0].body["comments"]] == [("app/calc.py", 2)]
    assert git(clone, "rev-parse", "HEAD") == base  # fetched as objects; the checkout never moved
