"""The best-of-N report: per attempt its turns, tests, cache-hit ratio and cost, the choice and why, and the
total beside what one attempt cost; text on stdout, or one JSON document with --json."""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table
from rich.text import Text

from v4agent.agent.subagent_rows import subagent_line
from v4agent.core.errors import ExitCode
from v4agent.refactor.attempts.manifest import GroupRecord
from v4agent.refactor.attempts.stream import AttemptStream
from v4agent.refactor.attempts.worktrees import group_dir
from v4agent.secrets.results import redact_diff
from v4agent.ui.console import stdout
from v4agent.ui.visible import visible


def exit_code(record: GroupRecord) -> ExitCode:
    """OK when a chosen diff went in; tests failing when no attempt passed; failed otherwise."""
    sel = record.selection
    if sel.chosen and sel.applied:
        return ExitCode.OK
    if not sel.chosen and any(a.tests == "fail" for a in record.attempts):
        return ExitCode.TESTS_FAILING
    return ExitCode.FAILED


def attempts_table(record: GroupRecord) -> Table:
    """One row per attempt."""
    table = Table(title=f"attempts run {record.group}")
    for name in ("#", "temperature", "strategy", "status", "turns", "tests", "cache hit", "first call hit",
                 "cost"):
        table.add_column(name, justify="right" if name in ("turns", "cost", "cache hit", "first call hit") else "left")
    for a in record.attempts:
        ratio = "-" if a.hit_ratio is None else f"{100 * a.hit_ratio:.1f}%"
        first = f"{100 * a.first_hit_tokens / a.first_prompt_tokens:.1f}%" if a.first_prompt_tokens else "-"
        mark = "✓ " if a.number == record.selection.chosen else ""
        table.add_row(f"{mark}{a.number}", "default" if a.temperature is None else f"{a.temperature:g}",
                      a.strategy or "-", a.status, str(a.turns), a.tests, ratio, first, f"${a.cost_usd:.4f}")
    return table


def report_json(record: GroupRecord, diff: str) -> dict[str, object]:
    """The JSON report: the manifest, the exit code and the applied diff."""
    return {**record.to_json(), "exit_code": int(exit_code(record)), "diff": diff}


def subagent_lines(record: GroupRecord) -> list[str]:
    """Each attempt's subagents, one line each under the turn that spawned it (control characters escaped)."""
    lines: list[str] = []
    for a in record.attempts:
        lines.extend(visible(f"attempt {a.number}, {subagent_line(row)}") for row in a.subagents)
    return lines


def print_report(root: Path, record: GroupRecord, *, as_json: bool, stream: AttemptStream | None = None) -> None:
    """Print the report (or the stream's last line) and end the command with its exit status."""
    import typer

    sel = record.selection
    chosen_diff = ""
    if sel.chosen:
        path = group_dir(root, record.group) / record.attempt(sel.chosen).diff_file
        # stdout is often a CI log: no secret goes there (the diff file itself stays whole, like a session)
        chosen_diff = redact_diff(path.read_text(encoding="utf-8", errors="replace"))[0] if path.is_file() else ""
    code = exit_code(record)
    if stream is not None:
        stream.end(report_json(record, chosen_diff))
        raise typer.Exit(int(code))
    if as_json:
        print(json.dumps(report_json(record, chosen_diff), indent=2))
        raise typer.Exit(int(code))
    stdout.print(attempts_table(record))
    for line in subagent_lines(record):
        stdout.print(Text(f"  {line}"))
    if sel.chosen:
        stdout.print(Text(f"chosen: attempt {sel.chosen} ({sel.method}): {sel.reason}"))
        stdout.print(Text(f"applied: {sel.apply_note}" if sel.applied else sel.apply_note,
                          style="green" if sel.applied else "bold red"))
    else:
        stdout.print(Text(f"nothing chosen: {sel.reason}", style="yellow"))
    one = record.one_attempt_usd()
    ratio = f" ({record.total_usd / one:.2f}x)" if one else ""
    stdout.print(Text(f"cost: ${record.total_usd:.4f} in all{ratio} — priming ${record.prime_cost_usd:.4f}, "
                      f"judge ${sel.cost_usd:.4f}; one attempt alone: ${one:.4f}"))
    stdout.print(Text(f"inspect: v4agent attempts show {record.group} · v4agent attempts apply {record.group} N",
                      style="dim"))
    raise typer.Exit(int(code))
