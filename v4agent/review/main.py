"""The body of `v4agent review`: review a change locally, or a pull request from GitHub Actions and post the result."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from v4agent.core.config import Config, load_config
from v4agent.core.errors import ExitCode, UsageError, V4AgentError
from v4agent.core.fsutil import write_output
from v4agent.core.git import repo_root
from v4agent.core.signals import stop_on_signals
from v4agent.engine.types import Engine, EngineError, EngineUnreachable
from v4agent.review.actions import UNTRUSTED_IN_CI, PullRequestEvent, read_event
from v4agent.review.consensus import MAX_SAMPLES, consensus_asker
from v4agent.review.findings import SEVERITIES, TOOL_NAME, at_or_above
from v4agent.review.github import GitHubClient, GitHubError
from v4agent.review.gitrefs import merge_base
from v4agent.review.incremental import (
    EarlierComment,
    Plan,
    Prior,
    focus_layout,
    mark_fixed,
    open_prior,
    plan_review,
    settle,
)
from v4agent.review.memory import recall, without_settled
from v4agent.review.post import post_review
from v4agent.review.pullinput import pull_input
from v4agent.review.render import render
from v4agent.review.report import ReviewReport
from v4agent.review.resolve import resolve_fixed
from v4agent.review.rules import ReviewRules, filter_diff, read_rules
from v4agent.review.run import (
    ReviewError,
    ReviewInput,
    accounting_pricer,
    commit_messages,
    default_pack,
    range_diff,
    resolve_commit,
    review,
)
from v4agent.ui.console import stderr, warn

if TYPE_CHECKING:
    from v4agent.accounting import PriceTable
    from v4agent.pack import PackOptions

_FORMATS = ("markdown", "json", "sarif")


class ReviewFailed(V4AgentError):
    """The review itself could not be done (for example the base revision cannot be packed)."""


class ReviewIncomplete(V4AgentError, exit_code=ExitCode.REVIEW_INCOMPLETE):
    """The review did not happen (the model never reported its findings): no gate may pass it."""


def _pack_options(config: Config) -> PackOptions:
    from v4agent.pack.fromconfig import pack_options_from_config

    return pack_options_from_config(config)


def _price_table(config: Config, repo: Path) -> PriceTable | None:
    """The configured price table (prices_file, gpu_hour_usd); None falls back to the shipped one."""
    from v4agent.accounting import PriceTableError, price_table_for

    try:
        return price_table_for(config, repo)
    except PriceTableError as exc:
        warn(f"price table: {exc}; using the shipped one")
        return None


def _check_choices(fmt: str, fail_on: str, request_changes: str, *, github: bool, base: str) -> None:
    if fmt not in _FORMATS:
        raise UsageError(f"--format must be one of {', '.join(_FORMATS)}, got {fmt!r}")
    for name, value, extra in (("--fail-on", fail_on, ()), ("--request-changes-on", request_changes, ("never",))):
        if value and value not in (*SEVERITIES, *extra):
            raise UsageError(f"{name} must be one of {', '.join((*SEVERITIES, *extra))}, got {value!r}")
    if not github and not base:
        raise UsageError("--base REF is required (or --github inside a GitHub Actions run)")


def _check_samples(samples: int, agree: int) -> None:
    if not 1 <= samples <= MAX_SAMPLES:
        raise UsageError(f"--samples must be between 1 and {MAX_SAMPLES}, got {samples}")
    if not 1 <= agree <= samples:
        raise UsageError(f"--agree must be between 1 and --samples ({samples}), got {agree}",
                         hint="--agree M posts the findings at least M of the --samples K reviews report")


def _review_input(repo: Path, event: PullRequestEvent | None, *, base: str, head: str) -> ReviewInput:
    """The change to review: the pull request of this Actions run, or BASE...HEAD of the local repository.

    Either way its base is the merge base, where the diff starts: the repository is packed, and old lines
    are read, there (``gitrefs.py``).
    """
    if event is not None:
        got = pull_input(repo, event)
        for note in got.notes:
            stderr.print(escape(note))
        return got.change
    base_sha, head_sha = resolve_commit(repo, base), resolve_commit(repo, head)
    start = merge_base(repo, base_sha, head_sha, deepen=False)  # locally, nothing is fetched unasked
    if start is None:
        raise ReviewError(f"{base} and {head} share no history: nothing to diff from")
    title, description = commit_messages(repo, start, head_sha)
    return ReviewInput(repo, start, head_sha, title, description, range_diff(repo, start, head_sha))


def _notice(title: str, message: str) -> None:
    """Say why the run ends early, and in Actions also as a notice annotation on the run's summary page.

    docs.github.com/actions/reference/workflows-and-actions/workflow-commands#setting-a-notice-message; the
    data is escaped as the runner reads it (``%``, CR and LF; ``:`` and ``,`` in a property too).
    """
    stderr.print(escape(f"{title}: {message}"), soft_wrap=True)  # one line: a log search finds it whole
    if os.environ.get("GITHUB_ACTIONS") == "true":
        def data(text: str) -> str:
            return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        prop = data(title).replace(":", "%3A").replace(",", "%2C")
        print(f"::notice title={prop}::{data(message)}", flush=True)


def _missing_key(config: Config, overrides: dict[str, Any]) -> bool:
    """True when the engine needs an API key and none is set (this run got no secrets)."""
    from v4agent.agent.engine_choice import LOCAL, engine_settings
    from v4agent.engine.client import preset_named

    if str(overrides.get("engine") or config.get("engine")) == LOCAL:
        return False
    try:
        settings = engine_settings(config, overrides=overrides)
        return preset_named(settings.engine).key_required and not settings.api_key
    except EngineError:
        return False  # a bad preset name: opening the engine reports it


def _open_engine(config: Config, repo: Path, overrides: dict[str, Any]) -> Engine:
    from v4agent.agent.engine_choice import open_model_engine

    try:
        return open_model_engine(config, repo, overrides=overrides)
    except EngineError as exc:
        if isinstance(exc, EngineUnreachable):
            raise
        raise UsageError(str(exc), hint=exc.hint) from None  # an engine that cannot be opened is misconfigured


@stop_on_signals()  # SIGTERM or SIGHUP: the review stops like Ctrl-C, one line and the interrupted status
def run_review(
    path: Path, *,
    base: str,
    head: str,
    github: bool,
    fmt: str,
    output: Path | None,
    dry_run: bool,
    fail_on: str,
    request_changes: str,
    no_prime: bool,
    engine: str | None,
    model: str | None,
    base_url: str | None,
    samples: int = 1,
    agree: int = 1,
    full: bool = False,
) -> None:
    """Review a change with DeepSeek V4: the repository at BASE is the cached prefix, the diff the question."""
    _check_choices(fmt, fail_on, request_changes, github=github, base=base)
    _check_samples(samples, agree)
    # Reading the input: ReviewError, ConfigError and ActionsError are usage errors (exit 2), GitHubError a
    # failure (exit 1); the entry point prints them.
    repo = repo_root(path.resolve())
    if repo is None:
        raise UsageError(f"{path.resolve()} is not inside a git repository")
    # In Actions the checked-out tree is the pull request's: its project file is never trusted there.
    config = load_config(repo, trust=False if github else None)
    if config.untrusted is not None:
        warn(escape(config.untrusted.warning(UNTRUSTED_IN_CI if github else "")))
    overrides: dict[str, Any] = {"engine": engine, "model": model, "base_url": base_url}

    event = read_event() if github else None
    if event is not None and _missing_key(config, overrides):
        why = (f"this is {event.without_secrets}, and GitHub passes no secrets to its `pull_request` run"
               if event.without_secrets else "if this repository's own pull requests end here too, add a "
               "DEEPSEEK_API_KEY repository secret; a fork's or Dependabot's get no secrets on `pull_request`")
        _notice("v4agent review skipped",
                f"the run has no model API key (DEEPSEEK_API_KEY), so nothing was reviewed or posted: {why}. "
                "The README's pull_request_target recipe reviews such pull requests.")
        return
    inp = _review_input(repo, event, base=base, head=head)
    inp, rules = _with_rules(inp)
    if not inp.diff_text.strip():
        stderr.print(f"nothing to review: no difference between {inp.base_sha[:12]} and {inp.head_sha[:12]}"
                     + (" in the files the review rules let through" if rules.include or rules.exclude else ""))
        return

    prior, plan = Prior(), Plan()
    if event is not None:  # a re-run reviews what changed since the head it last reviewed (incremental.py)
        prior = open_prior(event.token, event.api_url, event.pull, event.bot_login)
        plan = plan_review(repo, prior.last_head, inp.head_sha, full=full)
        if plan.note:
            stderr.print(escape(plan.note))
    report = _run_model(inp, config, repo, overrides, prime=not no_prime, rules=rules, plan=plan, samples=samples,
                        agree=agree)
    report, fixed = settle(report, prior, plan, repo)
    if event is not None:  # after settle: an earlier finding people settled is not carried either
        report = _recall(event, report)
    if event is not None and not dry_run:
        _post(event, inp.head_sha, report, request_changes, fixed)
    _write(render(report, fmt), output)
    if fail_on and any(at_or_above(p.finding.severity, fail_on) for p in report.placed):
        raise typer.Exit(int(ExitCode.REVIEW_FINDINGS))


def _with_rules(inp: ReviewInput) -> tuple[ReviewInput, ReviewRules]:
    """The repository's review rules, read at the merge base (never the pull request's tree), and the input
    without the files they exclude."""
    rules = read_rules(inp.repo, inp.base_sha)
    for note in rules.notes:
        warn(escape(note))
    diff_text, excluded = filter_diff(inp.diff_text, rules)
    if excluded:
        shown = ", ".join(excluded[:10]) + (f" and {len(excluded) - 10} more" if len(excluded) > 10 else "")
        stderr.print(escape(f"review rules at {inp.base_sha[:12]}: not reviewing {len(excluded)} excluded "
                            f"file(s): {shown}"))
    return replace(inp, diff_text=diff_text), rules


def _recall(event: PullRequestEvent, report: ReviewReport) -> ReviewReport:
    """The report less the findings people already settled on this pull request (``memory.py``)."""
    if not report.placed:
        return report
    try:
        with GitHubClient(event.token, event.api_url) as client:
            memory = recall(client, event.pull, event.bot_login, wanted=[p.fingerprint for p in report.placed])
    except GitHubError as exc:  # no memory is no reason to lose the review: the fingerprints still dedupe
        warn(escape(f"could not read what people said on earlier findings ({exc}); every finding is kept"))
        return report
    return without_settled(report, memory)


def _run_model(inp: ReviewInput, config: Config, repo: Path, overrides: dict[str, Any], *,
               prime: bool, rules: ReviewRules, plan: Plan, samples: int, agree: int) -> ReviewReport:
    """The review itself; ReviewIncomplete when the model never reported, since "no findings" would be a lie."""
    llm = _open_engine(config, repo, overrides)
    stderr.print(f"reviewing {inp.head_sha[:12]} against {inp.base_sha[:12]} with {llm.settings.model}…")
    try:
        report: ReviewReport = review(inp, llm, pack=default_pack(_pack_options(config)), prime=prime,
                                      price=accounting_pricer(llm, table=_price_table(config, repo), repo=repo,
                                                              session_id=f"review-{inp.head_sha[:12]}"),
                                      rules=rules,
                                      adjust=(lambda layout: focus_layout(layout, plan)) if plan.incremental else None,
                                      ask=consensus_asker(samples, agree) if samples > 1 else None,
                                      window=_window(llm), say=lambda note: stderr.print(escape(note)))
    except ReviewError as exc:  # a usage error while reading the input, a failure once the review runs
        raise ReviewFailed(str(exc), hint=exc.hint) from None
    finally:  # DiffError (exit 2) and EngineError (6 if unreachable, else 1) propagate
        close = getattr(llm, "close", None)
        if callable(close):
            close()
    for message in report.warnings:
        warn(escape(message))  # they quote the model's text: never read it as markup
    if not report.reported:
        raise ReviewIncomplete(f"the review did not happen: the model never called {TOOL_NAME}, so there are no "
                               "findings to trust (nothing was posted)",
                               hint="run it again; if it keeps happening, try another --model")
    return report


def _window(llm: Engine) -> int:
    """The model's context window, from the dated model data (a conservative one for a model it lacks)."""
    from v4agent.engine.presets import model_info

    return model_info(llm.settings.model).context_window


def _post(event: PullRequestEvent, head_sha: str, report: ReviewReport, request_changes: str,
          fixed: list[EarlierComment]) -> None:
    """Post the review; a token that may not write (a fork's or Dependabot's) ends with a notice, not a failure."""
    try:
        with GitHubClient(event.token, event.api_url) as client:  # any other GitHubError is a failure: exit 1
            outcome = post_review(client, event.pull, head_sha, report,
                                  request_changes_at=None if request_changes == "never" else request_changes,
                                  bot_login=event.bot_login)
            marked = mark_fixed(client, event.pull, head_sha, fixed)
            resolved = resolve_fixed(client, event.pull, fixed)
    except GitHubError as exc:
        if not exc.not_permitted:
            raise
        why = f" ({event.without_secrets})" if event.without_secrets else ""
        _notice("v4agent review not posted",
                f"the token may not write to this pull request{why}: GitHub answered \"{exc.detail}\". The review "
                "is in this run's output only; give the workflow `permissions: pull-requests: write`.")
        return
    for message in outcome.warnings:
        warn(escape(message))
    stderr.print(f"posted {outcome.new_comments} new comment(s) ({outcome.already_posted} already there), "
                 f"{outcome.file_comments} file comment(s); summary {'updated' if outcome.summary_updated else 'posted'}"
                 + (f"; dismissed {len(outcome.dismissed)} earlier change request(s)" if outcome.dismissed else "")
                 + (f"; marked {marked} earlier comment(s) fixed" if marked else "")
                 + (f" and resolved {resolved} of their threads" if resolved else ""))


def _write(text: str, output: Path | None) -> None:
    if output is None:
        print(text, end="")
        return
    try:
        write_output(output, text)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
