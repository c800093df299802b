"""The body of `v4agent review`: review a change locally, or a pull request from GitHub Actions and post the result."""

from __future__ import annotations

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
from v4agent.review.findings import SEVERITIES, at_or_above
from v4agent.review.github import GitHubClient
from v4agent.review.render import render
from v4agent.review.report import ReviewReport
from v4agent.review.run import (
    ReviewError,
    ReviewInput,
    accounting_pricer,
    commit_messages,
    default_pack,
    post_review,
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


def _review_input(repo: Path, *, github: bool, base: str, head: str) -> tuple[ReviewInput, PullRequestEvent | None]:
    """The change to review: the pull request of this Actions run, or BASE..HEAD of the local repository."""
    if github:
        event = read_event()
        with GitHubClient(event.token, event.api_url) as client:
            diff_text = client.get_pull_diff(event.pull)
        return ReviewInput(repo, resolve_commit(repo, event.base_sha), resolve_commit(repo, event.head_sha),
                           event.title, event.description, diff_text), event
    base_sha, head_sha = resolve_commit(repo, base), resolve_commit(repo, head)
    title, description = commit_messages(repo, base_sha, head_sha)
    return ReviewInput(repo, base_sha, head_sha, title, description, range_diff(repo, base_sha, head_sha)), None


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
) -> None:
    """Review a change with DeepSeek V4: the repository at BASE is the cached prefix, the diff the question."""
    _check_choices(fmt, fail_on, request_changes, github=github, base=base)
    # Reading the input: ReviewError, ConfigError and ActionsError are usage errors (exit 2), GitHubError a
    # failure (exit 1); the entry point prints them.
    repo = repo_root(path.resolve())
    if repo is None:
        raise UsageError(f"{path.resolve()} is not inside a git repository")
    # In Actions the checked-out tree is the pull request's: its project file is never trusted there.
    config = load_config(repo, trust=False if github else None)
    if config.untrusted is not None:
        warn(escape(config.untrusted.warning(UNTRUSTED_IN_CI if github else "")))

    inp, event = _review_input(repo, github=github, base=base, head=head)
    if not inp.diff_text.strip():
        raise UsageError(f"nothing to review: no difference between {inp.base_sha[:12]} and {inp.head_sha[:12]}")

    llm = _open_engine(config, repo, {"engine": engine, "model": model, "base_url": base_url})

    stderr.print(f"reviewing {inp.head_sha[:12]} against {inp.base_sha[:12]} with {llm.settings.model}…")
    try:
        report: ReviewReport = review(inp, llm, pack=default_pack(_pack_options(config)), prime=not no_prime,
                                      price=accounting_pricer(llm, table=_price_table(config, repo), repo=repo,
                                                              session_id=f"review-{inp.head_sha[:12]}"))
    except ReviewError as exc:  # a usage error while reading the input, a failure once the review runs
        raise ReviewFailed(str(exc), hint=exc.hint) from None
    finally:  # DiffError (exit 2) and EngineError (6 if unreachable, else 1) propagate
        close = getattr(llm, "close", None)
        if callable(close):
            close()
    for message in report.warnings:
        warn(escape(message))  # they quote the model's text: never read it as markup

    if event is not None and not dry_run:
        with GitHubClient(event.token, event.api_url) as client:  # a GitHubError is a failure: exit 1
            outcome = post_review(client, event.pull, inp.head_sha, report,
                                  request_changes_at=None if request_changes == "never" else request_changes,
                                  bot_login=event.bot_login)
        for message in outcome.warnings:
            warn(escape(message))
        stderr.print(f"posted {outcome.new_comments} new comment(s) ({outcome.already_posted} already there); "
                     f"summary {'updated' if outcome.summary_updated else 'posted'}")

    text = render(report, fmt)
    if output is not None:
        try:
            write_output(output, text)
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    else:
        print(text, end="")
    if fail_on and any(at_or_above(p.finding.severity, fail_on) for p in report.placed):
        raise typer.Exit(int(ExitCode.REVIEW_FINDINGS))
