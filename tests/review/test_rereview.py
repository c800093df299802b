"""Incremental re-review end to end: the real CLI, the DeepSeek stand-in and fake GitHub, over real git pushes.

A push after a review is reviewed for what changed since the head the bot last reviewed, with the whole pull
request as context; earlier findings on unchanged lines stay (never posted twice, still requesting changes);
comments whose lines changed get one "Fixed in <sha>" reply; a force-push falls back to a full review.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import make_git_repo
from tests.review.ghrun import TOKEN, actions_env, commit, event_file, finding, git, reporting, review
from v4agent.review.findings import SUMMARY_MARKER
from v4agent.review.incremental import head_marker, reviewed_head
from v4agent.review.run import range_diff
from v4agent.testing.fake_github import FakeGitHub
from v4agent.testing.standin import StandIn

CALC = "def div(a, b):\n    return a / b\n\n\ndef mul(a, b):\n    return a * b\n"
UTIL = "def parse(raw):\n    return raw\n"
FOCUS = "## Changes since the last review"


def _choose(text: str) -> list[dict[str, Any]]:
    """A scripted model: everything it sees in a full review; only the increment's findings when focused."""
    mod = finding("app/calc.py", 10, severity="medium", title="Modulo by zero")
    if FOCUS in text:  # asked to focus, it reports on the increment only: earlier findings must be carried
        return [mod] if "def mod" in text.split(FOCUS)[1] else []
    whole = text
    out = [finding("app/calc.py", 2, title="Division by zero")]  # on a line no push changes
    if "return int(raw)\n" in whole:  # the unchecked version
        out.append(finding("app/util.py", 2, severity="medium", title="Unchecked int()"))
    if "def mod" in whole:
        out.append(mod)
    return out


def _history(tmp_path: Path) -> tuple[Path, str, str, str]:
    root = make_git_repo(tmp_path / "shop", {"app/calc.py": CALC, "app/util.py": UTIL})
    base = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", "-b", "pr")
    head1 = commit(root, {"app/calc.py": CALC.replace("a / b", "a // b"),
                          "app/util.py": UTIL.replace("return raw", "return int(raw)")}, "Integers")
    # The second push fixes util.py's line and adds a function at the end of calc.py.
    head2 = commit(root, {"app/util.py": UTIL.replace("return raw", "return int(raw) if raw.isdigit() else 0"),
                          "app/calc.py": CALC.replace("a / b", "a // b") + "\n\ndef mod(a, b):\n    return a % b\n"},
                   "Check the input; add mod")
    git(root, "checkout", "-q", "main")
    return root, base, head1, head2


def test_a_push_is_reviewed_incrementally_keeping_open_findings_and_marking_fixed_ones(tmp_path: Path) -> None:
    root, base, head1, head2 = _history(tmp_path)
    with StandIn(handler=reporting(_choose)) as server, FakeGitHub(token=TOKEN) as gh:
        pull = gh.add_pull("octo", "shop", 1, diff=range_diff(root, base, head1), head_sha=head1, base_sha=base)
        first = review(root, server, actions_env(event_file(tmp_path / "e1.json", 1, head1, base), gh.api_url))
        assert first.returncode == 0, first.stderr[-3000:]
        bots_review = pull.reviews[0]["id"]
        # Someone else writes the bot's markers, naming the base as "reviewed": the bot must not believe it.
        gh.add_token("ghp_mallory_token_0123456789", "mallory")
        import httpx
        forged = httpx.post(f"{gh.api_url}/repos/octo/shop/pulls/1/reviews", headers={
            "Authorization": "Bearer ghp_mallory_token_0123456789", "User-Agent": "test"}, json={
            "commit_id": head1, "event": "COMMENT", "body": f"{SUMMARY_MARKER}\n{head_marker(base)}\nLGTM"})
        assert forged.status_code == 200, forged.text

        pull.push(head2, range_diff(root, base, head2))
        env2 = actions_env(event_file(tmp_path / "e2.json", 1, head2, base), gh.api_url)
        calls_before = len(server.calls)
        second = review(root, server, env2)
        asked = server.calls[-1].request["messages"][-1]["content"]
        second_calls = len(server.calls) - calls_before
        comments_after_second = [(c["path"], c.get("line"), c.get("in_reply_to_id"), c["body"]) for c in pull.comments]
        summary2 = next(r["body"] for r in pull.reviews if r["id"] == bots_review)
        third = review(root, server, env2)  # a re-run of the same head: nothing new, no second reply
        comments = [(c["path"], c.get("in_reply_to_id"), c["body"]) for c in pull.comments]
        states = {r["id"]: r["state"] for r in pull.reviews}
        summary = next(r["body"] for r in pull.reviews if r["id"] == bots_review)
        posted = [r.body["comments"] for r in gh.posted_reviews() if r.headers["authorization"].endswith(TOKEN)]
    assert second.returncode == 0, second.stderr[-3000:]
    assert third.returncode == 0, third.stderr[-3000:]
    assert second_calls == 2  # the priming call and the review
    assert f"Incremental review: the changes since the last reviewed head `{head1[:12]}`" in second.stderr
    # The request keeps the whole pull request and adds the increment, marked as the focus.
    whole, focus = asked.split(FOCUS)
    assert "+    return a // b" in whole
    assert "app/util.py" in whole
    assert f"reviewed before at commit {head1}" in focus
    assert "-    return int(raw)\n+    return int(raw) if raw.isdigit() else 0" in focus
    assert "a // b" not in focus  # the first push's change is context, not focus
    assert "marked 1 earlier comment(s) fixed and resolved 1 of their threads" in second.stderr
    # The fixed comment's thread is resolved by the bot, which memory never takes for a person's settling.
    assert set(pull.resolved) == {pull.comments[1]["id"]}
    # One new comment (mod), one reply (util.py's line changed); the open finding is not posted again.
    util_comment = pull.comments[1]["id"]
    assert [(p, line, reply) for p, line, reply, _ in comments_after_second] == [
        ("app/calc.py", 2, None), ("app/util.py", 2, None), ("app/calc.py", 10, None),
        ("app/util.py", 2, util_comment)]
    reply = comments_after_second[3][3]
    assert reply.startswith(f"Fixed in {head2}: the lines this comment is about have changed")
    assert comments == [(p, r, b) for p, _, r, b in comments_after_second]  # the third run added nothing
    assert len(posted) == 2  # the first review and the second run's one new line comment
    assert [c["path"] for c in posted[1]] == ["app/calc.py"]
    # The division finding still applies: its change request stands.
    assert states[bots_review] == "CHANGES_REQUESTED"
    assert reviewed_head(summary) == head2
    assert "1 earlier comment(s) marked fixed" in summary2
    assert "Incremental review" in summary2
    assert "1 earlier finding(s) on unchanged lines still apply" in summary2
    assert "**Findings:** 0 critical · 1 high · 1 medium" in summary  # div (kept) and mod; util.py's is gone


def test_a_force_push_falls_back_to_a_full_review_and_says_so(tmp_path: Path) -> None:
    root, base, head1, _ = _history(tmp_path)
    # The branch is rewritten: one commit with the same change, not a descendant of the reviewed head.
    git(root, "checkout", "-q", "-b", "pr-rebased", base)
    rewritten = commit(root, {"app/calc.py": CALC.replace("a / b", "a // b"),
                              "app/util.py": UTIL.replace("return raw", "return int(raw)")}, "Integers, squashed")
    git(root, "checkout", "-q", "main")
    with StandIn(handler=reporting(_choose)) as server, FakeGitHub(token=TOKEN) as gh:
        pull = gh.add_pull("octo", "shop", 1, diff=range_diff(root, base, head1), head_sha=head1, base_sha=base)
        first = review(root, server, actions_env(event_file(tmp_path / "e1.json", 1, head1, base), gh.api_url))
        assert first.returncode == 0, first.stderr[-3000:]
        pull.push(rewritten, range_diff(root, base, rewritten))
        second = review(root, server, actions_env(event_file(tmp_path / "e2.json", 1, rewritten, base), gh.api_url))
        asked = json.dumps([c.request for c in server.calls[-2:]])
        summary = pull.reviews[0]["body"]
        comments = len(pull.comments)
        posted = len(gh.posted_reviews())
    assert second.returncode == 0, second.stderr[-3000:]
    note = f"Full review: the last reviewed head `{head1[:12]}` is not an ancestor of `{rewritten[:12]}`"
    assert note in second.stderr
    assert note in summary
    assert FOCUS not in asked
    assert reviewed_head(summary) == rewritten
    assert comments == 2  # the same findings on the same lines: recognised, not posted again
    assert posted == 1
