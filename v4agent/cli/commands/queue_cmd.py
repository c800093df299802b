"""`v4agent queue list|run|cancel`: the jobs `--when off-peak` held, kept in the user's state directory.

`queue run` starts every held job whose off-peak window has begun, one after another, as the recorded
command line in its recorded directory, and records each one's exit status. Run it from a timer, e.g.
cron: ``*/15 * * * * v4agent queue run`` (docs/queue.md has a systemd timer too).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.markup import escape

queue_app = typer.Typer(help="Jobs held for the off-peak window (refactor/review --when off-peak).",
                        no_args_is_help=True)


def _now(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"expected a time such as 2026-09-01T18:00, got {text!r}",
                                 param_hint="--now") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@queue_app.command("list")
def list_jobs(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List held, running and finished jobs."""
    from v4agent.core.jobqueue import JobQueue
    from v4agent.ui.console import stdout
    from v4agent.ui.tables import report_table

    jobs = JobQueue().jobs()
    if as_json:
        print(json.dumps([{**json.loads(job.to_json()), "state": job.state} for job in jobs], indent=2))
        return
    if not jobs:
        stdout.print("No held jobs.")
        return
    grid = report_table("held jobs", ("id", "state", "starts (UTC)", "quote peak / off-peak", "command"))
    for job in jobs:
        quote = job.quote
        price = (f"${float(quote.get('peak_usd', 0)):.4f} / ${float(quote.get('offpeak_usd', 0)):.4f}"
                 if quote else "-")
        state = job.state if job.exit_code is None else f"{job.state} ({job.exit_code})"
        grid.add_row(job.id, state, f"{job.due_at:%Y-%m-%d %H:%M}", price,
                     escape(" ".join([job.command, *job.argv[1:]])))
    stdout.print(grid)


@queue_app.command("cancel")
def cancel(job_id: str = typer.Argument(..., help="The job's id (or a unique prefix).")) -> None:
    """Drop a held job."""
    from v4agent.core.jobqueue import JobQueue
    from v4agent.ui.console import stdout

    job = JobQueue().cancel(job_id)
    stdout.print(f"cancelled {job.id}", highlight=False)


@queue_app.command("run")
def run(now_text: str | None = typer.Option(None, "--now", hidden=True, help="Pretend it is this time (UTC)."),
        ) -> None:
    """Start every held job whose off-peak window has begun (for cron or a systemd timer)."""
    from v4agent.core.jobqueue import JobQueue
    from v4agent.ui.console import stdout, warn

    queue = JobQueue()
    now = _now(now_text)
    due = queue.due(now)
    if not due:
        stdout.print("No job is due.")
        return
    failed = 0
    for job in due:
        if not queue.claim(job):
            continue  # another runner took it, or it was cancelled meanwhile
        cwd = Path(job.cwd) if Path(job.cwd).is_dir() else Path(job.repo)
        stdout.print(escape(f"starting {job.id}: v4agent {' '.join(job.argv)}"), highlight=False)
        try:
            code = subprocess.run([sys.executable, "-m", "v4agent", *job.argv], cwd=cwd, check=False).returncode
        except OSError as exc:
            warn(escape(f"{job.id} could not start: {exc}"))
            code = 1
        queue.finish(job, code)
        failed += code != 0
        stdout.print(f"{job.id} ended with exit status {code}", highlight=False)
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``queue`` group to ``app``."""
    app.add_typer(queue_app, name="queue")
