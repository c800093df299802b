"""What refactor takes from the extensions: instruction files, a custom command's task, plan mode, stream-json.

Kept beside ``run.py`` so the run itself only calls these steps: each one is small and says what it adds.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.prompt import Prompt

from v4agent.agent.loop import Agent, Outcome
from v4agent.agent.setup import RunSetup
from v4agent.agent.streamjson import StreamWriter
from v4agent.extend import repository_trusted
from v4agent.extend.commands import expand, load_commands
from v4agent.extend.instructions import Instructions, instruction_rows, load_instructions
from v4agent.extend.planmode import PLAN_ON_NOTE, ModeGate, accepted_plan_message
from v4agent.refactor.request import RefactorRequest
from v4agent.tokens.tokenizer import get_tokenizer
from v4agent.ui.console import stderr

__all__ = ["RefactorExtensions", "carry_out_plan", "open_extensions", "open_stream", "start_plan"]


@dataclass(frozen=True)
class RefactorExtensions:
    """The session's instructions, its task (a custom command expanded), and whether it plans first."""

    instructions: Instructions
    task: str
    plan: bool


def open_extensions(request: RefactorRequest, root: Path, warn: Callable[[str], None]) -> RefactorExtensions:
    """Load the instruction files once and expand ``--command``; notes about skipped files go to ``warn``."""
    trusted = repository_trusted(root)
    instructions = load_instructions(root, trusted=trusted)
    for line in instructions.skipped:
        warn(f"instruction file skipped: {line}")
    task = request.task
    if request.command:
        commands = load_commands(root, trusted=trusted)
        for line in commands.notes:
            warn(line)
        task = expand(commands.require(request.command), request.task)
    return RefactorExtensions(instructions, task, request.plan or request.plan_then_act)


def start_plan(agent: Agent) -> None:
    """Switch plan mode on and announce it in an appended message (the prefix before it stays as sent)."""
    gate = agent.run_tool
    if not isinstance(gate, ModeGate):
        raise TypeError("plan mode needs the session's tool runner to be a ModeGate")
    gate.plan = True
    agent.append({"role": "user", "content": PLAN_ON_NOTE})
    stderr.print("plan mode: read-only tools until the plan is ready", style="dim")


def _review_plan(plan: str) -> str | None:
    """On a terminal: accept, edit (in $EDITOR) or discard the plan; from a pipe it is accepted as it is."""
    if not sys.stdin.isatty():
        return plan
    stderr.print("the plan:", style="bold")
    stderr.print(plan, markup=False, highlight=False)
    answer = Prompt.ask("carry it out?", choices=["accept", "edit", "discard"], default="accept", console=stderr)
    if answer == "discard":
        return None
    if answer == "edit":
        edited = click.edit(plan)
        return plan if edited is None else edited
    return plan


def carry_out_plan(agent: Agent, gate: ModeGate, outcome: Outcome, *, act: bool) -> tuple[Outcome, str]:
    """After the planning run: the plan, and with --plan-then-act the run that carries it out (plan mode off)."""
    plan = outcome.summary
    if outcome.status != "finished" or not act:
        return outcome, plan
    reviewed = _review_plan(plan)
    if reviewed is None:
        return Outcome("finished", "the plan was discarded", plan, outcome.turns, outcome.spent_usd), plan
    gate.plan = False
    agent.append({"role": "user", "content": accepted_plan_message(reviewed)})
    return agent.run(), reviewed


def open_stream(request: RefactorRequest, run: RunSetup, sid: str, instructions: Instructions | None,
                  system_text: str, pack: dict[str, Any], *, resumed: bool,
                  extra: dict[str, Any] | None = None) -> StreamWriter | None:
    """With --format stream-json: the writer, after its first line (the session, settings, pack, instructions)."""
    if not request.stream:
        return None
    s = run.engine.settings
    stream = StreamWriter(sys.stdout)
    settings = {"engine": run.engine.name, "model": s.model, "think": s.think, "max_tokens": s.max_tokens,
                "approve": run.config.get("approve"), "max_turns": run.config.get("max_turns"),
                "max_cost": run.config.get("max_cost")}
    mode = "plan-then-act" if request.plan_then_act else "plan" if request.plan else "act"
    rows = instruction_rows(instructions, system_text, get_tokenizer("deepseek-v4").count)
    stream.start(session_id=sid, front="refactor", settings=settings, pack=pack, instructions=rows, mode=mode,
                 resumed=resumed, extra=extra)
    return stream
