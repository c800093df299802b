"""`v4agent refactor [PATH] "task"`: the command's signature. The run itself (packer, engine client, agent loop)
is imported only when the command runs, so the CLI starts fast."""

from __future__ import annotations

from pathlib import Path

import typer

from v4agent.cli.options import parse_budget, parse_max_cost, resume_id

# `--format` choices; `--json` is an alias of `--format json`.
FORMATS = ("text", "json", "stream-json")


def refactor(
    path: Path = typer.Argument(Path("."), help="The repository to work on (default: .)."),
    task: str = typer.Argument("", help="What to do, in plain words (optional with --resume)."),
    engine: str | None = typer.Option(None, "--engine", help="Engine preset (deepseek, vllm, ...)."),
    model: str | None = typer.Option(None, "--model", help="Model name."),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible base URL."),
    think: str | None = typer.Option(None, "--think", help="Thinking effort: off, low, high, max."),
    max_turns: int | None = typer.Option(None, "--max-turns", help="Stop after this many model calls."),
    max_cost: str | None = typer.Option(
        None, "--max-cost", help="Stop before spending more than this many USD (default: the max_cost setting, "
        "$1.00), or 'none'."
    ),
    approve: str | None = typer.Option(None, "--approve", help="Approval policy: ask, edits, yes."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Short for --approve yes."),
    test_cmd: str | None = typer.Option(None, "--test-cmd", help="The project's test command."),
    allow_dirty: bool = typer.Option(False, "--allow-dirty", help="Work on a tree with uncommitted changes."),
    branch: str | None = typer.Option(None, "--branch", help="Work on a new branch of this name."),
    as_json: bool = typer.Option(False, "--json", help="Short for --format json."),
    resume: str | None = typer.Option(None, "--resume", metavar="[ID]",
                                      help="Continue a session: the one with this id, or with no id the latest."),
    budget: str | None = typer.Option(None, "--budget", help="Token budget of the packed repository (600k, 1m), "
                                      "or 'none' for the model's window less a reserve (the default)."),
    prime: str = typer.Option(
        "auto",
        "--prime",
        help="Priming call that caches the pack for later sessions: "
        "auto (when it pays for itself), always, never.",
    ),
    no_prime: bool = typer.Option(False, "--no-prime", help="Short for --prime never."),
    network: bool = typer.Option(False, "--network",
                                 help="Let commands reach the network (the sandbox blocks it by default)."),
    commit: bool = typer.Option(False, "--commit", help="Commit each turn that changed files (message made from "
                                "the turn); `v4agent undo` reverts the commits."),
    commit_end: bool = typer.Option(False, "--commit-end", help="Commit once, at the end, everything the run "
                                    "changed."),
    command: str | None = typer.Option(None, "--command", help="Run the custom command NAME (.v4agent/commands/"
                                       "NAME.md when trusted, or <config>/commands/NAME.md); TASK is its $ARGUMENTS."),
    plan: bool = typer.Option(False, "--plan", help="Plan mode: read-only tools; print the model's plan and stop."),
    plan_then_act: bool = typer.Option(False, "--plan-then-act", help="Plan first (read-only), then carry out the "
                                       "plan (accepted, edited or discarded on a terminal)."),
    output_format: str | None = typer.Option(None, "--format", "--output-format",
                                             help="Output: text (default), json (same as --json) or stream-json "
                                             "(one JSON object per line; docs/stream-json.md)."),
    attempts: int = typer.Option(1, "--attempts", help="Best of N: N attempts in parallel worktrees, all from one "
                                 "primed pack; one is chosen (--select) and applied."),
    parallel: int | None = typer.Option(None, "--parallel", help="With --attempts: how many run at once "
                                        "(default: the engine's concurrency limit)."),
    strategies: str | None = typer.Option(None, "--strategies", help='With --attempts: a short hint per attempt, '
                                          '"a;b;c".'),
    select: str = typer.Option("judge", "--select", help="With --attempts: tests, judge or ask."),
    keep_worktrees: bool = typer.Option(False, "--keep-worktrees", help="With --attempts: keep the worktrees."),
    when: str = typer.Option("now", "--when", help="now, or off-peak: quote the first request at both prices "
                             "and hold the job until the price table's next off-peak window (`v4agent queue`)."),
) -> None:
    """Let the model carry out TASK on the repository at PATH, with tools, tests and a cost report."""
    from v4agent.cli.options import output_format as pick_format
    from v4agent.cli.preflight import check_engine_settings
    from v4agent.core.errors import UsageError
    from v4agent.refactor.request import RefactorRequest
    from v4agent.refactor.run import run_refactor

    if commit and commit_end:
        raise UsageError("--commit and --commit-end: pick one (a commit per turn, or one at the end)")
    chosen = pick_format(output_format, as_json, FORMATS, "text")
    if plan and plan_then_act:
        raise UsageError("--plan and --plan-then-act: pick one (--plan stops at the plan)")
    session = resume_id(resume)
    if session is not None and (command or plan or plan_then_act):
        raise UsageError("--command, --plan and --plan-then-act start a new session; with --resume give the "
                         "next instruction as TASK")
    if not task and session is None and not path.is_dir():
        raise UsageError(f"{str(path)!r} is not a directory", hint=f"to run it as a task in this repository: "
                         f"v4agent refactor . {str(path)!r}")
    from v4agent.cli.commands.offpeak import check_when, hold_off_peak

    if check_when(when):
        if session is not None:
            raise UsageError("--when off-peak holds a new session; resume a session now, without --when")
        hold_off_peak("refactor", path, task=task, budget=parse_budget(budget).tokens,
                      flags={"engine": engine, "model": model, "base_url": base_url, "think": think})
        return
    request = RefactorRequest(
        path=path, task=task, engine=engine, model=model, base_url=base_url, think=think, max_turns=max_turns,
        max_cost=parse_max_cost(max_cost), approve=approve, yes=yes, test_cmd=test_cmd, allow_dirty=allow_dirty,
        branch=branch, as_json=chosen == "json", resume=session, budget=parse_budget(budget).tokens,
        prime="never" if no_prime else prime, network=network,
        commit="turn" if commit else "end" if commit_end else None,
        command=command, plan=plan, plan_then_act=plan_then_act, stream=chosen == "stream-json",
    )
    check_engine_settings(path, request.config_flags())  # a bad setting is a usage error before any work
    if attempts != 1 or parallel is not None or strategies is not None:
        from v4agent.refactor.attempts.group import AttemptsRequest, run_attempts
        from v4agent.refactor.attempts.plan import parse_strategies

        run_attempts(request, AttemptsRequest(attempts, parallel, tuple(parse_strategies(strategies)), select,
                                              keep_worktrees))
        return
    run_refactor(request)


def register(app: typer.Typer) -> None:
    """Add the ``refactor`` command to ``app``."""
    app.command("refactor")(refactor)
