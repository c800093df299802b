"""`v4agent review --samples K --agree M` end to end: the real CLI against the DeepSeek stand-in (and fake GitHub).

K samples share one cached prefix (one priming call), differ only in their last line, run concurrently, are all
billed and written to the ledger, and only findings at least M samples report are posted, each with its
agreement in the summary.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

from tests.conftest import make_git_repo, run_cli
from tests.review.ghrun import TOKEN, actions_env, commit, event_file, finding, git, review
from v4agent.core.errors import ExitCode
from v4agent.review.findings import SUMMARY_MARKER
from v4agent.review.run import range_diff
from v4agent.testing.fake_github import FakeGitHub
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

CALC = "".join(f"def f{n}(a, b):\n    return a + b + {n}\n\n\n" for n in range(30))
_SAMPLE = re.compile(r"\(Review sample (\d+) of (\d+): an independent review of the same change\.\)$")

# What each sample reports: the division finding in all three (worded and placed a little differently),
# a naming remark in one, a docs remark in another.
BY_SAMPLE: dict[int, list[dict[str, Any]]] = {
    1: [finding("app/calc.py", 2, title="Division by zero", severity="high"),
        finding("app/calc.py", 6, title="Name is vague", severity="low")],
    2: [finding("app/calc.py", 1, 2, title="b may be zero", severity="high")],
    3: [finding("app/calc.py", 2, title="Unchecked divisor", severity="medium"),
        finding("app/calc.py", 10, title="Missing docstring", severity="info")],
}


class Sampler:
    """A stand-in handler that answers each sample by its number and records how many ran at once."""

    def __init__(self, delay: float = 0.4) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def __call__(self, body: dict[str, Any]) -> ScriptedReply:
        if body.get("max_tokens") == 1:
            return ScriptedReply(content="k")
        found = _SAMPLE.search(body["messages"][-1]["content"])
        number = int(found.group(1)) if found else 1
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(self.delay)
        with self.lock:
            self.running -= 1
        args = json.dumps({"findings": BY_SAMPLE[number], "summary": f"Sample {number} summary."})
        return ScriptedReply(reasoning="Read it.", tool_calls=[ScriptedToolCall("report_findings", args)])


def _repo(tmp_path: Path) -> tuple[Path, str, str]:
    root = make_git_repo(tmp_path / "shop", {"app/calc.py": CALC})
    base = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", "-b", "pr")
    head = commit(root, {"app/calc.py": CALC.replace("return a + b + 0", "return a / b")}, "Divide")
    git(root, "checkout", "-q", "main")
    return root, base, head


def test_three_samples_share_the_cached_prefix_and_post_what_two_agree_on(tmp_path: Path) -> None:
    root, _, _ = _repo(tmp_path)
    sampler = Sampler()
    out = tmp_path / "review.json"
    with StandIn(handler=sampler) as server:
        result = run_cli("review", str(root), "--base", "main", "--head", "pr", "--base-url", server.base_url,
                         "--samples", "3", "--agree", "2", "--format", "json", "-o", str(out),
                         env={"DEEPSEEK_API_KEY": "sk-test"}, timeout=300)
        calls = list(server.calls)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(calls) == 4  # one priming call, three samples
    prime, samples = calls[0], calls[1:]
    # Every sample is the same request but for the sample line at its very end.
    lasts = sorted(c.request["messages"][-1]["content"] for c in samples)
    stripped = {_SAMPLE.sub("", text) for text in lasts}
    assert len(stripped) == 1
    assert [int(_SAMPLE.search(t).group(1)) for t in lasts] == [1, 2, 3]  # type: ignore[union-attr]
    for call in samples:
        assert call.request["messages"][:-1] == prime.request["messages"]  # system prompt and pack, unchanged
        assert call.request["tools"] == prime.request["tools"]
        # The pack hits the cache; only the pull request's part is a miss.
        assert call.cache_hit >= prime.prompt_tokens - 64, (call.cache_hit, prime.prompt_tokens)
        assert call.cache_miss < call.prompt_tokens - prime.prompt_tokens + 64
    assert sampler.most >= 2  # the samples ran concurrently
    report = json.loads(out.read_text(encoding="utf-8"))
    assert [(f["path"], f["start_line"], f["severity"]) for f in report["findings"]] == [("app/calc.py", 2, "high")]
    assert report["stats"]["calls"] == 4
    assert "Consensus of 3 review samples: findings reported by at least 2 of 3 are posted (1 kept, 2 dropped)." \
        in report["summary"]
    assert "- 3/3 · high · `app/calc.py:2` Division by zero" in report["summary"]
    assert "- 1/3 · low · `app/calc.py:6` Name is vague (dropped)" in report["summary"]
    ledger = (root / ".v4agent" / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(ledger) == 4  # every sample is a priced call in the ledger


def test_agree_above_samples_is_a_usage_error_before_any_call(tmp_path: Path) -> None:
    root, _, _ = _repo(tmp_path)
    with StandIn(handler=Sampler(0)) as server:
        bad = run_cli("review", str(root), "--base", "main", "--head", "pr", "--base-url", server.base_url,
                      "--samples", "2", "--agree", "3", env={"DEEPSEEK_API_KEY": "sk-test"})
        zero = run_cli("review", str(root), "--base", "main", "--head", "pr", "--base-url", server.base_url,
                       "--samples", "0", env={"DEEPSEEK_API_KEY": "sk-test"})
        calls = len(server.calls)
    assert bad.returncode == ExitCode.USAGE, bad.stderr[-2000:]
    assert "--agree must be between 1 and --samples (2), got 3" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert zero.returncode == ExitCode.USAGE
    assert "--samples must be between 1 and 16, got 0" in zero.stderr
    assert calls == 0


def test_on_github_only_agreed_findings_are_posted_and_the_summary_shows_each_agreement(tmp_path: Path) -> None:
    root, base, head = _repo(tmp_path)
    with StandIn(handler=Sampler(0.05)) as server, FakeGitHub(token=TOKEN) as gh:
        pull = gh.add_pull("octo", "shop", 1, diff=range_diff(root, base, head), head_sha=head, base_sha=base)
        result = review(root, server, actions_env(event_file(tmp_path / "e.json", 1, head, base), gh.api_url),
                        "--samples", "3", "--agree", "1")
        comments = [(c["subject_type"], c.get("line")) for c in pull.comments]
        summary = next(r["body"] for r in pull.reviews if r["body"].startswith(SUMMARY_MARKER))
    assert result.returncode == 0, result.stderr[-3000:]
    # --agree 1 keeps every cluster: the three division remarks are one finding, not three comments.
    # (lines 6 and 10 lie outside the diff's hunks: file comments)
    assert sorted(comments, key=str) == [("file", None), ("file", None), ("line", 2)]
    assert "3/3 · high · `app/calc.py:2` Division by zero" in summary
    assert "1/3 · info · `app/calc.py:10` Missing docstring" in summary


def test_without_a_priming_call_the_first_sample_stores_the_prefix_for_the_others(tmp_path: Path) -> None:
    big = "".join(f"def g{n}(a, b):\n    return a * b + {n}\n\n\n" for n in range(900))  # a pack past 8k tokens
    root = make_git_repo(tmp_path / "shop", {"app/calc.py": CALC, "app/big.py": big})
    git(root, "checkout", "-q", "-b", "pr")
    commit(root, {"app/calc.py": CALC.replace("return a + b + 0", "return a / b")}, "Divide")
    with StandIn(handler=Sampler(0.05)) as server:
        result = run_cli("review", str(root), "--base", "main", "--head", "pr", "--base-url", server.base_url,
                         "--samples", "3", "--no-prime", env={"DEEPSEEK_API_KEY": "sk-test"}, timeout=300)
        calls = list(server.calls)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(calls) == 3
    assert calls[0].cache_hit == 0
    assert _SAMPLE.search(calls[0].request["messages"][-1]["content"]).group(1) == "1"  # type: ignore[union-attr]
    for later in calls[1:]:  # DeepSeek's fixed-interval units of the first sample's request
        assert later.cache_hit >= 8192, later.cache_hit
