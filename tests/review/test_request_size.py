"""What the review request holds of a pull request: each text once, and a size that fits the model's window."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GIT, make_git_repo, run_cli
from v4agent.engine.client import EngineSettings, open_engine
from v4agent.review.run import ReviewInput, default_pack, range_diff, review
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

NO_FINDINGS = json.dumps({"findings": [], "summary": "Nothing."})


def _handler(body: dict[str, Any]) -> ScriptedReply:
    if body.get("max_tokens") == 1:  # the priming call
        return ScriptedReply(content="k")
    return ScriptedReply(tool_calls=[ScriptedToolCall("report_findings", NO_FINDINGS)])


def _branch(repo: Path, files: dict[str, str]) -> str:
    subprocess.run([*GIT, "-C", str(repo), "checkout", "-q", "-b", "pr", "main"], check=True)
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text, encoding="utf-8")
    subprocess.run([*GIT, "-C", str(repo), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(repo), "commit", "-q", "-m", "change"], check=True)
    subprocess.run([*GIT, "-C", str(repo), "checkout", "-q", "main"], check=True)
    return "pr"


def test_an_added_file_is_sent_once_a_modified_one_whole_at_head(tmp_path: Path) -> None:
    added_body = "\n".join(f"def brand_new_{i}(x):\n    return x + {i}  # unique-added-line-{i}" for i in range(8))
    root = make_git_repo(tmp_path / "repo", {"app/old.py": "\n".join(f"v{i} = {i}" for i in range(30)) + "\n"})
    modified = "\n".join(f"v{i} = {i}" for i in range(30)).replace("v3 = 3", "v3 = 33") + "\n"
    _branch(root, {"app/new.py": added_body + "\n", "app/old.py": modified})
    with StandIn(handler=_handler) as server:
        engine = open_engine(EngineSettings(base_url=server.base_url, api_key="sk-test", model="deepseek-v4-flash"))
        try:
            diff = range_diff(root, "main", "pr")
            review(ReviewInput(root, "main", "pr", "t", "", diff), engine, pack=default_pack(), price=None)
        finally:
            engine.close()
        last = server.calls[-1].request["messages"][-1]["content"]
    for i in range(8):  # every line of the added file once: in the diff, as "+" lines
        assert last.count(f"unique-added-line-{i}") == 1
        assert f"+    return x + {i}  # unique-added-line-{i}" in last
    assert "Added by this pull request" in last
    assert "app/new.py" in last
    assert "### app/old.py" in last
    assert "v29 = 29" in last
    assert "### app/new.py" not in last


SMALL_MODEL = "deepseek-v4-window-test"  # not in the model data: the client gives it a conservative 131,072 window
SMALL_WINDOW = 131_072


def _big_repo(tmp_path: Path, files: int) -> tuple[Path, dict[str, str]]:
    """A repository of about 150k tokens, and a pull request touching ``files`` of its small modules."""
    filler = {f"lib/pkg_{n}/mod_{i}.py": "\n".join(
        f"def fn_{n}_{i}_{k}(value, scale={k}):\n    return [v * scale for v in value if v > {k + i}]"
        for k in range(40)) + "\n" for n in range(10) for i in range(10)}
    small = {f"src/part_{j}.py": "\n".join(f"setting_{j}_{k} = {k}" for k in range(6)) + "\n" for j in range(files)}
    root = make_git_repo(tmp_path / "big", {**filler, **small})
    changed = {path: text.replace("= 2\n", "= 20\n").replace("= 4\n", "= 40\n") + "extra_line = True\n"
               for path, text in small.items()}
    return root, changed


def test_a_pull_request_that_overflows_the_default_budget_is_reviewed_within_the_window(tmp_path: Path) -> None:
    root, changed = _big_repo(tmp_path, 400)
    _branch(root, changed)
    env = {"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_PACK_RESERVE": "8192"}  # default pack budget: 122,880 tokens
    with StandIn(handler=_handler, models=(SMALL_MODEL,), context_window=SMALL_WINDOW) as server:
        result = run_cli("review", str(root), "--base", "main", "--head", "pr", "--base-url", server.base_url,
                         "--model", SMALL_MODEL, env=env, timeout=300)
        assert result.returncode == 0, result.stderr
        assert "request budget: 131,072-token window" in result.stderr
        calls = list(server.calls)
    assert len(calls) == 2  # the priming call and the review, both accepted by a stand-in that rejects overflow
    review_call = calls[-1]
    assert review_call.prompt_tokens + review_call.request["max_tokens"] <= SMALL_WINDOW
    last = review_call.request["messages"][-1]["content"]
    assert last.count("diff --git ") == 400  # the whole pull request was sent
    assert review_call.prompt_tokens > 90_000  # and the pack filled what the pull request left


def test_a_pull_request_too_large_for_the_window_leaves_out_head_text_then_fails_clearly(tmp_path: Path) -> None:
    from v4agent.review.context import PullRequestContent
    from v4agent.review.fit import LEFT_OUT, RequestTooLarge, encoder_counter, fit_request

    engine = open_engine(EngineSettings(base_url="http://127.0.0.1:9", api_key="sk-test", model="deepseek-v4-flash"))
    count, size = encoder_counter(engine)
    big = "\n".join(f"row_{k} = {k}" for k in range(3000))
    small = "x = 1\n"
    diff = "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x = 0\n+x = 1\n"
    pr = PullRequestContent("t", "", diff, {"big.py": big, "a.py": small})
    fit = fit_request(pr, "", window=24_000, output=8_000, count=count, size=size)
    assert fit.left_out == ("big.py",)
    assert "a.py" in fit.pr.head_files
    assert f"big.py ({LEFT_OUT})" in fit.pr.omitted
    assert fit.pack_budget + fit.pr_tokens + 8_000 <= 24_000
    huge = PullRequestContent("t", "", diff + "\n".join(f"+line_{k} = {k}" for k in range(20_000)), {})
    with pytest.raises(RequestTooLarge, match="too large for the model's 40,000-token window"):
        fit_request(huge, "", window=40_000, output=8_000, count=count, size=size)


def test_a_warm_reviews_dropped_priming_call_is_priced_near_the_bill(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from v4agent.accounting import load_price_table
    from v4agent.accounting.cost import price_call
    from v4agent.engine.types import Usage

    filler = {f"lib/mod_{i}.py": "\n".join(f"def f_{i}_{k}(x):\n    return x * {k} + {i}" for k in range(60)) + "\n"
              for i in range(25)}
    root = make_git_repo(tmp_path / "warm", {**filler, "app/one.py": "A = 1\n"})
    _branch(root, {"app/one.py": "A = 2\n"})
    env = {"DEEPSEEK_API_KEY": "sk-test"}
    with StandIn(handler=_handler) as server:
        for _ in range(2):  # the first run warms the cache; the second is the warm review priced here
            result = run_cli("review", str(root), "--base", "main", "--head", "pr", "--base-url", server.base_url,
                             env=env)
            assert result.returncode == 0, result.stderr
        calls = list(server.calls)
    assert len(calls) == 4
    ledger = [json.loads(line) for line in (root / ".v4agent" / "ledger.jsonl").read_text().splitlines()]
    warm_prime, warm_review = calls[2], calls[3]
    assert warm_prime.cache_hit > 0.9 * warm_prime.prompt_tokens  # the stand-in billed the priming mostly as hits
    # The cold run's priming is unknown (all misses, flagged); the warm run's is estimated from what run 1 saw.
    assert (ledger[0]["hit_unknown"], ledger[0]["estimated"]) == (True, True)
    assert (ledger[2]["hit_unknown"], ledger[2]["estimated"]) == (False, True)
    assert ledger[3]["estimated"] is False
    table, now = load_price_table(), datetime.now(UTC)

    def bill(usage: Usage) -> float:
        return price_call(table, "deepseek-v4-flash", usage, now).total_usd

    billed = sum(bill(Usage(c.prompt_tokens, c.output_tokens, c.cache_hit, c.cache_miss)) for c in (warm_prime,
                                                                                                   warm_review))
    ours = ledger[2]["total_usd"] + ledger[3]["total_usd"]
    # Stated tolerance: 2% of the stand-in's bill, plus the output the stand-in generated for the priming stream
    # after the client cut it (the client counts 1 token: what it saw before the cut; the rest is not knowable).
    unseen_output = bill(Usage(0, max(0, warm_prime.output_tokens - 1)))
    assert abs(ours - billed) <= 0.02 * billed + unseen_output, (ours, billed, unseen_output)
    input_ours = ledger[2]["hit_usd"] + ledger[2]["miss_usd"]
    input_billed = bill(Usage(warm_prime.prompt_tokens, 0, warm_prime.cache_hit, warm_prime.cache_miss))
    assert abs(input_ours - input_billed) <= 0.01 * input_billed  # the priming's input: within 1%
    all_miss = bill(Usage(warm_prime.prompt_tokens, 1)) + bill(Usage(warm_review.prompt_tokens, warm_review.output_tokens,
                                                                     warm_review.cache_hit, warm_review.cache_miss))
    assert all_miss > 3 * billed  # what pricing the dropped stream as all misses said before
