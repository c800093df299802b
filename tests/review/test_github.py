"""The GitHub client against the loopback fake GitHub, and the fake's contract checks."""

from __future__ import annotations

import logging

import httpx
import pytest

from v4agent.review.github import GitHubClient, GitHubError, PullRef
from v4agent.testing.fake_github import FakeGitHub

TOKEN = "ghs_fake_token_0123456789"
HEAD = "a" * 40
BASE = "b" * 40
DIFF = """\
diff --git a/src/app.py b/src/app.py
index 1111111..2222222 100644
--- a/src/app.py
+++ b/src/app.py
@@ -10,4 +10,5 @@ def main():
     a = 1
-    b = 2
+    b = 3
+    c = 4
     return a
@@ -40,2 +41,2 @@ def other():
-    x = 0
+    x = 1
     return x
"""
PULL = PullRef("octo", "demo", 7)


@pytest.fixture
def gh() -> FakeGitHub:
    with FakeGitHub(token=TOKEN) as fake:
        fake.add_pull("octo", "demo", 7, diff=DIFF, head_sha=HEAD, base_sha=BASE, title="T", body="B")
        yield fake


def _client(gh: FakeGitHub, sleeps: list[float] | None = None, **kw: object) -> GitHubClient:
    record = sleeps if sleeps is not None else []
    return GitHubClient(TOKEN, gh.api_url, sleep=record.append, write_interval_s=0, **kw)  # type: ignore[arg-type]


def _raw(gh: FakeGitHub, method: str, path: str, **kw: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {TOKEN}", "User-Agent": "test"}
    headers.update(kw.pop("headers", {}))  # type: ignore[arg-type]
    return httpx.request(method, gh.api_url + path, headers=headers, **kw)  # type: ignore[arg-type]


def test_fake_answers_422_for_a_line_outside_the_diff(gh: FakeGitHub) -> None:
    path = "/repos/octo/demo/pulls/7/reviews"
    ok = {"path": "src/app.py", "line": 12, "side": "RIGHT", "body": "x"}
    cases = [
        ({"path": "src/app.py", "line": 30, "side": "RIGHT", "body": "x"}, "must be part of the diff"),
        ({"path": "src/app.py", "line": 11, "side": "LEFT", "start_line": 10, "body": "x"}, None),
        ({"path": "src/app.py", "line": 42, "start_line": 12, "side": "RIGHT", "body": "x"}, "same hunk"),
        ({"path": "src/app.py", "line": 12, "side": "MIDDLE", "body": "x"}, "side must be LEFT or RIGHT"),
        ({"path": "nope.py", "line": 1, "body": "x"}, "Path could not be resolved"),
        ({"path": "src/app.py", "line": 12}, "body"),
        ({"path": "src/app.py", "line": 12, "start_line": 12, "body": "x"}, "must precede"),
    ]
    for comment, expected in cases:
        response = _raw(gh, "POST", path, json={"commit_id": HEAD, "event": "COMMENT", "body": "b",
                                                "comments": [ok, comment]})
        if expected is None:
            assert response.status_code == 200, response.text
        else:
            assert response.status_code == 422, comment
            # A body the OpenAPI schema rejects (no "body") is refused before GitHub's own checks, with
            # "Invalid request." when the fake has GitHub's description; the rest with GitHub's own words.
            answer = response.json()
            assert expected in (answer["errors"][0] if "errors" in answer else answer["message"])
    bad_event = _raw(gh, "POST", path, json={"commit_id": HEAD, "event": "LGTM", "body": "b"})
    assert bad_event.status_code == 422
    no_body = _raw(gh, "POST", path, json={"commit_id": HEAD, "event": "REQUEST_CHANGES", "comments": [ok]})
    assert no_body.status_code == 422
    wrong_commit = _raw(gh, "POST", path, json={"commit_id": "c" * 40, "event": "COMMENT", "body": "b"})
    assert wrong_commit.status_code == 422


def test_fake_checks_auth_user_agent_and_paths(gh: FakeGitHub) -> None:
    assert _raw(gh, "GET", "/repos/octo/demo/pulls/7", headers={"Authorization": ""}).status_code == 401
    assert _raw(gh, "GET", "/repos/octo/demo/pulls/7",
                headers={"Authorization": "Bearer wrong"}).json()["message"] == "Bad credentials"
    assert _raw(gh, "GET", "/repos/octo/demo/pulls/7", headers={"User-Agent": ""}).status_code == 403
    assert _raw(gh, "GET", "/repos/octo/demo/pulls/8").status_code == 404
    assert _raw(gh, "DELETE", "/repos/octo/demo/pulls/7/reviews").status_code == 404
    pull = _raw(gh, "GET", "/repos/octo/demo/pulls/7")
    assert pull.json()["head"]["sha"] == HEAD
    assert "x-ratelimit-remaining" in pull.headers
    diff = _raw(gh, "GET", "/repos/octo/demo/pulls/7", headers={"Accept": "application/vnd.github.diff"})
    assert diff.text == DIFF


def test_fake_rate_limit_answers_403_with_headers(gh: FakeGitHub) -> None:
    gh.rate_limit("primary", seconds=30)
    response = _raw(gh, "GET", "/repos/octo/demo/pulls/7")
    assert response.status_code == 403
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert int(response.headers["x-ratelimit-reset"]) >= 1
    gh.rate_limit("secondary", seconds=7)
    response = _raw(gh, "GET", "/repos/octo/demo/pulls/7")
    assert response.status_code == 403
    assert response.headers["retry-after"] == "7"
    assert "secondary rate limit" in response.json()["message"]
    assert _raw(gh, "GET", "/repos/octo/demo/pulls/7").status_code == 200


def test_client_paginates_listings_via_link(gh: FakeGitHub) -> None:
    comments = [{"path": "src/app.py", "line": 12, "side": "RIGHT", "body": f"c{i}"} for i in range(50)]
    for _ in range(5):
        assert _raw(gh, "POST", "/repos/octo/demo/pulls/7/reviews",
                    json={"commit_id": HEAD, "event": "COMMENT", "body": "b", "comments": comments}).status_code == 200
    with _client(gh) as client:
        listed = client.list_review_comments(PULL)
        reviews = client.list_reviews(PULL)
    assert len(listed) == 250
    assert len({c["id"] for c in listed}) == 250
    assert len(reviews) == 5
    pages = [r for r in gh.requests if r.method == "GET" and r.path.endswith("/comments")]
    assert len(pages) == 3  # 100 + 100 + 50


def test_client_waits_on_rate_limits_and_retries(gh: FakeGitHub) -> None:
    sleeps: list[float] = []
    gh.rate_limit("secondary", seconds=3)
    gh.rate_limit("primary", seconds=20)
    with _client(gh, sleeps) as client:
        assert client.get_pull(PULL)["number"] == 7
    assert sleeps[0] == 3.0
    assert 15 <= sleeps[1] <= 23  # until x-ratelimit-reset (+1 s)


def test_client_gives_up_on_a_too_long_wait(gh: FakeGitHub) -> None:
    gh.rate_limit("primary", seconds=3600)
    with _client(gh, max_wait_s=60) as client, pytest.raises(GitHubError, match="try again later"):
        client.get_pull(PULL)


def test_client_errors_quote_github_and_never_the_token(gh: FakeGitHub, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with GitHubClient("ghs_wrong_token_abcdef", gh.api_url, sleep=lambda s: None) as client, \
            pytest.raises(GitHubError) as err:
        client.get_pull(PULL)
    assert err.value.status == 401
    assert "Bad credentials" in str(err.value)
    assert "GITHUB_TOKEN" in str(err.value)
    assert "ghs_wrong_token_abcdef" not in str(err.value)
    with _client(gh) as client:
        with pytest.raises(GitHubError) as err:
            client.create_review(PULL, commit_id=HEAD, event="COMMENT", body="b",
                                 comments=[{"path": "src/app.py", "line": 99, "side": "RIGHT", "body": "x"}])
        assert err.value.status == 422
        assert "must be part of the diff" in str(err.value)
        with pytest.raises(GitHubError, match="404") as err:
            client.get_pull(PullRef("octo", "demo", 99))
    assert TOKEN not in caplog.text
    assert "ghs_wrong_token_abcdef" not in caplog.text
    with pytest.raises(GitHubError, match="no GitHub token"):
        GitHubClient("", gh.api_url)


def test_client_posts_and_updates_a_review(gh: FakeGitHub) -> None:
    with _client(gh) as client:
        review = client.create_review(PULL, commit_id=HEAD, event="COMMENT", body="summary", comments=[
            {"path": "src/app.py", "start_line": 11, "line": 12, "side": "RIGHT", "start_side": "RIGHT",
             "body": "range"},
            {"path": "src/app.py", "line": 11, "side": "LEFT", "body": "old line"},
        ])
        assert review["state"] == "COMMENTED"
        updated = client.update_review(PULL, review["id"], "new summary")
        assert updated["body"] == "new summary"
        assert client.list_reviews(PULL)[0]["body"] == "new summary"
        assert {c["body"] for c in client.list_review_comments(PULL)} == {"range", "old line"}
    sent = gh.posted_reviews()[0]
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["x-github-api-version"] == "2022-11-28"
