"""`v4agent attempts list|show|apply`: the runs of `refactor --attempts N`, kept until pruned.

``show RUN`` lists each attempt (settings, turns, tests, cache hits, cost) and the choice; ``apply RUN N`` puts
attempt N's diff into the tree, refusing when a file it touches changed since the run started.
"""

from __future__ import annotations

from pathlib import Path

import typer

from v4agent.core.errors import ExitCode, UsageError

attempts_app = typer.Typer(help="Inspect the attempts of `refactor --attempts N` and apply another one.",
                           no_args_is_help=True)


def _root(path: Path) -> Path:
    from v4agent.core.git import repo_root

    root = repo_root(path.resolve()) if path.is_dir() else None
    if root is None:
        raise UsageError(f"{path} is not inside a git repository")
    return root


@attempts_app.command("list")
def list_runs(path: Path = typer.Option(Path("."), "--path", help="The repository.")) -> None:
    """The attempts runs kept in this repository, oldest first."""
    from v4agent.refactor.attempts.manifest import list_groups, load

    root = _root(path)
    for group in list_groups(root):
        record = load(root, group)
        print(f"{group}  {len(record.attempts)} attempts  chosen {record.selection.chosen or '-'}  "
              f"${record.total_usd:.4f}  {record.task.splitlines()[0][:60] if record.task else ''}")


@attempts_app.command("show")
def show(run: str = typer.Argument(..., help="The attempts run id."),
         path: Path = typer.Option(Path("."), "--path", help="The repository."),
         number: int | None = typer.Option(None, "--diff", help="Also print attempt N's diff."),
         as_json: bool = typer.Option(False, "--json", help="Print the run's manifest as JSON.")) -> None:
    """Each attempt of RUN, the choice and why, and (with --diff N) one attempt's diff."""
    import json

    from rich.text import Text

    from v4agent.refactor.attempts.manifest import load
    from v4agent.refactor.attempts.report import attempts_table, subagent_lines
    from v4agent.refactor.attempts.worktrees import group_dir
    from v4agent.ui.console import stdout

    root = _root(path)
    record = load(root, run)
    if as_json:
        print(json.dumps(record.to_json(), indent=2))
        return
    stdout.print(attempts_table(record))
    for line in subagent_lines(record):
        stdout.print(Text(f"  {line}"))
    sel = record.selection
    stdout.print(Text(f"chosen: attempt {sel.chosen} ({sel.method}): {sel.reason}" if sel.chosen else
                      f"nothing chosen: {sel.reason}"))
    if sel.apply_note:
        stdout.print(Text(sel.apply_note))
    if number is not None:
        diff = group_dir(root, run) / record.attempt(number).diff_file
        from v4agent.secrets.results import redact_diff

        print(redact_diff(diff.read_text(encoding="utf-8", errors="replace"))[0] if diff.is_file() else
              "(diff pruned)")


@attempts_app.command("apply")
def apply(run: str = typer.Argument(..., help="The attempts run id."),
          number: int = typer.Argument(..., help="The attempt whose diff to apply."),
          path: Path = typer.Option(Path("."), "--path", help="The repository.")) -> None:
    """Apply attempt NUMBER's diff to the tree, unless a file it touches changed since the run started."""
    from v4agent.refactor.attempts.applyrecord import apply_recorded
    from v4agent.refactor.attempts.manifest import load
    from v4agent.ui.console import error

    root = _root(path)
    record = load(root, run)
    result = apply_recorded(root, record, number)  # recorded as a session change: `v4agent undo` takes it back
    if not result.applied:
        error(result.note)
        raise typer.Exit(int(ExitCode.FAILED))
    print(f"attempt {number}: {result.note}")


@attempts_app.command("prune")
def prune(run: str = typer.Argument(..., help="The attempts run id."),
          path: Path = typer.Option(Path("."), "--path", help="The repository.")) -> None:
    """Delete RUN's manifest and diffs (its sessions stay, like any session, until `sessions prune`)."""
    import shutil

    from v4agent.refactor.attempts.manifest import load
    from v4agent.refactor.attempts.worktrees import group_dir

    root = _root(path)
    record = load(root, run)  # refuses an unknown run id before anything is deleted
    if record.status == "running":
        raise UsageError(f"attempts run {run} is still running (or was killed without a trace): not pruned",
                         hint="`v4agent attempts resume` finishes a killed run")
    shutil.rmtree(group_dir(root, run, create=False))
    print(f"pruned attempts run {run}")


@attempts_app.command("resume")
def resume(run: str = typer.Argument(..., help="The attempts run id."),
           path: Path = typer.Option(Path("."), "--path", help="The repository."),
           engine: str | None = typer.Option(None, "--engine", help="Engine preset (deepseek, vllm, ...)."),
           model: str | None = typer.Option(None, "--model", help="Model name."),
           base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible base URL."),
           approve: str | None = typer.Option(None, "--approve", help="Approval policy: ask, edits, yes."),
           yes: bool = typer.Option(False, "--yes", "-y", help="Short for --approve yes."),
           test_cmd: str | None = typer.Option(None, "--test-cmd", help="The project's test command."),
           parallel: int | None = typer.Option(None, "--parallel", help="How many attempts run at once."),
           select: str = typer.Option("judge", "--select", help="tests, judge or ask."),
           keep_worktrees: bool = typer.Option(False, "--keep-worktrees", help="Keep the worktrees."),
           as_json: bool = typer.Option(False, "--json", help="Print the final report as JSON.")) -> None:
    """Continue an interrupted run: each unfinished attempt where it stopped, then the selection."""
    from v4agent.refactor.attempts.group import AttemptsRequest
    from v4agent.refactor.attempts.resume import resume_attempts
    from v4agent.refactor.request import RefactorRequest

    request = RefactorRequest(path=path, engine=engine, model=model, base_url=base_url, approve=approve, yes=yes,
                              test_cmd=test_cmd, as_json=as_json)
    resume_attempts(request, run, AttemptsRequest(0, parallel, (), select, keep_worktrees))


def register(app: typer.Typer) -> None:
    """Add the ``attempts`` command group to ``app``."""
    app.add_typer(attempts_app, name="attempts")
