"""Benchmark: `v4agent review --github` of a large pull request on Django 5.2 (issue 24's closing note).

    python bench/bench_review.py [--files 400] [--lines 75] [--pack-budget 400000]

Prints, beside the issue's asks: the wall time and cost of reviewing a 400-file / 30,000-line pull request with
the pack already in the provider's cache (first run), of the re-run after a small push (incremental), and the
cost of ``--samples 3`` against one sample on the same pull request (added cost per sample).

Everything runs for real: the CLI in its own process (``python -m v4agent review --github``), real git, the
real packer on Django 5.2 (prepared and cached by ``bench_pack.prepare_corpus``), fake GitHub, and the DeepSeek
stand-in, which bills every call by DeepSeek's documented cache rules; cost is the CLI's own, priced with the
shipped price table at the time of the run (the entry is printed: peak and off-peak prices differ).

Latency model (the stand-in answers at once; this sleeps before each answer, in the serving thread, so
concurrent calls overlap as they would on the service). Stated, not measured, from nothing but round figures:
    0.5 s  + uncached prompt tokens / 5,000 per s  + cached prompt tokens / 500,000 per s
           + output tokens / 50 per s
The model's reply is scripted: about 1,000 tokens of reasoning and a report of 5 findings, per review call.

"Warm pack": before the measured runs, a one-file pull request on the same base is reviewed, as an earlier
pull request would have been; its priming call stores the pack (system prompt, tools, packed base) in the
stand-in's cache, so the measured runs find it there. The packer itself runs in every review (the review packs
a fresh worktree of the merge base); its time is part of each wall time. The pack's token budget is set with
``V4AGENT_PACK_BUDGET`` so that the pack and this pull request's part fit one 1M-token request.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_pack import prepare_corpus  # noqa: E402  (the Django corpus, prepared once and cached)
from v4agent.testing.fake_github import FakeGitHub  # noqa: E402
from v4agent.testing.records import CallRecord  # noqa: E402
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn  # noqa: E402

_GIT = ["git", "-c", "user.email=bench@v4agent.invalid", "-c", "user.name=bench", "-c", "commit.gpgsign=false"]
TOKEN = "ghs_bench_actions_token_0123456789"
BASE_S, MISS_PER_S, HIT_PER_S, OUT_PER_S = 0.5, 5_000.0, 500_000.0, 50.0


def priming(messages: list[dict[str, Any]]) -> bool:
    """True for the priming request: it ends at the pack, before the pull request's message."""
    return "# Pull request to review" not in str(messages[-1].get("content") or "")


def latency(record: CallRecord) -> float:
    """The stated latency model for one call, from what the stand-in billed.

    The client drops a priming call's stream at its first piece: it waits for the prefill, not the output.
    """
    out = 0 if priming(record.request["messages"]) else record.output_tokens
    return BASE_S + record.cache_miss / MISS_PER_S + record.cache_hit / HIT_PER_S + out / OUT_PER_S


def billed_usd(record: CallRecord) -> float:
    """What the call costs as the stand-in billed it (hits at the hit price; a dropped priming stream's output
    as one token), priced with the shipped table now. The CLI's own figure prices a dropped priming stream's
    whole input as misses, since such a stream reports no usage."""
    from datetime import UTC, datetime

    from v4agent.accounting.cost import price_call
    from v4agent.accounting.prices import load_price_table
    from v4agent.engine.types import Usage

    out = 1 if priming(record.request["messages"]) else record.output_tokens
    usage = Usage(record.prompt_tokens, out, cache_hit=record.cache_hit, cache_miss=record.cache_miss)
    return price_call(load_price_table(), str(record.request["model"]), usage, datetime.now(UTC),
                      served_model=record.served_by).total_usd


class LatencyStandIn(StandIn):
    """The stand-in, answering each call after the model's latency (slept in that call's own thread)."""

    overhead_s = 0.0  # the stand-in's own work (rendering and counting a 1M-token request): not the model's

    def __enter__(self) -> LatencyStandIn:
        super().__enter__()
        return self

    def prepare_reply(self, body: dict[str, Any], record: CallRecord) -> Any:
        start = time.perf_counter()
        prepared = super().prepare_reply(body, record)
        self.overhead_s += time.perf_counter() - start
        time.sleep(latency(record))
        return prepared


def scripted_review(body: dict[str, Any]) -> ScriptedReply:
    """The model: a token for the priming call; reasoning and five findings on the first new files otherwise."""
    if body.get("max_tokens") == 1 or priming(body["messages"]):
        return ScriptedReply(content="k")
    text = body["messages"][-1]["content"]
    paths = [line[4:].strip() for line in text.splitlines() if line.startswith("### ")][:5]
    findings = [{"path": p, "start_line": 3, "end_line": 3, "side": "RIGHT", "severity": "medium",
                 "category": "bug", "title": f"Unchecked input in {p.rsplit('/', 1)[-1]}",
                 "body": "The value is used before it is validated; check it first."} for p in paths]
    args = json.dumps({"findings": findings, "summary": "Scripted review of the change."})
    return ScriptedReply(reasoning="Reading the change file by file. " * 150,
                         tool_calls=[ScriptedToolCall("report_findings", args)])


# ---- the repository and its pull requests ---------------------------------------------------------------

def git(repo: Path, *args: str) -> str:
    return subprocess.run([*_GIT, "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for rel, text in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def module(index: int, lines: int, *, revision: int = 0) -> str:
    """A generated Python module of ``lines`` lines: small validated accessors, like real code."""
    out = [f'"""Generated module {index} for the review benchmark."""', ""]
    n = 0
    while len(out) + 4 <= lines:
        limit = 100 + n + revision
        out += [f"def field_{index}_{n}(record, default=None):",
                f"    value = record.get('field_{n}', default)",
                f"    return value if value is None or len(str(value)) < {limit} else str(value)[:{limit}]", ""]
        n += 1
    out += [f"# end of module {index}"] * (lines - len(out))
    return "\n".join(out) + "\n"


def diff(repo: Path, base: str, head: str) -> str:
    return subprocess.run([*_GIT, "-C", str(repo), "diff", "--no-color", "-M", f"{base}...{head}"],
                          capture_output=True, text=True, check=True).stdout


def event(path: Path, number: int, head: str, base: str) -> Path:
    path.write_text(json.dumps({"number": number, "pull_request": {
        "number": number, "title": f"Bench pull request {number}", "body": "", "user": {"login": "octocat"},
        "head": {"sha": head, "ref": f"pr{number}", "repo": {"full_name": "octo/django", "fork": False}},
        "base": {"sha": base, "ref": "main", "repo": {"full_name": "octo/django", "fork": False}}}}),
        encoding="utf-8")
    return path


@dataclass
class Run:
    """One review run's figures."""

    label: str
    wall_s: float
    cost_usd: float
    calls: int
    prompt_tokens: int
    hit_tokens: int
    pack_tokens: int
    price_entry: str
    model_s: float  # the latency model's share (sum over calls; concurrent calls overlap in the wall time)
    standin_s: float  # the stand-in's own rendering and counting, inside the wall time
    billed_usd: float  # the stand-in's bill, priced
    detail: str  # per call: hit/miss/output tokens


def review(repo: Path, server: LatencyStandIn, gh: FakeGitHub, number: int, head: str, base: str, work: Path,
           label: str, *extra: str, budget: int) -> Run:
    slug = f"run{len(list(work.glob('*.json')))}"
    out = work / f"{slug}.json"
    env = dict(os.environ, GITHUB_EVENT_PATH=str(event(work / f"{slug}.event.json", number, head, base)),
               GITHUB_REPOSITORY="octo/django", GITHUB_TOKEN=TOKEN, GITHUB_API_URL=gh.api_url,
               GITHUB_ACTIONS="true", DEEPSEEK_API_KEY="sk-test", V4AGENT_PACK_BUDGET=str(budget),
               PYTHONPATH=str(ROOT))
    before, overhead = len(server.calls), server.overhead_s
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "v4agent", "review", str(repo), "--github", "--base-url",
                           server.base_url, "--format", "json", "-o", str(out), *extra],
                          env=env, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{label}: review exited {done.returncode}:\n{done.stderr[-4000:]}")
    print(f"  {label}: {wall:.1f} s", flush=True)
    stats = json.loads(out.read_text(encoding="utf-8"))["stats"]
    calls = server.calls[before:]
    return Run(label, wall, float(stats["cost_usd"] or 0.0), int(stats["calls"]), int(stats["prompt_tokens"]),
               int(stats["cache_hit_tokens"] or 0), int(stats["pack_tokens"]), str(stats["price_entry"]),
               sum(latency(c) for c in calls), server.overhead_s - overhead, sum(billed_usd(c) for c in calls),
               "; ".join(f"{c.cache_hit:,} hit + {c.cache_miss:,} miss -> {c.output_tokens:,} out" for c in calls))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--lines", type=int, default=75, help="lines per new file (400 x 75 = 30,000)")
    parser.add_argument("--pack-budget", type=int, default=200_000)
    parser.add_argument("--corpus", type=Path, help="a git repository (default: Django 5.2, prepared once)")
    args = parser.parse_args()
    corpus = args.corpus or prepare_corpus()
    with tempfile.TemporaryDirectory(prefix="bench-review-") as tmp:
        work = Path(tmp)
        repo = work / "django"
        subprocess.run([*_GIT, "clone", "-q", "--local", str(corpus), str(repo)], check=True)
        base = git(repo, "rev-parse", "HEAD")
        git(repo, "checkout", "-q", "-b", "small")
        small = commit(repo, {"django/utils/bench_note.py": "NOTE = 'warm-up'\n"}, "A one-file change")
        git(repo, "checkout", "-q", "-b", "big", base)
        files = {f"django/contrib/benchpr/mod_{i:03d}.py": module(i, args.lines) for i in range(args.files)}
        head1 = commit(repo, files, f"{args.files} new modules")
        pushed = {f"django/contrib/benchpr/mod_{i:03d}.py": module(i, args.lines, revision=1) for i in range(10)}
        head2 = commit(repo, pushed, "Raise ten limits")
        git(repo, "checkout", "-q", base)
        big = diff(repo, base, head1)
        print(f"corpus {corpus} at {base[:12]}; pull request: {args.files} files, "
              f"{sum(1 for line in big.splitlines() if line.startswith('+') and not line.startswith('+++')):,} "
              f"added lines; push: 10 files; pack budget {args.pack_budget:,} tokens", flush=True)
        budget = args.pack_budget
        with LatencyStandIn(handler=scripted_review) as server, FakeGitHub(token=TOKEN) as gh:
            gh.add_pull("octo", "django", 2, diff=diff(repo, base, small), head_sha=small, base_sha=base)
            pull = gh.add_pull("octo", "django", 1, diff=big, head_sha=head1, base_sha=base)
            gh.add_pull("octo", "django", 5, diff=diff(repo, base, small), head_sha=small, base_sha=base)
            warm = review(repo, server, gh, 2, small, base, work, "warm-up: a 1-file PR, cold prefix", budget=budget)
            small_one = review(repo, server, gh, 5, small, base, work, "1-file PR, warm prefix", budget=budget)
            first = review(repo, server, gh, 1, head1, base, work, "large PR, first run", budget=budget)
            pull.push(head2, diff(repo, base, head2))
            rerun = review(repo, server, gh, 1, head2, base, work, "large PR, re-run after a 10-file push",
                           budget=budget)
        # --samples 3 on the same pull request, measured alike: a fresh cache, warmed by the same 1-file PR.
        with LatencyStandIn(handler=scripted_review) as server, FakeGitHub(token=TOKEN) as gh:
            gh.add_pull("octo", "django", 2, diff=diff(repo, base, small), head_sha=small, base_sha=base)
            gh.add_pull("octo", "django", 1, diff=big, head_sha=head1, base_sha=base)
            gh.add_pull("octo", "django", 5, diff=diff(repo, base, small), head_sha=small, base_sha=base)
            review(repo, server, gh, 2, small, base, work, "warm-up again", budget=budget)
            small_three = review(repo, server, gh, 5, small, base, work, "1-file PR, warm prefix, --samples 3 --agree 2",
                                 "--samples", "3", "--agree", "2", budget=budget)
            three = review(repo, server, gh, 1, head1, base, work, "large PR, first run, --samples 3 --agree 2",
                           "--samples", "3", "--agree", "2", budget=budget)
        runs = [warm, small_one, small_three, first, rerun, three]
        one = first
    print()
    print(f"{'run':<48} {'wall s':>7} {'model s':>7} {'stand-in s':>10} {'calls':>5} {'CLI $':>8} {'billed $':>8}")
    for r in runs:
        print(f"{r.label:<48} {r.wall_s:>7.1f} {r.model_s:>7.1f} {r.standin_s:>10.1f} {r.calls:>5} {r.cost_usd:>8.4f} "
              f"{r.billed_usd:>8.4f}")
        print(f"    calls: {r.detail}")
    added = (three.cost_usd - one.cost_usd) / 2
    billed_added = (three.billed_usd - one.billed_usd) / 2
    small_added = (small_three.billed_usd - small_one.billed_usd) / 2
    print()
    print(f"latency model: {BASE_S} s + miss/{MISS_PER_S:,.0f} + hit/{HIT_PER_S:,.0f} + output/{OUT_PER_S:.0f} "
          "tokens per s, per call")
    print(f"pack: {first.pack_tokens:,} tokens; prices: {first.price_entry}")
    print(f"issue 24 closing note: first run {first.wall_s:.1f} s / ${first.cost_usd:.4f}; re-run after a push "
          f"{rerun.wall_s:.1f} s / ${rerun.cost_usd:.4f}; --samples 3 ${three.cost_usd:.4f} against "
          f"${one.cost_usd:.4f} for one sample: ${added:.4f} added per sample "
          f"({100.0 * added / one.cost_usd:.0f}% of a one-sample review)")
    print(f"as billed: first run ${first.billed_usd:.4f}, re-run ${rerun.billed_usd:.4f}, --samples 3 "
          f"${three.billed_usd:.4f}: ${billed_added:.4f} added per sample "
          f"({100.0 * billed_added / one.billed_usd:.0f}%); a 1-file PR: ${small_one.billed_usd:.4f} for one sample, "
          f"${small_added:.4f} added per sample ({100.0 * small_added / small_one.billed_usd:.0f}%)")


if __name__ == "__main__":
    main()
