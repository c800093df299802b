"""A refactor session's run, from the priming call to the report: the loop with its checkpoints and commits,
the final test run, the exit status, and the report (text, JSON or the stream's last line).

Split from ``run.py``, which sets a session up (new or resumed) and hands it here.
"""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.markup import escape

from v4agent.agent.checkpoint import TurnRecorder
from v4agent.agent.events import Event
from v4agent.agent.loop import Agent, Outcome
from v4agent.agent.sessions.records import EndRecord
from v4agent.agent.sessions.store import SessionWriter
from v4agent.agent.setup import RunSetup
from v4agent.agent.streamjson import StreamWriter
from v4agent.core.errors import ExitCode, Interrupted
from v4agent.core.git import GitError
from v4agent.core.gitstart import GitStart, diff_since
from v4agent.core.signals import Terminated
from v4agent.engine.types import EngineError
from v4agent.extend.planmode import ModeGate
from v4agent.refactor.commits import Committer
from v4agent.refactor.extensions import carry_out_plan
from v4agent.refactor.progress import RefactorProgress, render_report, report_json
from v4agent.refactor.request import RefactorRequest
from v4agent.refactor.unbilled import drop_unbilled
from v4agent.sandbox import is_contained, sandbox_label
from v4agent.secrets.results import redact_diff, redact_output
from v4agent.tools.approval import ApprovalRequest, gate_command
from v4agent.tools.registry import ToolContext
from v4agent.tools.testrun import detect_test_command, run_test_command
from v4agent.ui.console import stderr, warn

__all__ = ["TESTS_FAILING", "drive"]


TESTS_FAILING = "tests failing"  # the end reason of a finished session whose tests fail


def _final_tests(ctx: ToolContext, outcome: Outcome) -> dict[str, Any]:
    """Whether the project's tests pass at the end; rerun only when the loop's last run is stale.

    The run goes through the same gate as the model's ``run_tests``: in the sandbox it needs no approval.
    """
    if outcome.tests_ok is not None:
        return {"status": "pass" if outcome.tests_ok else "fail", "command": ctx.test_cmd or "", "ran": "by the model"}
    command = ctx.test_cmd or detect_test_command(ctx.repo_root)
    if command is None:
        return {"status": "none", "command": "", "ran": "no test command detected"}
    allowed, reason = gate_command(ctx.approve, ApprovalRequest("shell", "tests", command), ctx.ask, ctx.always,
                                   contained=is_contained(ctx.sandbox), project_tests=True)
    if not allowed:
        stderr.print(f"the tests were not run: {reason}", markup=False, highlight=False)
        return {"status": "not run", "command": command, "ran": reason}
    stderr.print(f"running the tests: {command}", markup=False, highlight=False)
    run = run_test_command(ctx.repo_root, command, timeout_s=600, sandbox=ctx.sandbox)
    if run.note:
        stderr.print(f"the tests {run.note}", markup=False, highlight=False)
    return {"status": "pass" if run.passed else "fail", "command": command,
            "ran": f"at the end, {run.note}" if run.note else "at the end",
            "output_tail": redact_output(run.output)[0][-2000:]}


def _exit_code(outcome: Outcome, tests: dict[str, Any]) -> ExitCode:
    if outcome.status == "interrupted":
        return ExitCode.INTERRUPTED
    if outcome.status == "limit":
        return ExitCode.LIMIT_REACHED
    if outcome.status == "failed":
        return ExitCode.ENGINE_UNREACHABLE if outcome.engine_unreachable else ExitCode.FAILED
    return ExitCode.TESTS_FAILING if tests["status"] == "fail" else ExitCode.OK


def drive(run: RunSetup, request: RefactorRequest, agent: Agent, writer: SessionWriter, git: GitStart,
           prime: bool, ctx: ToolContext, stream: StreamWriter | None = None) -> None:
    """Run the session (after its priming call when ``prime``), then report; ends with ``typer.Exit``."""
    try:
        _drive_inner(run, request, agent, writer, git, prime, ctx, stream)
    except KeyboardInterrupt:  # after the loop (final tests, report): the session is already saved
        raise Interrupted(f"interrupted; the session is saved: --resume {writer.session_id}") from None


def _checkpointing(run: RunSetup, request: RefactorRequest, agent: Agent, writer: SessionWriter,
                   progress: RefactorProgress, stream: StreamWriter | None) -> tuple[TurnRecorder, Committer | None]:
    """Each turn's files recorded for undo (and committed with --commit), then the progress view."""
    def say(line: str) -> None:
        stderr.print(line, markup=False, highlight=False)

    def warned(line: str) -> None:
        warn(escape(line))

    committer = Committer(run.root, writer, request.commit, request.task, say, warned) if request.commit else None
    recorder = TurnRecorder(run.root, writer, warn=warned, on_checkpoint=committer.checkpoint if committer else None)

    def observe(event: Event) -> None:
        recorder.observe(event)
        if committer is not None:
            committer.observe(event)
        progress(event)
        if stream is not None:
            stream(event)

    agent.observer = observe
    return recorder, committer


def _drive_inner(run: RunSetup, request: RefactorRequest, agent: Agent, writer: SessionWriter, git: GitStart,
                 prime: bool, ctx: ToolContext, stream: StreamWriter | None) -> None:
    as_json = request.as_json
    gate = agent.run_tool if isinstance(agent.run_tool, ModeGate) else None
    plan = ""
    with RefactorProgress(stderr, sandbox=sandbox_label(ctx.sandbox)) as progress:
        recorder, committer = _checkpointing(run, request, agent, writer, progress, stream)
        if prime:
            try:
                agent.prime()
            except KeyboardInterrupt as exc:
                by = f" ({exc.signame})" if isinstance(exc, Terminated) else ""
                writer.write(EndRecord("interrupted", f"interrupted while priming{by}", ""))
                raise Interrupted(f"interrupted; resume with --resume {writer.session_id}") from None
            except EngineError as exc:  # recorded, then reported by the entry point: 6 if unreachable, else 1
                writer.write(EndRecord("failed", str(exc), ""))
                raise
        outcome = agent.run()
        if gate is not None and gate.plan:
            outcome, plan = carry_out_plan(agent, gate, outcome, act=request.plan_then_act)
        recorder.end_turn()
        if committer is not None:
            committer.finish(recorder)
    plan_only = bool(plan) and not request.plan_then_act
    tests = _final_tests(ctx, outcome) if outcome.status == "finished" and not plan_only else {
        "status": "not run", "command": "",
        "ran": "plan mode: nothing changed" if plan_only else f"the run stopped: {outcome.status}"}
    code = _exit_code(outcome, tests)
    if outcome.status == "finished" and tests["status"] == "fail":  # `v4agent sessions`: finished (tests failing)
        writer.write(EndRecord("finished", TESTS_FAILING, outcome.summary))
    try:
        diff = redact_diff(diff_since(run.root, git.tree))[0]  # stdout is often a CI log: no secret goes there
    except GitError as exc:
        diff = f"(diff unavailable: {exc})"
    from v4agent.agent.sessions.store import read_session

    session = read_session(writer.path)
    # the first call failed (a refused key, a 500, no connection): nothing billed, so no session is kept
    kept = not (outcome.status == "failed" and drop_unbilled(run.root, writer.path, git))
    extra = {"plan": plan} if plan else {}
    if stream is not None:
        stream.end({**report_json(session, outcome, tests, diff, int(code), kept=kept), **extra})
    elif as_json and extra:
        print(json.dumps({**report_json(session, outcome, tests, diff, int(code), kept=kept), **extra}, indent=2))
    else:
        render_report(session, outcome, tests, diff, int(code), as_json=as_json, kept=kept)
    raise typer.Exit(code)


