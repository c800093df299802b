"""Fake GitHub against GitHub's own rules: what GitHub takes, the fake takes; what GitHub answers, the fake answers.

With GitHub's OpenAPI description installed (tests/run.sh puts it in the test cache), every request body and
every answer of every fake in the suite is checked against it; these tests make sure that check is on in CI
and not vacuous, and exercise each endpoint the bot uses.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.review.test_github import BASE, DIFF, HEAD, TOKEN
from v4agent.review.github import GitHubClient, GitHubError, PullRef
from v4agent.testing.fake_github import FakeGitHub
from v4agent.testing.github_openapi import PACKAGE, PACKAGE_VERSION, contract

USER = "ghp_maintainer_token_0123456789"
OLD_HEAD = "d" * 40
OLD_DIFF = DIFF.replace("+    c = 4\n", "").replace("@@ -10,4 +10,5 @@", "@@ -10,4 +10,4 @@")
REVIEWS = "/repos/octo/demo/pulls/7/reviews"


def _fake(**kw: Any) -> FakeGitHub:
    gh = FakeGitHub(token=TOKEN, **kw)
    gh.add_token(USER, "maintainer")
    return gh


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with _fake() as fake:
        pull = fake.add_pull("octo", "demo", 7, diff=OLD_DIFF, head_sha=OLD_HEAD, base_sha=BASE, title="T")
        pull.push(HEAD, DIFF)
        yield fake


def _raw(gh: FakeGitHub, method: str, path: str, body: Any = None, *, token: str = TOKEN,
         accept: str = "application/vnd.github+json") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "test", "Accept": accept}
    return httpx.request(method, gh.api_url + path, headers=headers, json=body)


def test_githubs_openapi_description_is_installed_where_ci_runs() -> None:
    if contract() is None:
        if os.environ.get("CI"):
            pytest.fail(f"{PACKAGE}@{PACKAGE_VERSION} is not in the test cache: tests/run.sh installs it")
        pytest.skip(f"{PACKAGE}@{PACKAGE_VERSION} is not installed (bash tests/run.sh installs it)")
    checked = contract()
    assert checked is not None
    # Not vacuous: a review without its required fields, and a 200 where GitHub answers 201, are faults.
    assert checked.response_problems("GET", "/repos/o/r/pulls/1/reviews", 200, [{"id": 1}])
    assert checked.response_problems("POST", "/repos/o/r/pulls/1/comments", 200, {})
    assert checked.request_problems("POST", "/repos/o/r/pulls/1/reviews", {"event": "LGTM"})


def test_the_fake_takes_what_github_takes(gh: FakeGitHub) -> None:
    comments = [
        # ``position`` is closing down but still accepted: position 3 is the added "b = 3" (new line 11).
        {"path": "src/app.py", "position": 3, "body": "by position"},
        # A range from a removed line to an added one: start_side differs from side, one hunk.
        {"path": "src/app.py", "start_line": 11, "start_side": "LEFT", "line": 12, "side": "RIGHT", "body": "range"},
    ]
    now = _raw(gh, "POST", REVIEWS, {"commit_id": HEAD, "event": "COMMENT", "body": "b", "comments": comments})
    assert now.status_code == 200, now.text
    # Any commit of the pull request, not only its head; its lines are those of the diff at that commit.
    def at(commit: str, line: int) -> int:
        return _raw(gh, "POST", REVIEWS, {"commit_id": commit, "event": "COMMENT", "body": "b", "comments": [
            {"path": "src/app.py", "line": line, "side": "RIGHT", "body": f"line {line}"}]}).status_code

    assert at(OLD_HEAD, 12) == 200
    assert at(OLD_HEAD, 13) == 422  # "return a" is line 13 only once "c = 4" came in
    assert at(HEAD, 13) == 200
    foreign = _raw(gh, "POST", REVIEWS, {"commit_id": "c" * 40, "event": "COMMENT", "body": "b"})
    assert foreign.status_code == 422
    stored = gh.pulls[("octo", "demo", 7)].comments
    assert [(c["side"], c.get("start_side"), c.get("start_line"), c["line"]) for c in stored] == [
        ("RIGHT", None, None, 11), ("RIGHT", "LEFT", 11, 12), ("RIGHT", None, None, 12), ("RIGHT", None, None, 13)]
    assert stored[0]["diff_hunk"].startswith("@@ -10,4 +10,5 @@")


def test_a_file_comment_and_its_rules(gh: FakeGitHub) -> None:
    with GitHubClient(TOKEN, gh.api_url, write_interval_s=0) as client:
        made = client.create_file_comment(PullRef("octo", "demo", 7), commit_id=HEAD, path="src/app.py", body="f")
        with pytest.raises(GitHubError) as missing:
            client.create_file_comment(PullRef("octo", "demo", 7), commit_id=HEAD, path="nope.py", body="f")
    assert made["subject_type"] == "file"
    assert "line" not in made
    assert missing.value.status == 422
    # GitHub files a lone comment under a review of its own, COMMENTED and without a body.
    pull = gh.pulls[("octo", "demo", 7)]
    assert [(r["state"], r["body"]) for r in pull.reviews] == [("COMMENTED", "")]
    assert made["pull_request_review_id"] == pull.reviews[0]["id"]


def test_only_a_writer_dismisses_and_only_a_change_request_or_approval(gh: FakeGitHub) -> None:
    asked = _raw(gh, "POST", REVIEWS, {"commit_id": HEAD, "event": "REQUEST_CHANGES", "body": "fix it"}).json()
    commented = _raw(gh, "POST", REVIEWS, {"commit_id": HEAD, "event": "COMMENT", "body": "note"}).json()
    gh.add_token("ghs_fork_token_0123456789", "github-actions[bot]", can_write=False)
    dismiss = {"message": "fixed", "event": "DISMISS"}
    read_only = _raw(gh, "PUT", f"{REVIEWS}/{asked['id']}/dismissals", dismiss, token="ghs_fork_token_0123456789")
    assert read_only.status_code == 403
    assert read_only.json()["message"] == "Resource not accessible by integration"
    no_message = _raw(gh, "PUT", f"{REVIEWS}/{asked['id']}/dismissals", {"event": "DISMISS"})
    assert no_message.status_code == 422
    note = _raw(gh, "PUT", f"{REVIEWS}/{commented['id']}/dismissals", dismiss)
    assert (note.status_code, note.json()["message"]) == (422, "Can not dismiss a commented pull request review")
    done = _raw(gh, "PUT", f"{REVIEWS}/{asked['id']}/dismissals", dismiss, token=USER)  # a maintainer may
    assert (done.status_code, done.json()["state"]) == (200, "DISMISSED")
    again = _raw(gh, "PUT", f"{REVIEWS}/{asked['id']}/dismissals", dismiss)
    assert again.status_code == 422
    listed = _raw(gh, "GET", REVIEWS).json()
    assert [r["state"] for r in listed] == ["DISMISSED", "COMMENTED"]


def test_a_body_over_65536_characters_is_refused(gh: FakeGitHub) -> None:
    long = _raw(gh, "POST", REVIEWS, {"commit_id": HEAD, "event": "COMMENT", "body": "x" * 65_537})
    assert long.status_code == 422
    assert long.json()["errors"] == ["Body is too long (maximum is 65536 characters)"]
    assert _raw(gh, "POST", REVIEWS, {"commit_id": HEAD, "event": "COMMENT", "body": "é" * 65_536}).status_code == 200


def test_a_diff_over_githubs_limits_is_refused_with_githubs_406(gh: FakeGitHub) -> None:
    many = "".join(f"diff --git a/f{i} b/f{i}\n--- a/f{i}\n+++ b/f{i}\n@@ -1 +1 @@\n-a\n+b\n" for i in range(301))
    gh.pulls[("octo", "demo", 7)].push("e" * 40, many)
    response = _raw(gh, "GET", "/repos/octo/demo/pulls/7", accept="application/vnd.github.diff")
    assert response.status_code == 406
    assert response.json()["errors"] == [{"resource": "PullRequest", "field": "diff", "code": "too_large"}]
    with GitHubClient(TOKEN, gh.api_url) as client, pytest.raises(GitHubError) as refused:
        client.get_pull_diff(PullRef("octo", "demo", 7))
    assert refused.value.diff_too_large
    lines = "diff --git a/big b/big\n--- a/big\n+++ b/big\n@@ -0,0 +1,20000 @@\n" + "+x\n" * 20_000
    gh.pulls[("octo", "demo", 7)].push("f" * 40, lines)
    assert "maximum number of lines (20000)" in _raw(gh, "GET", "/repos/octo/demo/pulls/7",
                                                     accept="application/vnd.github.diff").json()["message"]


def test_every_answer_the_bot_reads_carries_what_the_description_requires(gh: FakeGitHub) -> None:
    pull = _raw(gh, "GET", "/repos/octo/demo/pulls/7").json()
    assert (pull["head"]["sha"], pull["base"]["sha"], pull["changed_files"]) == (HEAD, BASE, 1)
    user = _raw(gh, "GET", "/user", token=USER).json()
    assert (user["login"], user["type"]) == ("maintainer", "User")
    made = _raw(gh, "POST", REVIEWS, {"commit_id": HEAD, "event": "COMMENT", "body": "b", "comments": [
        {"path": "src/app.py", "line": 12, "side": "RIGHT", "body": "c"}]}).json()
    for key in ("id", "node_id", "user", "body", "state", "html_url", "pull_request_url", "_links", "commit_id"):
        assert key in made
    comment = _raw(gh, "GET", "/repos/octo/demo/pulls/7/comments").json()[0]
    for key in ("url", "diff_hunk", "original_commit_id", "created_at", "author_association", "_links"):
        assert key in comment
    assert gh.contract_violations == []
