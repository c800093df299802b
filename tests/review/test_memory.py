"""Memory of settled findings: resolved, answered, "won't fix" and thumbs-down threads are not raised again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import make_git_repo
from tests.review.ghrun import TOKEN, actions_env, commit, event_file, finding, git, reporting, review
from v4agent.core.errors import ExitCode
from v4agent.review.findings import Finding
from v4agent.review.memory import (
    ANSWERED,
    RESOLVED,
    THUMBS_DOWN,
    WONT_FIX,
    Memory,
    Settled,
    Thread,
    ThreadComment,
    parse_threads,
    settled,
    without_settled,
)
from v4agent.review.report import PlacedFinding, ReviewReport
from v4agent.review.run import range_diff
from v4agent.testing.fake_github import FakeGitHub
from v4agent.testing.standin import StandIn

# ---- pure ---------------------------------------------------------------------------------------------

BOT = 1


def _c(number: int, author: str = "alice", body: str = "ok", *, bot: bool = False) -> ThreadComment:
    return ThreadComment(number, author, bot, body)


def test_each_way_a_person_settles_a_thread() -> None:
    own = {1: {"fa"}, 2: {"fb"}, 3: {"fc"}, 4: {"fd"}, 5: {"fe"}, 6: {"ff"}}
    threads = [
        Thread(True, (_c(1, "github-actions", bot=True),), "dave"),
        Thread(False, (_c(2, "github-actions", bot=True), _c(20, body="Won’t fix: it is intended."))),
        Thread(False, (_c(3, "github-actions", bot=True),)),
        Thread(False, (_c(4, "github-actions", bot=True), _c(40, body="Deferred to #12, thanks."))),
        Thread(False, (_c(5, "github-actions", bot=True), _c(50, "other-app", "wontfix", bot=True))),
        Thread(False, (_c(6, "github-actions", bot=True), _c(60, "", "not a bug"))),  # a deleted account
        Thread(True, (_c(7, "mallory"), _c(70, body="won't fix"))),  # a thread the bot did not open
    ]
    got = settled(threads, own, {3: "carol"})
    assert got == {"fa": Settled(RESOLVED, "dave"), "fb": Settled(WONT_FIX, "alice"), "fc": Settled(THUMBS_DOWN, "carol"),
                   "fd": Settled(ANSWERED, "alice")}  # a bot's "wontfix" and a ghost's reply settle nothing


def test_the_strongest_reason_is_shown_and_every_fingerprint_of_the_comment_is_settled() -> None:
    threads = [Thread(True, (_c(1, bot=True), _c(10, body="WONTFIX"), _c(11, body="see above")), "bob")]
    assert settled(threads, {1: {"fa", "fb"}}, {1: "bob"}) == {"fa": Settled(RESOLVED, "bob"),
                                                                 "fb": Settled(RESOLVED, "bob")}
    threads = [Thread(False, (_c(1, bot=True), _c(10, body="ok"), _c(11, body="Not a bug.")))]
    assert settled(threads, {1: {"fa"}}, {}) == {"fa": Settled(WONT_FIX, "alice")}


def test_only_a_resolution_a_person_made_settles_a_finding() -> None:
    own = {n: {f"f{n}"} for n in range(1, 7)}
    threads = [
        Thread(True, (_c(1, bot=True),), "alice"),  # a person resolved it
        Thread(True, (_c(2, bot=True),), ""),  # GitHub names no User (an app's bot account resolved it)
        Thread(True, (_c(3, bot=True),), "review-bot"),  # the bot itself, acting with a person's token
        Thread(True, (_c(4, bot=True),), "REVIEW-BOT"),  # logins ignore case
        Thread(True, (_c(5, bot=True),), "some-app", True),  # a Bot, if GitHub ever typed one there
        Thread(False, (_c(6, bot=True),), "alice"),  # unresolved again after a person resolved it
    ]
    assert settled(threads, own, {}, "review-bot") == {"f1": Settled(RESOLVED, "alice")}
    assert settled(threads[2:3], own, {}, "github-actions[bot]") == {"f3": Settled(RESOLVED, "review-bot")}


def test_a_graphql_answer_is_read_with_its_next_cursor() -> None:
    data = {"repository": {"pullRequest": {"reviewThreads": {
        "pageInfo": {"hasNextPage": True, "endCursor": "Y3Vyc29y"},
        "nodes": [{"isResolved": True, "resolvedBy": {"__typename": "User", "login": "bob"}, "comments": {"nodes": [
            {"author": {"__typename": "Bot", "login": "github-actions"}, "body": "b", "fullDatabaseId": "1001"},
            {"author": None, "body": "gone", "fullDatabaseId": "1002"},
            {"author": {"__typename": "User", "login": "alice"}, "body": "x", "fullDatabaseId": None}]}}]}}}}
    threads, after = parse_threads(data)
    assert after == "Y3Vyc29y"
    assert threads == [Thread(True, (ThreadComment(1001, "github-actions", True, "b"),
                                     ThreadComment(1002, "", False, "gone")), "bob")]
    last = {"repository": {"pullRequest": {"reviewThreads": {"pageInfo": {"hasNextPage": False,
                                                                           "endCursor": "x"}, "nodes": []}}}}
    assert parse_threads(last) == ([], None)


def test_settled_findings_leave_the_report_for_its_skipped_list() -> None:
    def placed(fp: str) -> PlacedFinding:
        return PlacedFinding(Finding("a.py", 1, 1, "RIGHT", "high", "bug", fp, "b"), fp, True, False)

    report = ReviewReport("b" * 40, "h" * 40, (placed("fa"), placed("fb")))
    assert without_settled(report, Memory({})) is report
    got = without_settled(report, Memory({"fa": Settled(WONT_FIX, "alice")}))
    assert [p.fingerprint for p in got.placed] == ["fb"]
    assert [(s.placed.fingerprint, s.reason, s.by) for s in got.skipped] == [("fa", WONT_FIX, "alice")]


# ---- end to end ---------------------------------------------------------------------------------------

CALC = "def div(a, b):\n    return a / b\n"
ALICE = "ghp_alice_token_0123456789"
OTHER_APP = "ghs_other_app_token_0123456789"


def _as(gh: FakeGitHub, token: str, method: str, path: str, payload: dict[str, Any]) -> Any:
    response = httpx.request(method, f"{gh.api_url}{path}", json=payload,
                             headers={"Authorization": f"Bearer {token}", "User-Agent": "a-person"})
    assert response.status_code in (200, 201), response.text
    return response.json()


def _resolve(gh: FakeGitHub, token: str, comment_id: int) -> None:
    """Resolve the thread ``comment_id`` opened, as a person does: find it over GraphQL, then the mutation."""
    found = _as(gh, token, "POST", "/graphql", {"query": """
        query { repository(owner: "octo", name: "shop") { pullRequest(number: 1) {
          reviewThreads(first: 50) { nodes { id comments(first: 1) { nodes { fullDatabaseId } } } } } } }"""})
    thread = next(t["id"] for t in found["data"]["repository"]["pullRequest"]["reviewThreads"]["nodes"]
                  if t["comments"]["nodes"][0]["fullDatabaseId"] == str(comment_id))
    done = _as(gh, token, "POST", "/graphql", {
        "query": "mutation($id: ID!) { resolveReviewThread(input: {threadId: $id}) { thread { isResolved } } }",
        "variables": {"id": thread}})
    assert done == {"data": {"resolveReviewThread": {"thread": {"isResolved": True}}}}


LINES = {3: ("A", "high"), 4: ("B", "high"), 5: ("C", "high"), 6: ("D", "medium"), 7: ("F", "low")}


def _findings(text: str) -> list[dict[str, Any]]:
    chosen = [finding("app/calc.py", line, severity=sev, title=f"Finding {name}") for line, (name, sev)
              in LINES.items()]
    if "V8 = 8" in text:  # the second push: one genuinely new finding
        chosen.append(finding("app/calc.py", 8, severity="medium", title="Finding E"))
    return chosen


def test_threads_people_settled_stay_quiet_and_new_findings_are_posted(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "shop", {"app/calc.py": CALC})
    base = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", "-b", "pr")
    head1 = commit(root, {"app/calc.py": CALC + "".join(f"V{n} = {n}\n" for n in range(3, 8))}, "Values")
    head2 = commit(root, {"app/calc.py": CALC + "".join(f"V{n} = {n}\n" for n in range(3, 9))}, "One more")
    out = tmp_path / "second.json"
    with StandIn(handler=reporting(_findings)) as server, FakeGitHub(token=TOKEN) as gh:
        gh.add_token(ALICE, "alice")
        gh.add_token(OTHER_APP, "other-app[bot]")
        pull = gh.add_pull("octo", "shop", 1, diff=range_diff(root, base, head1), head_sha=head1, base_sha=base)
        first = review(root, server, actions_env(event_file(tmp_path / "e1.json", 1, head1, base), gh.api_url),
                       "--fail-on", "high")
        assert first.returncode == ExitCode.REVIEW_FINDINGS, first.stderr[-3000:]
        ids = {c["line"]: c["id"] for c in pull.comments}
        _resolve(gh, ALICE, ids[3])  # A: resolved
        _as(gh, ALICE, "POST", f"/repos/octo/shop/pulls/1/comments/{ids[4]}/replies",
            {"body": "Won't fix: the value is intended."})  # B
        _as(gh, ALICE, "POST", f"/repos/octo/shop/pulls/comments/{ids[5]}/reactions", {"content": "-1"})  # C
        _as(gh, OTHER_APP, "POST", f"/repos/octo/shop/pulls/comments/{ids[6]}/reactions", {"content": "-1"})
        _as(gh, OTHER_APP, "POST", f"/repos/octo/shop/pulls/1/comments/{ids[6]}/replies", {"body": "wontfix"})
        _as(gh, ALICE, "POST", f"/repos/octo/shop/pulls/1/comments/{ids[7]}/replies",
            {"body": "Deferred to #12."})  # F: a person answered
        pull.push(head2, range_diff(root, base, head2))
        env = actions_env(event_file(tmp_path / "e2.json", 1, head2, base), gh.api_url)
        second = review(root, server, env, "--fail-on", "high", "--format", "json", "-o", str(out))
        bot_comments = [(c["line"], c["body"]) for c in pull.comments if c["user"]["login"] == "github-actions[bot]"]
        third = review(root, server, env, "--fail-on", "high")
        summary = pull.reviews[0]["body"]
        states = [r["state"] for r in pull.reviews if r["user"]["login"] == "github-actions[bot]"]
        asked = [r for r in gh.requests if r.path.endswith("/reactions") and r.method == "GET"]
        comments_after = len(pull.comments)
    assert second.returncode == 0, second.stderr[-3000:]  # the settled high findings no longer fail the gate
    assert third.returncode == 0, third.stderr[-3000:]
    assert sorted(line for line, _ in bot_comments) == [3, 4, 5, 6, 7, 8]  # only E is new: no duplicate
    assert "Finding E" in dict(bot_comments)[8]
    assert comments_after == 6 + 3  # the bot's six, alice's two replies and the other app's one; run 3 added none
    assert "posted 1 new comment(s) (1 already there)" in second.stderr
    assert "posted 0 new comment(s) (2 already there)" in third.stderr
    assert ("**Not raised again:** 4 earlier finding(s) that people settled (1 answered, 1 resolved, "
            "1 thumbs-down, 1 won't fix):") in summary
    assert "Finding B (won't fix by @alice)" in summary
    assert "Finding D" not in summary.split("**Not raised again:**")[1]  # another bot's "wontfix" is no answer
    assert states[0] == "DISMISSED"  # nothing at or above high remains once the settled ones are set aside
    report = json.loads(out.read_text(encoding="utf-8"))
    assert sorted(f["title"] for f in report["findings"]) == ["Finding D", "Finding E"]
    assert {s["title"]: s["skipped_because"] for s in report["skipped"]} == {
        "Finding A": "resolved", "Finding B": "won't fix", "Finding C": "thumbs-down", "Finding F": "answered"}
    # Reactions are asked for the bot's comments in threads not resolved already, filtered to thumbs-down.
    assert asked
    assert all(r.query.get("content") == ["-1"] for r in asked), [r.query for r in asked]
    assert f"/repos/octo/shop/pulls/comments/{ids[3]}/reactions" not in {r.path for r in asked}


def test_a_review_without_earlier_comments_asks_github_nothing_about_threads(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "shop", {"app/calc.py": CALC})
    base = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", "-b", "pr")
    head = commit(root, {"app/calc.py": CALC + "V3 = 3\n"}, "Value")
    with StandIn(handler=reporting(lambda text: [finding("app/calc.py", 3)])) as server, \
            FakeGitHub(token=TOKEN) as gh:
        gh.add_pull("octo", "shop", 1, diff=range_diff(root, base, head), head_sha=head, base_sha=base)
        result = review(root, server, actions_env(event_file(tmp_path / "e.json", 1, head, base), gh.api_url))
        graphql = [r for r in gh.requests if r.path == "/graphql"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert graphql == []


def test_a_thread_the_bot_resolved_does_not_silence_its_finding_one_a_person_resolved_does(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "shop", {"app/calc.py": CALC})
    base = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", "-b", "pr")
    head = commit(root, {"app/calc.py": CALC + "V3 = 3\nV4 = 4\n"}, "Values")
    chosen = [finding("app/calc.py", 3, severity="high", title="Finding A"),
              finding("app/calc.py", 4, severity="high", title="Finding B")]
    out = tmp_path / "second.json"
    with StandIn(handler=reporting(lambda text: chosen)) as server, FakeGitHub(token=TOKEN) as gh:
        gh.add_token(ALICE, "alice")
        pull = gh.add_pull("octo", "shop", 1, diff=range_diff(root, base, head), head_sha=head, base_sha=base)
        env = actions_env(event_file(tmp_path / "e.json", 1, head, base), gh.api_url)
        first = review(root, server, env, "--fail-on", "high")
        assert first.returncode == ExitCode.REVIEW_FINDINGS, first.stderr[-3000:]
        ids = {c["line"]: c["id"] for c in pull.comments}
        _resolve(gh, TOKEN, ids[3])  # A: the bot's own installation token resolved it
        _resolve(gh, ALICE, ids[4])  # B: a person did
        threads = _as(gh, ALICE, "POST", "/graphql", {"query": """
            query { repository(owner: "octo", name: "shop") { pullRequest(number: 1) {
              reviewThreads(first: 50) { nodes { isResolved resolvedBy { __typename login } } } } } }"""})
        second = review(root, server, env, "--fail-on", "high", "--format", "json", "-o", str(out))
    nodes = threads["data"]["repository"]["pullRequest"]["reviewThreads"]["nodes"]
    assert sorted((n["isResolved"], str(n["resolvedBy"])) for n in nodes) == [
        (True, "None"), (True, str({"__typename": "User", "login": "alice"}))]
    assert second.returncode == ExitCode.REVIEW_FINDINGS, second.stderr[-3000:]  # A still gates
    report = json.loads(out.read_text(encoding="utf-8"))
    assert [f["title"] for f in report["findings"]] == ["Finding A"]
    assert {s["title"]: s["skipped_because"] for s in report["skipped"]} == {"Finding B": "resolved"}
