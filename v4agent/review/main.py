"""The body of `v4agent review`: review a change locally, or a pull request from GitHub Actions and post the result."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from v4agent.core.config import Config, ConfigError, load_config
from v4agent.core.errors import ExitCode
from v4agent.core.fsutil import write_output
from v4agent.engine.types import EngineError, EngineUnreachable
from v4agent.review.actions import ActionsError, read_event
from v4agent.review.findings import SEVERITIES, at_or_above
from v4agent.review.github import GitHubClient, GitHubError
from v4agent.review.hunks import DiffError
from v4agent.review.render import render
from v4agent.review.report import ReviewReport
from v4agent.review.run import (
    ReviewError,
    ReviewInput,
    accounting_pricer,
    commit_messages,
    default_pack,
    git_diff,
    post_review,
    repo_root_of,
    resolve_commit,
    review,
)
from v4agent.ui.console import error, stderr, warn

if TYPE_CHECKING:
    from v4agent.accounting import PriceTable
    from v4agent.pack import PackOptions

_FORMATS = ("markdown", "json", "sarif")


def _fail(message: str, code: ExitCode) -> typer.Exit:
    error(message)
    return typer.Exit(int(code))


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
    if fmt not in _FORMATS:
        raise _fail(f"--format must be one of {', '.join(_FORMATS)}, got {fmt!r}", ExitCode.USAGE)
    for name, value, extra in (("--fail-on", fail_on, ()), ("--request-changes-on", request_changes, ("never",))):
        if value and value not in (*SEVERITIES, *extra):
            raise _fail(f"{name} must be one of {', '.join((*SEVERITIES, *extra))}, got {value!r}", ExitCode.USAGE)
    if not github and not base:
        raise _fail("--base REF is required (or --github inside a GitHub Actions run)", ExitCode.USAGE)
    try:
        repo = repo_root_of(path.resolve())
        config = load_config(repo)
    except (ReviewError, ConfigError) as exc:
        raise _fail(str(exc), ExitCode.USAGE) from None

    event = None
    try:
        if github:
            event = read_event()
            with GitHubClient(event.token, event.api_url) as client:
                diff_text = client.get_pull_diff(event.pull)
            inp = ReviewInput(repo, resolve_commit(repo, event.base_sha), resolve_commit(repo, event.head_sha),
                              event.title, event.description, diff_text)
        else:
            base_sha, head_sha = resolve_commit(repo, base), resolve_commit(repo, head)
            title, description = commit_messages(repo, base_sha, head_sha)
            inp = ReviewInput(repo, base_sha, head_sha, title, description, git_diff(repo, base_sha, head_sha))
    except (ActionsError, ReviewError) as exc:
        raise _fail(str(exc), ExitCode.USAGE) from None
    except GitHubError as exc:
        raise _fail(str(exc), ExitCode.FAILED) from None
    if not inp.diff_text.strip():
        raise _fail(f"nothing to review: no difference between {inp.base_sha[:12]} and {inp.head_sha[:12]}",
                    ExitCode.USAGE)

    try:
        from v4agent.agent.engine_choice import open_model_engine

        llm = open_model_engine(config, repo, overrides={"engine": engine, "model": model, "base_url": base_url})
    except EngineError as exc:
        code = ExitCode.ENGINE_UNREACHABLE if isinstance(exc, EngineUnreachable) else ExitCode.USAGE
        raise _fail(f"{exc}" + (f" ({exc.hint})" if exc.hint else ""), code) from None

    stderr.print(f"reviewing {inp.head_sha[:12]} against {inp.base_sha[:12]} with {llm.settings.model}…")
    try:
        report: ReviewReport = review(inp, llm, pack=default_pack(_pack_options(config)), prime=not no_prime,
                                      price=accounting_pricer(llm, table=_price_table(config, repo), repo=repo,
                                                              session_id=f"review-{inp.head_sha[:12]}"))
    except DiffError as exc:
        raise _fail(str(exc), ExitCode.USAGE) from None
    except ReviewError as exc:
        raise _fail(str(exc), ExitCode.FAILED) from None
    except EngineError as exc:
        code = ExitCode.ENGINE_UNREACHABLE if isinstance(exc, EngineUnreachable) else ExitCode.FAILED
        raise _fail(f"{exc}" + (f" ({exc.hint})" if exc.hint else ""), code) from None
    finally:
        close = getattr(llm, "close", None)
        if callable(close):
            close()
    for message in report.warnings:
        warn(message)

    if event is not None and not dry_run:
        try:
            with GitHubClient(event.token, event.api_url) as client:
                outcome = post_review(client, event.pull, inp.head_sha, report,
                                      request_changes_at=None if request_changes == "never" else request_changes)
        except GitHubError as exc:
            raise _fail(str(exc), ExitCode.FAILED) from None
        for message in outcome.warnings:
            warn(message)
        stderr.print(f"posted {outcome.new_comments} new comment(s) ({outcome.already_posted} already there); "
                     f"summary {'updated' if outcome.summary_updated else 'posted'}")

    text = render(report, fmt)
    if output is not None:
        try:
            write_output(output, text)
        except OSError as exc:
            raise _fail(f"cannot write {output}: {exc.strerror or exc}", ExitCode.USAGE) from None
    else:
        print(text, end="")
    if fail_on and any(at_or_above(p.finding.severity, fail_on) for p in report.placed):
        raise typer.Exit(int(ExitCode.REVIEW_FINDINGS))
