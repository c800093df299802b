"""Running a review: git facts in, one model call (after a priming call) out, a report (posting: ``post.py``).

I/O lives here; the decisions (layout, validation, placement, rendering) are the pure modules' job.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from v4agent.core.errors import ExitCode, V4AgentError
from v4agent.core.git import GitError, file_at_commit, run_git
from v4agent.core.git import resolve_commit as resolve_git_commit
from v4agent.engine.prime import prime_prefix
from v4agent.engine.types import ChatReply, Engine, EngineError, Usage
from v4agent.review.context import PullRequestContent, ReviewLayout, build_layout
from v4agent.review.findings import TOOL_NAME, Finding, parse_findings_call
from v4agent.review.hunks import parse_diff
from v4agent.review.report import ReviewReport, ReviewStats, place_findings
from v4agent.review.rules import ReviewRules
from v4agent.secrets.results import redact_diff, redact_file
from v4agent.secrets.scan import is_secret_path

MAX_HEAD_FILE_BYTES = 400_000
PackFn = Callable[..., tuple[str, int]]  # (directory, budget=None) -> (pack text, its token count)


class ReviewError(V4AgentError, exit_code=ExitCode.USAGE):
    """Bad input for a review (unknown ref, not a git repository...); the message says what to fix."""


# ---- git ----------------------------------------------------------------------------------------------

def _git(repo: Path, *args: str, check: bool = True) -> bytes:
    try:
        return run_git(repo, *args, ok=(0,) if check else None)
    except GitError as exc:  # the review's callers report ReviewError as bad input
        raise ReviewError(f"git {' '.join(args[:2])} failed: {exc.reason}") from None


def resolve_commit(repo: Path, ref: str) -> str:
    """The commit ``ref`` names; ReviewError (with the CI hint) when it names none."""
    sha = resolve_git_commit(repo, ref)
    if sha is None:
        raise ReviewError(f"unknown revision {ref!r} (in a GitHub workflow, check out with `fetch-depth: 0`)")
    return sha


def range_diff(repo: Path, base: str, head: str) -> str:
    """The pull request's diff as GitHub computes it: from the merge base to head, renames detected."""
    out = _git(repo, "diff", "--no-color", "--no-ext-diff", "-M", f"{base}...{head}")
    return out.decode("utf-8", "replace")


def file_at(repo: Path, commit: str, path: str) -> str | None:
    """The text of ``path`` at ``commit``; None when absent, binary or too large."""
    data = file_at_commit(repo, commit, path, max_bytes=MAX_HEAD_FILE_BYTES)
    if data is None or b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", "replace")


def commit_messages(repo: Path, base: str, head: str) -> tuple[str, str]:
    """(title, description) for a local change: the head commit's subject, and every commit's message."""
    title = _git(repo, "log", "-1", "--format=%s", head).decode("utf-8", "replace").strip()
    log = _git(repo, "log", "--format=- %s%n%b", f"{base}..{head}").decode("utf-8", "replace").strip()
    return title, log


@contextlib.contextmanager
def base_tree(repo: Path, commit: str) -> Iterator[Path]:
    """A detached worktree of ``commit`` under a temp dir, named like the repository (packs may show it)."""
    tmp = Path(tempfile.mkdtemp(prefix="v4agent-review-"))
    tree = tmp / repo.name
    try:
        _git(repo, "worktree", "add", "--detach", "--quiet", str(tree), commit)
        yield tree
    finally:
        _git(repo, "worktree", "remove", "--force", str(tree), check=False)
        shutil.rmtree(tmp, ignore_errors=True)
        _git(repo, "worktree", "prune", check=False)


def default_pack(options: Any = None) -> PackFn:
    """The real packer over a directory (``v4agent.pack.Snapshot``)."""

    def pack(directory: Path, budget: int | None = None) -> tuple[str, int]:
        from dataclasses import replace as with_budget

        from v4agent.pack import PackError, PackOptions, Snapshot

        chosen = options if options is not None else PackOptions()
        if budget is not None:  # what the pull request leaves of the window (fit.py); a smaller set budget wins
            chosen = with_budget(chosen, budget=min(chosen.budget or budget, budget))
        try:
            snapshot = Snapshot.build(directory, chosen, track_changes=False)  # text only: no delta, no watch
        except PackError as exc:
            raise ReviewError(f"cannot pack the base revision: {exc}") from None
        return snapshot.text, snapshot.token_count

    return pack


# ---- the model ------------------------------------------------------------------------------------------

@dataclass
class ModelRun:
    """What the review calls returned: findings, summary, warnings, and the usage of each call."""

    findings: list[Finding] = field(default_factory=list)
    summary: str = ""
    warnings: list[str] = field(default_factory=list)
    usages: list[Usage] = field(default_factory=list)  # as the server reported them
    estimated: list[Usage] = field(default_factory=list)  # calls without usage (a dropped priming stream)
    reported: bool = False  # the model called the findings tool: without it there is no review to trust


def _collect(reply: ChatReply, run: ModelRun) -> None:
    calls = [c for c in reply.tool_calls if c.name == TOOL_NAME]
    for other in reply.tool_calls:
        if other.name != TOOL_NAME:
            run.warnings.append(f"the model called an unknown tool {other.name!r}; ignored")
    if not calls:
        run.warnings.append(f"the model did not call {TOOL_NAME} (finish reason {reply.finish_reason!r}); "
                            "no findings were reported")
    for call in calls:
        parsed = parse_findings_call(call.arguments)
        run.findings.extend(parsed.findings)
        run.warnings.extend(parsed.warnings)
        run.summary = run.summary or parsed.summary


def prime_run(engine: Engine, layout: ReviewLayout) -> ModelRun:
    """The priming call alone (ends exactly at the pack; same settings, stream dropped at once)."""
    run = ModelRun()
    primed = prime_prefix(engine, layout.priming_messages, layout.tools)
    if primed is None:
        run.estimated.append(_prime_estimate(engine, layout))
    elif primed.usage is not None:
        run.usages.append(primed.usage)
    return run


def ask_model(engine: Engine, layout: ReviewLayout, *, prime: bool = True) -> ModelRun:
    """The priming call (``prime_run``), then the review call."""
    run = prime_run(engine, layout) if prime else ModelRun()
    reply = engine.complete(layout.messages, layout.tools)
    if reply.incomplete:  # a reply cut at the output limit or stopped by the filter is no final review
        raise EngineError(f"the review is not final: {reply.incomplete}", hint="nothing was posted; run it again"
                          + (" with a larger max_tokens" if reply.truncated else ""))
    if reply.usage is not None:
        run.usages.append(reply.usage)
    _collect(reply, run)
    run.reported = any(call.name == TOOL_NAME for call in reply.tool_calls)
    return run


def _prime_estimate(engine: Engine, layout: ReviewLayout) -> Usage:
    """A dropped priming stream reports no usage: its prompt counted as V4's encoder renders it (what DeepSeek
    bills), hits unknown here (``review`` fills in those a recent call of the same prefix reported: ``primed.py``)."""
    from v4agent.agent.request.template import render_request
    from v4agent.agent.setup import render_mode
    from v4agent.tokens.tokenizer import get_tokenizer

    thinking, effort = render_mode(engine)
    rendered = render_request(list(layout.priming_messages), list(layout.tools), get_tokenizer("deepseek-v4"),
                              thinking=thinking, effort=effort)
    return Usage(prompt_tokens=rendered.prompt_tokens, output_tokens=1, estimated=True)


def _price_priming_by_cache(repo: Path, engine: Engine, layout: ReviewLayout, run: ModelRun) -> None:
    """Estimate a dropped priming call's hits from what an earlier run's calls reported for the same prefix, then
    record what this run's calls report (each extends the priming request, so its hits are the prefix's)."""
    from v4agent.review import primed

    key = primed.prefix_key(engine, layout.priming_messages, layout.tools)
    if run.estimated:
        hit = primed.known_hit(repo, key)
        run.estimated = [primed.with_known_hit(u, hit) for u in run.estimated]
    reported = [u.cache_hit for u in run.usages if u.cache_hit is not None and not u.estimated]
    if reported and max(reported) > 0:
        primed.remember(repo, key, max(reported))


def _stats(engine: Engine, run: ModelRun, pack_tokens: int, price: Callable[[str, Usage], Any] | None) -> ReviewStats:
    hits = [u.cache_hit for u in run.usages]
    cost: float | None = None
    entries: list[str] = []
    if price is not None:
        cost = 0.0
        for usage in (*run.estimated, *run.usages):
            priced = price(engine.settings.model, usage)
            cost += float(priced.total_usd)
            if priced.price_entry not in entries:
                entries.append(str(priced.price_entry))
    return ReviewStats(
        model=engine.settings.model,
        calls=len(run.usages) + len(run.estimated),
        prompt_tokens=sum(u.prompt_tokens for u in run.usages),
        output_tokens=sum(u.output_tokens for u in run.usages),
        cache_hit_tokens=None if any(h is None for h in hits) or not hits else sum(h or 0 for h in hits),
        pack_tokens=pack_tokens,
        cost_usd=cost,
        price_entry=", ".join(entries),
    )


def accounting_pricer(engine: Engine, at: datetime | None = None, *, table: Any = None,
                      repo: Path | None = None, session_id: str = "") -> Callable[[str, Usage], Any] | None:
    """Prices calls with ``table`` (default: the shipped price table); None if it cannot be loaded.

    With ``repo``, each priced call is also appended to that project's cost ledger (``.v4agent/ledger.jsonl``),
    like every other call v4agent makes, under ``session_id``."""
    from v4agent.accounting import Ledger, Meter, PriceTableError, load_price_table

    if table is None:
        try:
            table = load_price_table()
        except PriceTableError:
            return None
    when = at or datetime.now(UTC)
    engine_name = str(getattr(engine, "name", "deepseek"))
    meter = Meter(table, engine=engine_name, ledger=Ledger(repo) if repo is not None else None,
                  session_id=session_id)
    turns = iter(range(1_000_000))
    return lambda model, usage: meter.record(model, usage, turn=next(turns), at=when)


@dataclass(frozen=True)
class ReviewInput:
    """The change to review: the repository, base and head commits, the title, description and diff."""

    repo: Path
    base_sha: str
    head_sha: str
    title: str
    description: str
    diff_text: str


def _fit(engine: Engine, pr: PullRequestContent, rules_text: str, window: int,
         adjust: Callable[[ReviewLayout], ReviewLayout] | None, say: Callable[[str], None]) -> tuple[PullRequestContent, int]:
    """The pull request as it fits ``window`` and the pack budget it leaves (``fit.py``), said on ``say``."""
    from v4agent.review.fit import RequestTooLarge, encoder_counter, fit_request

    output = int(getattr(engine.settings, "max_tokens", 0) or 0)
    count, size = encoder_counter(engine)
    try:
        fit = fit_request(pr, rules_text, window=window, output=output, count=count, size=size, adjust=adjust)
    except RequestTooLarge as exc:
        raise ReviewError(str(exc), hint="review it in parts (--base/--head on a narrower range), or exclude "
                                         "generated files with the [review] rules") from None
    if fit.left_out:
        shown = ", ".join(fit.left_out[:5]) + (f" and {len(fit.left_out) - 5} more" if len(fit.left_out) > 5 else "")
        say(f"the pull request does not fit the {window:,}-token window whole: left out the full text at head of "
            f"{len(fit.left_out)} changed file(s), largest first ({shown}); their diff is still reviewed")
    say(f"request budget: {window:,}-token window = {fit.pr_tokens:,} for the pull request and the stable block + "
        f"{output:,} for the answer + {fit.pack_budget:,} at most for the repository")
    return fit.pr, fit.pack_budget


Asker = Callable[[Engine, ReviewLayout, bool], ModelRun]  # (engine, layout, prime) -> the calls' result


def review(inp: ReviewInput, engine: Engine, *, pack: PackFn, prime: bool = True,
           price: Callable[[str, Usage], Any] | None = None, rules: ReviewRules | None = None,
           adjust: Callable[[ReviewLayout], ReviewLayout] | None = None, ask: Asker | None = None,
           window: int | None = None, say: Callable[[str], None] | None = None) -> ReviewReport:
    """Review one change end to end (no posting); ``rules``: the repository's review rules (``rules.py``).

    ``adjust`` may append to the request after its cached prefix (the focus of an incremental review); ``ask``
    replaces the one review call (consensus samples: ``consensus.py``). With ``window``, the pull request is
    counted first and the pack gets what it leaves of that window (``fit.py``); ``say`` hears how."""
    rules = rules or ReviewRules()
    diff = parse_diff(inp.diff_text)
    head_files: dict[str, str] = {}
    base_files: dict[str, str] = {}
    omitted: list[str] = []
    for changed in diff:
        if changed.status != "deleted":
            text = None if changed.binary else file_at(inp.repo, inp.head_sha, changed.path)
            if text is None:
                omitted.append(f"{changed.path} (binary, too large or missing at head)")
            else:
                head_files[changed.path] = text
        old = changed.old_path or changed.path
        if changed.status != "added":
            base_text = file_at(inp.repo, inp.base_sha, old)
            if base_text is not None:
                base_files[old] = base_text
    # The model sees the change with secret values replaced (the placeholders still show where one was
    # committed); findings are placed against the real text, whose lines the redaction leaves in place.
    shown_files = {path: redact_file(path, text)[0] for path, text in head_files.items() if not is_secret_path(path)}
    omitted += [f"{path} (a secret file: not shown)" for path in head_files if is_secret_path(path)]
    pr = PullRequestContent(inp.title, inp.description, redact_diff(inp.diff_text)[0], shown_files, tuple(omitted),
                            frozenset(c.path for c in diff if c.status == "added"))
    budget: int | None = None
    if window is not None:
        pr, budget = _fit(engine, pr, rules.text(), window, adjust, say or (lambda _: None))
    with base_tree(inp.repo, inp.base_sha) as tree:
        pack_text, pack_tokens = pack(tree) if budget is None else pack(tree, budget=budget)
    layout = build_layout(pack_text, pr, rules.text())
    if adjust is not None:
        layout = adjust(layout)
    run = ask(engine, layout, prime) if ask is not None else ask_model(engine, layout, prime=prime)
    if prime:
        _price_priming_by_cache(inp.repo, engine, layout, run)
    kept = [f for f in run.findings if rules.reviewed(f.path)]
    if len(kept) < len(run.findings):
        run.warnings.append(f"review rules: {len(run.findings) - len(kept)} finding(s) on files the rules exclude "
                            "were dropped")
    placed = place_findings(kept, diff, head_files, base_files)
    return ReviewReport(inp.base_sha, inp.head_sha, placed, run.summary, _stats(engine, run, pack_tokens, price),
                        tuple(run.warnings), reported=run.reported)
