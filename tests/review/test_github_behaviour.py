"""The review bot end to end against GitHub's real behaviour: the real CLI, the DeepSeek stand-in, fake GitHub.

Each test is a case where GitHub does something the happy path never shows: a diff too large to send, a
body too long to take, a change request that must be dismissed, a base branch that moved, a fork's run
without secrets, a model that never reports, a pull request with nothing in it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import make_git_repo, run_cli
from tests.review.ghrun import (
    TOKEN,
    actions_env,
    commit,
    event_file,
    finding,
    git,
    prompts,
    reporting,
    review,
)
from v4agent.core.errors import ExitCode
from v4agent.review.bodies import BODY_LIMIT, body_size
from v4agent.review.findings import Finding, markers_in
from v4agent.review.github import GitHubClient, PullRef
from v4agent.review.post import post_review
from v4agent.review.report import PlacedFinding, ReviewReport
from v4agent.review.run import range_diff
from v4agent.testing.fake_github import FakeGitHub
from v4agent.testing.fake_github_diff import too_large
from v4agent.testing.standin import ScriptedReply, StandIn

CALC = "def div(a, b):\n    return a / b\n\n\ndef mul(a, b):\n    return a * b\n"


def _branch(root: Path, name: str, files: dict[str, str | None], message: str) -> str:
    git(root, "checkout", "-q", "-b", name)
    sha = commit(root, files, message)
    git(root, "checkout", "-q", "main")
    return sha


def test_a_400_file_30k_line_pull_request_is_reviewed_from_the_clone(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "shop", {"README.md": "# shop\n", "app/calc.py": CALC})
    base = git(root, "rev-parse", "HEAD")
    generated = {f"gen/mod_{i:03d}.py": "".join(f"VALUE_{i}_{j} = {j}\n" for j in range(75)) for i in range(400)}
    head = _branch(root, "big", generated, "Generate 400 modules")
    diff = range_diff(root, base, head)
    assert diff.count("\n") > 30_000
    assert too_large(diff) is not None  # over GitHub's 300 files and 20,000 lines
    handler = reporting(lambda text: [finding("gen/mod_350.py", 10, title="Magic number")])
    out = tmp_path / "review.json"
    with StandIn(handler=handler) as server, FakeGitHub(token=TOKEN) as gh:
        gh.add_pull("octo", "shop", 1, diff=diff, head_sha=head, base_sha=base)
        env = actions_env(event_file(tmp_path / "event.json", 1, head, base), gh.api_url)
        result = review(root, server, env, "--fail-on", "high", "--format", "json", "-o", str(out))
        sent = prompts(server)
        asked = [r.status for r in gh.requests if r.method == "GET" and r.path == "/repos/octo/shop/pulls/1"]
        posted = gh.posted_reviews()
    assert result.returncode == ExitCode.REVIEW_FINDINGS, result.stderr[-3000:]
    assert asked == [406]  # GitHub refused its diff once; the clone's diff took over
    assert "exceeded the maximum number of files (300)" in result.stderr
    assert "reviewing the clone's diff" in result.stderr
    assert "gen/mod_000.py" in sent
    assert "VALUE_399_74 = 74" in sent  # the model saw every file, to the last line
    assert len(posted) == 1
    assert [(c["path"], c["line"], c["side"]) for c in posted[0].body["comments"]] == [("gen/mod_350.py", 10, "RIGHT")]
    report = json.loads(out.read_text(encoding="utf-8"))
    assert [(f["path"], f["inline"]) for f in report["findings"]] == [("gen/mod_350.py", True)]


COUNT = 40


def test_a_review_with_many_findings_stays_under_githubs_body_limit(tmp_path: Path) -> None:
    untouched = "".join(f"def helper_{n}(x):\n    return x + {n}\n\n\n" for n in range(200))
    root = make_git_repo(tmp_path / "shop", {"app/calc.py": CALC, "lib/helpers.py": untouched})
    base = git(root, "rev-parse", "HEAD")
    head = _branch(root, "pr", {"app/calc.py": CALC.replace("a / b", "a // b")}, "Floor division")
    # Findings worth more than a body can hold (about 1,900 characters of prose each, 40 of them), in a reply
    # that still fits the review's output limit: a cut reply is never taken for a review.
    words = " ".join(f"reason{n}" for n in range(200))
    many = [finding("lib/helpers.py", 4 * n + 2, severity="low", title=f"Helper {n} ignores overflow", body=words)
            for n in range(COUNT)]  # a file the pull request does not touch: every one belongs in the summary
    sarif = tmp_path / "review.sarif"
    with StandIn(handler=reporting(lambda text: many)) as server, FakeGitHub(token=TOKEN) as gh:
        gh.add_pull("octo", "shop", 1, diff=range_diff(root, base, head), head_sha=head, base_sha=base)
        env = actions_env(event_file(tmp_path / "event.json", 1, head, base), gh.api_url)
        first = review(root, server, env, "--format", "sarif", "-o", str(sarif))
        again = review(root, server, env, "--format", "sarif", "-o", str(sarif))
        posted = gh.posted_reviews()
        summary = gh.pulls[("octo", "shop", 1)].reviews[0]["body"]
    assert first.returncode == 0, first.stderr[-3000:]
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(posted) == 1  # the re-run knew every finding, listed or not: nothing new to post
    body = posted[0].body["body"]
    assert body_size(body) <= BODY_LIMIT
    listed = body.count("ignores overflow")
    assert 0 < listed < COUNT
    assert f"… and {COUNT - listed} more finding(s): see the SARIF/JSON output." in body
    assert body_size(summary) <= BODY_LIMIT  # the re-run edited it (new usage figures), still under the limit
    assert f"… and {COUNT - listed} more finding(s)" in summary
    results = json.loads(sarif.read_text(encoding="utf-8"))["runs"][0]["results"]
    assert len(results) == COUNT  # the SARIF report lists every one


def test_a_rerun_after_the_fix_dismisses_the_bots_change_request_and_posts_nothing_twice(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "shop", {"app/calc.py": CALC})
    base = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", "-b", "pr")
    head1 = commit(root, {"app/calc.py": CALC.replace("    return a / b", "    if b == 0:\n        return 0\n"
                                                                          "    return a / b")}, "Guard div")
    head2 = commit(root, {"app/calc.py": CALC.replace("    return a / b", "    if b == 0:\n        raise "
                                                                          "ZeroDivisionError('b')\n    return a / b")},
                   "Raise instead")
    git(root, "checkout", "-q", "main")

    def choose(text: str) -> list[dict[str, Any]]:
        whole_pr = text.split("## Changes since the last review")[0]  # a re-run's increment shows the old lines
        return [finding("app/calc.py", 2, 3, title="Division by zero is hidden")] if "return 0" in whole_pr else []

    with StandIn(handler=reporting(choose)) as server, FakeGitHub(token=TOKEN) as gh:
        pull = gh.add_pull("octo", "shop", 1, diff=range_diff(root, base, head1), head_sha=head1, base_sha=base)
        first = review(root, server, actions_env(event_file(tmp_path / "e1.json", 1, head1, base), gh.api_url))
        assert first.returncode == 0, first.stderr[-3000:]
        assert [r["state"] for r in pull.reviews] == ["CHANGES_REQUESTED"]
        bots = pull.reviews[0]["id"]
        # Another reviewer's change request: the bot must leave it alone.
        gh.add_token("ghp_maintainer_token_0123456789", "maintainer")
        other = _raw_review(gh, "ghp_maintainer_token_0123456789", head1, "REQUEST_CHANGES", "Please add a test.")
        pull.push(head2, range_diff(root, base, head2))
        env2 = actions_env(event_file(tmp_path / "e2.json", 1, head2, base), gh.api_url)
        second = review(root, server, env2)
        third = review(root, server, env2)
        dismissals = [r.path for r in gh.requests if r.path.endswith("/dismissals")]
        states = {r["id"]: r["state"] for r in pull.reviews}
        comments = len(pull.comments)
        posted = len(gh.posted_reviews())
    assert second.returncode == 0, second.stderr[-3000:]
    assert third.returncode == 0, third.stderr[-3000:]
    assert "dismissed 1 earlier change request(s)" in second.stderr
    assert dismissals == [f"/repos/octo/shop/pulls/1/reviews/{bots}/dismissals"]  # once, by the second run
    assert {bots: states[bots], other: states[other]} == {bots: "DISMISSED", other: "CHANGES_REQUESTED"}
    assert comments == 2  # the first run's line comment, and the second run's "Fixed in" reply to it
    assert posted == 2  # the bot's first review and the maintainer's
    assert pull.dismissals[bots] == f"v4agent: no finding at or above high remains at {head2[:12]}."


def _raw_review(gh: FakeGitHub, token: str, head: str, event: str, body: str) -> int:
    import httpx

    response = httpx.post(f"{gh.api_url}/repos/octo/shop/pulls/1/reviews", json={
        "commit_id": head, "event": event, "body": body}, headers={"Authorization": f"Bearer {token}",
                                                                  "User-Agent": "test"})
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


def test_a_moved_base_branch_changes_nothing_the_review_anchors_or_packs(tmp_path: Path) -> None:
    lines = [f"def step_{n}(x):\n    return check_{n}(x)\n\n\n" for n in range(8)]
    root = make_git_repo(tmp_path / "shop", {"app/steps.py": "".join(lines)})
    start = git(root, "rev-parse", "HEAD")
    # The pull request removes step_3's body line (old line 14) and changes step_6.
    head = _branch(root, "pr", {"app/steps.py": "".join(lines).replace("    return check_3(x)\n", "    pass\n")
                                .replace("check_6(x)", "check_6(x, strict=True)")}, "Simplify step 3")
    removed = finding("app/steps.py", 14, side="LEFT", severity="medium", title="The check is gone")
    with StandIn(handler=reporting(lambda text: [removed])) as server, FakeGitHub(token=TOKEN) as gh:
        pull = gh.add_pull("octo", "shop", 1, diff=range_diff(root, start, head), head_sha=head, base_sha=start)
        first = review(root, server, actions_env(event_file(tmp_path / "e1.json", 1, head, start), gh.api_url))
        assert first.returncode == 0, first.stderr[-3000:]
        # The base branch moves on: three lines above everything, and a new file the pull request never saw.
        moved = commit(root, {"app/steps.py": "# header\n# more\n\n" + "".join(lines),
                              "app/new_on_main.py": "MOVED_ON = True\n"}, "Main moves on")
        pull.base_sha = moved  # GitHub's diff still starts at the merge base: it does not change
        env = actions_env(event_file(tmp_path / "e2.json", 1, head, moved), gh.api_url)
        calls_before = len(server.calls)
        second = review(root, server, env)
        second_prompts = json.dumps([c.request for c in server.calls[calls_before:]])
        comments = [(c["side"], c["line"]) for c in pull.comments]
        posted = len(gh.posted_reviews())
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"start at the merge base {start[:12]}" in second.stderr
    assert comments == [("LEFT", 14)]  # one comment on the removed line, not a second one for the moved base
    assert posted == 1
    assert "MOVED_ON" not in second_prompts  # the repository was packed at the merge base, not the moved tip
    assert "check_3" in second_prompts


def test_a_forks_pull_request_without_a_key_ends_with_a_notice(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "shop", {"app/calc.py": CALC})
    base = git(root, "rev-parse", "HEAD")
    head = _branch(root, "pr", {"app/calc.py": CALC.replace("a / b", "a // b")}, "Floor division")
    fork_token = "ghs_fork_readonly_token_0123456789"
    with StandIn(handler=reporting(lambda text: [])) as server, \
            FakeGitHub(token=fork_token, can_write=False) as gh:
        gh.add_pull("octo", "shop", 1, diff=range_diff(root, base, head), head_sha=head, base_sha=base,
                    from_fork=True)
        fork = event_file(tmp_path / "fork.json", 1, head, base, fork=True)
        skipped = review(root, server, actions_env(fork, gh.api_url, token=fork_token, key=False), "--fail-on", "low")
        bot = event_file(tmp_path / "dependabot.json", 1, head, base, author="dependabot[bot]")
        dependabot = review(root, server, actions_env(bot, gh.api_url, token=fork_token, key=False))
        untouched = (list(server.calls), list(gh.requests))
        # A key but a read-only token (a private repository that sends secrets to forks): review, post nothing.
        sarif = tmp_path / "review.sarif"
        unposted = review(root, server, actions_env(fork, gh.api_url, token=fork_token), "--format", "sarif",
                          "-o", str(sarif))
        writes = [r.status for r in gh.requests if r.method != "GET"]
    assert skipped.returncode == 0, skipped.stderr[-3000:]
    assert "::notice title=v4agent review skipped::" in skipped.stdout
    assert "this is a pull request from a fork" in skipped.stderr
    assert dependabot.returncode == 0, dependabot.stderr[-3000:]
    assert "this is a Dependabot pull request" in dependabot.stderr
    assert untouched == ([], [])  # nothing was asked of the model or of GitHub
    assert unposted.returncode == 0, unposted.stderr[-3000:]
    assert "::notice title=v4agent review not posted::" in unposted.stdout
    assert "Resource not accessible by integration" in unposted.stderr
    assert writes == [403]  # the first write was refused, and nothing more was tried
    assert json.loads(sarif.read_text(encoding="utf-8"))["runs"][0]["results"] == []


def test_a_model_that_never_reports_fails_the_review_with_its_own_status(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "shop", {"app/calc.py": CALC})
    base = git(root, "rev-parse", "HEAD")
    head = _branch(root, "pr", {"app/calc.py": CALC.replace("a / b", "a // b")}, "Floor division")

    def chatty(body: dict[str, Any]) -> ScriptedReply:
        return ScriptedReply(content="k" if body.get("max_tokens") == 1 else "Looks fine to me.")

    with StandIn(handler=chatty) as server, FakeGitHub(token=TOKEN) as gh:
        gh.add_pull("octo", "shop", 1, diff=range_diff(root, base, head), head_sha=head, base_sha=base)
        result = review(root, server, actions_env(event_file(tmp_path / "e.json", 1, head, base), gh.api_url),
                        "--fail-on", "low")
        local = run_cli("review", str(root), "--base", "main", "--head", "pr", "--base-url", server.base_url,
                        env={"DEEPSEEK_API_KEY": "sk-test"})
        writes = gh.writes()
    assert result.returncode == ExitCode.REVIEW_INCOMPLETE == 8, result.stderr[-3000:]
    assert "the review did not happen" in result.stderr
    assert "report_findings" in result.stderr
    assert "No findings." not in result.stdout
    assert writes == []  # no "all clear" review was posted
    assert local.returncode == ExitCode.REVIEW_INCOMPLETE, local.stderr[-3000:]
    assert "No findings." not in local.stdout


def test_nothing_to_review_is_a_success_that_says_so(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "shop", {"app/calc.py": CALC})
    base = git(root, "rev-parse", "HEAD")
    with StandIn(handler=reporting(lambda text: [])) as server, FakeGitHub(token=TOKEN) as gh:
        gh.add_pull("octo", "shop", 1, diff="", head_sha=base, base_sha=base)
        result = review(root, server, actions_env(event_file(tmp_path / "e.json", 1, base, base), gh.api_url),
                        "--fail-on", "low")
        local = run_cli("review", str(root), "--base", "main", "--head", "main", "--base-url", server.base_url,
                        env={"DEEPSEEK_API_KEY": "sk-test"})
        calls, writes = list(server.calls), gh.writes()
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"nothing to review: no difference between {base[:12]} and {base[:12]}" in result.stderr
    assert local.returncode == 0, local.stderr[-3000:]
    assert "nothing to review" in local.stderr
    assert calls == []
    assert writes == []


def test_line_comments_github_refuses_move_into_a_body_that_still_fits() -> None:
    diff = ("diff --git a/app/calc.py b/app/calc.py\n--- a/app/calc.py\n+++ b/app/calc.py\n"
            "@@ -1,2 +1,2 @@\n def div(a, b):\n-    return a / b\n+    return a // b\n")
    # Our reading put these on lines GitHub's diff does not show (a local diff that differs from the PR's).
    placed = tuple(PlacedFinding(Finding("app/calc.py", 50 + n, 50 + n, "RIGHT", "medium", "bug", f"Issue {n}",
                                         "because " * 300), f"{n:016x}", True, False) for n in range(200))
    report = ReviewReport("b" * 40, "c" * 40, placed)
    with FakeGitHub(token=TOKEN) as gh:
        gh.add_pull("octo", "shop", 1, diff=diff, head_sha="c" * 40, base_sha="b" * 40)
        with GitHubClient(TOKEN, gh.api_url, write_interval_s=0) as client:
            outcome = post_review(client, PullRef("octo", "shop", 1), "c" * 40, report)
        refused = [r.status for r in gh.requests if r.method == "POST"]
        body = gh.posted_reviews()[0].body["body"]
    assert refused == [422, 200]
    assert "GitHub rejected the line comments (422); they are listed in the review body instead" in outcome.warnings
    assert body_size(body) <= BODY_LIMIT
    assert "more finding(s): see the SARIF/JSON output." in body
    assert markers_in(body) == {p.fingerprint for p in placed}
