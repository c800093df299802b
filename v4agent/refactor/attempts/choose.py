"""The selection step: candidates by tests, then the judge (one call on the cached prefix) or the person, then
the chosen diff applied to the user's tree (``applydiff``: never over a person's change)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from rich.panel import Panel
from rich.prompt import Prompt
from rich.syntax import Syntax
from rich.table import Table

from v4agent.accounting import Ledger, Meter
from v4agent.agent.setup import RunSetup
from v4agent.engine.types import EngineError
from v4agent.refactor.attempts.applyrecord import apply_recorded
from v4agent.refactor.attempts.manifest import AttemptResult, GroupRecord, Selection
from v4agent.refactor.attempts.select import by_tests, candidates, judge_message, parse_verdict
from v4agent.refactor.attempts.worktrees import group_dir
from v4agent.ui.console import stderr
from v4agent.ui.visible import visible


def _diffs(run: RunSetup, record: GroupRecord, pool: Sequence[AttemptResult]) -> dict[int, str]:
    base = group_dir(run.root, record.group)
    return {a.number: (base / a.diff_file).read_text(encoding="utf-8", errors="replace") for a in pool}


def _judge(run: RunSetup, record: GroupRecord, pool: list[AttemptResult], prefix: list[dict[str, Any]],
           tools: list[dict[str, Any]]) -> Selection:
    """One call: the primed prefix, then the task and the candidates' diffs; the judge's pick and reason."""
    fallback, why = by_tests(pool)
    message = {"role": "user", "content": judge_message(record.task, pool, _diffs(run, record, pool))}
    engine = run.engine
    meter = Meter(run.table, engine=engine.name, ledger=Ledger(run.root), session_id=record.group)
    started = time.monotonic()
    try:
        reply = engine.complete([*prefix, message], tools)
    except EngineError as exc:
        return Selection(fallback, "tests", f"the judge call failed ({exc}); {why}")
    charge = meter.charge(engine.settings.model, reply.usage or _no_usage(), turn=0,
                          duration_s=time.monotonic() - started, at=reply.served_at, served_model=reply.model)
    meter.log(charge)
    verdict = parse_verdict(reply.content, [a.number for a in pool])
    if verdict.choice == 0:
        return Selection(fallback, "tests", f"the judge named no candidate; {why}", charge.cost.total_usd)
    return Selection(verdict.choice, "judge", verdict.reason or "(the judge gave no reason)", charge.cost.total_usd)


def _no_usage() -> Any:
    from v4agent.engine.types import Usage

    return Usage(0, 0)


def _ask(run: RunSetup, record: GroupRecord, pool: list[AttemptResult]) -> Selection:
    """Show the candidates side by side on the terminal and let the person pick (0: none)."""
    diffs = _diffs(run, record, pool)
    table = Table(expand=True)
    for a in pool:
        table.add_column(f"attempt {a.number} · {a.turns} turns · ${a.cost_usd:.4f}", overflow="fold")
    table.add_row(*(Syntax(visible(diffs[a.number]) or "(no change)", "diff", word_wrap=True) for a in pool))
    stderr.print(table)
    choices = [str(a.number) for a in pool] + ["0"]
    answer = Prompt.ask("apply which attempt? (0: none)", choices=choices, default=choices[0], console=stderr)
    if answer == "0":
        return Selection(0, "ask", "the person chose none")
    return Selection(int(answer), "ask", "chosen by the person")


def choose_and_apply(run: RunSetup, record: GroupRecord, prefix: list[dict[str, Any]], tools: list[dict[str, Any]],
                     select: str) -> GroupRecord:
    """Choose an attempt by ``select`` and apply its diff; the record gains the selection."""
    if record.status == "interrupted":
        return replace(record, selection=Selection(0, select, "interrupted: nothing chosen"))
    pool = candidates(record.attempts)
    if not pool:
        chosen, reason = by_tests(pool)
        return replace(record, selection=Selection(chosen, "tests", reason))
    if len(pool) == 1:
        selection = Selection(pool[0].number, "tests", f"attempt {pool[0].number} is the only one finished with "
                                                       f"a change whose tests pass")
    elif select == "tests":
        number, reason = by_tests(pool)
        selection = Selection(number, "tests", reason)
    elif select == "ask":
        stderr.print(Panel(f"{len(pool)} attempts pass their tests"))
        selection = _ask(run, record, pool)
    else:
        selection = _judge(run, record, pool, prefix, tools)
    if selection.chosen:
        result = apply_recorded(run.root, record, selection.chosen)  # undoable like any session's change
        selection = replace(selection, applied=result.applied, apply_note=result.note)
    return replace(record, selection=selection)
