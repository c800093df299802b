"""`v4agent review`: the command's signature; the review itself is imported when the command runs."""

from __future__ import annotations

from pathlib import Path

import typer

FORMATS = ("markdown", "json", "sarif")  # `--json` is short for `--format json`


def review_command(
    path: Path = typer.Argument(Path("."), help="A directory inside the git repository to review."),
    base: str = typer.Option("", "--base", help="Base revision (the branch the change goes into)."),
    head: str = typer.Option("HEAD", "--head", help="Head revision of the change."),
    github: bool = typer.Option(
        False, "--github", help="Review the pull request of this GitHub Actions run and post."
    ),
    fmt: str | None = typer.Option(None, "--format", help="Output format: " + ", ".join(FORMATS) + " (default markdown)."),
    as_json: bool = typer.Option(False, "--json", help="Short for --format json."),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Write the report to FILE instead of stdout."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="With --github: post nothing."),
    fail_on: str = typer.Option("", "--fail-on", help="Exit 7 when a finding is at or above this severity."),
    request_changes: str = typer.Option(
        "high",
        "--request-changes-on",
        help="Post REQUEST_CHANGES when a new finding reaches this severity ('never' to always COMMENT).",
    ),
    prime: bool = typer.Option(
        True, "--prime/--no-prime", help="Send the priming call that caches the packed base (--no-prime skips it)."
    ),
    samples: int = typer.Option(
        1, "--samples", help="Run K review samples on the cached prefix (consensus; each is billed)."
    ),
    agree: int = typer.Option(1, "--agree", help="Post the findings at least M of the samples report."),
    full: bool = typer.Option(
        False, "--full", help="With --github: review the whole pull request, not only what changed since the last review."
    ),
    engine: str | None = typer.Option(None, "--engine", help="Engine preset."),
    model: str | None = typer.Option(None, "--model", help="Model name."),
    base_url: str | None = typer.Option(
        None, "--base-url", help="Base URL of an OpenAI-compatible endpoint."
    ),
    when: str = typer.Option("now", "--when", help="now, or off-peak: quote the first request at both prices "
                             "and hold the review until the next off-peak window (`v4agent queue`)."),
) -> None:
    """Review a change with DeepSeek V4: the repository at BASE is the cached prefix, the diff the question."""
    from v4agent.cli.commands.offpeak import check_when, hold_off_peak
    from v4agent.cli.options import output_format
    from v4agent.review.main import run_review

    if check_when(when):
        hold_off_peak("review", path, task=f"review {base or 'the base'}..{head}",
                      flags={"engine": engine, "model": model, "base_url": base_url})
        return
    run_review(
        path,
        base=base,
        head=head,
        github=github,
        fmt=output_format(fmt, as_json, FORMATS, "markdown"),
        output=output,
        dry_run=dry_run,
        fail_on=fail_on,
        request_changes=request_changes,
        no_prime=not prime,
        engine=engine,
        model=model,
        base_url=base_url,
        samples=samples,
        agree=agree,
        full=full,
    )


def register(app: typer.Typer) -> None:
    """Add the ``review`` command to ``app``."""
    app.command("review")(review_command)
