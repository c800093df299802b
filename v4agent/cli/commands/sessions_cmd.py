"""`v4agent sessions`: list the agent sessions of a repository; `sessions show ID`: the per-call cache table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from v4agent.core.errors import ExitCode
from v4agent.ui.console import error, stdout, warn

if TYPE_CHECKING:
    from v4agent.agent.sessions.store import SessionData

# The session module and rich's tables load inside the commands: every v4agent command imports this module to
# register `sessions`, and most never run it.

sessions_app = typer.Typer(help="List agent sessions and show their per-call cache diagnostics.",
                           invoke_without_command=True)


def _root(path: Path) -> Path:
    if not path.is_dir():
        error(f"{path} is not a directory")
        raise typer.Exit(ExitCode.USAGE)
    return path.resolve()


def _status(s: SessionData) -> str:
    """The session's status; a refactor that finished with its tests failing says so."""
    failing = s.status == "finished" and bool(s.ends) and s.ends[-1].reason == "tests failing"
    return "finished (tests failing)" if failing else s.status


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _summary_json(s: SessionData) -> dict[str, Any]:
    return {"id": s.session_id, "task": s.task, "status": s.status, "turns": s.turns, "cost_usd": s.cost_usd,
            "saved_usd": s.saved_usd, "hit_ratio": s.hit_ratio, "model": s.start.model,
            "tests_failing": _status(s) == "finished (tests failing)",
            "started": s.start.ts, "undone": s.undone, "unreadable_lines": s.unreadable_lines}


@sessions_app.callback()
def sessions(
    ctx: typer.Context,
    path: Path = typer.Option(Path("."), "--path", "-C", help="The repository (`v4agent sessions DIR` also works)."),
    fmt: str | None = typer.Option(None, "--format", help="text (default) or json."),
    as_json: bool = typer.Option(False, "--json", help="Short for --format json."),
) -> None:
    """List sessions: task, status, turns, cost and cache-hit ratio (latest last)."""
    from v4agent.agent.sessions.store import list_sessions
    from v4agent.cli.options import output_format
    from v4agent.ui.tables import report_table

    as_json = output_format(fmt, as_json, ("text", "json"), "text") == "json"
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"path": path, "json": as_json}
        return
    found = list_sessions(_root(path))
    if as_json:
        print(json.dumps([_summary_json(s) for s in found], indent=2))
        return
    if not found:
        stdout.print("no sessions yet")
        return
    table = report_table("sessions", ("id", "task", "status", "turns", "$", "cache hit"),
                         numeric=("turns", "$", "cache hit"), whole=("id",))
    for s in found:
        task = s.task if len(s.task) <= 60 else s.task[:59] + "…"
        status = _status(s) + (" (undone)" if s.undone else "") + (" (damaged)" if s.unreadable_lines else "")
        table.add_row(s.session_id, task, status, str(s.turns), f"{s.cost_usd:.4f}", _ratio(s.hit_ratio))
    stdout.print(table)
    for s in found:
        _warn_damage(s)


def _warn_damage(s: SessionData) -> None:
    if s.unreadable_lines:
        warn(f"session {s.session_id}: {s.unreadable_lines} line(s) of its file are unreadable and were skipped")


def call_rows(session: SessionData) -> list[dict[str, Any]]:
    """One JSON-ready row per call of the session: tokens, expected and billed hits, cost and cache breaks."""
    rows = []
    for number, call in enumerate(session.calls, 1):
        diag = call.diag or {}
        rows.append({
            "call": number, "kind": call.kind, "turn": call.turn,
            "prompt_tokens": call.prompt_tokens, "expected_hit": diag.get("expected_billed"),
            "billed_hit": call.cache_hit if call.usage_known else None,
            "output_tokens": call.output_tokens, "cost_usd": call.cost_usd,
            "breaks": [b.get("cause", "") for b in diag.get("breaks", [])],
        })
    return rows


@sessions_app.command("show")
def show(
    ctx: typer.Context,
    session_id: str = typer.Argument(..., help="Session id (or a unique prefix)."),
    repo: Path | None = typer.Argument(None, help="The repository (default: .)."),
    path: Path | None = typer.Option(None, "--path", "-C", hidden=True, help="The repository (older spelling)."),
    fmt: str | None = typer.Option(None, "--format", help="text (default) or json."),
    as_json: bool = typer.Option(False, "--json", help="Short for --format json."),
    transcript: bool = typer.Option(False, "--transcript", help="Show the conversation: messages, tool calls, "
                                    "results and diffs."),
) -> None:
    """Per-call table: expected vs billed cache hits, cost, and each cache break with its cause."""
    from rich.text import Text

    from v4agent.agent.sessions.store import find_session
    from v4agent.cli.options import output_format
    from v4agent.ui.tables import report_table

    as_json = output_format(fmt, as_json, ("text", "json"), "text") == "json"
    parent = ctx.obj or {}
    root = _root(repo or path or parent.get("path") or Path("."))
    session = find_session(root, session_id)
    if transcript:
        from v4agent.ui.transcript import transcript_lines

        if as_json or parent.get("json"):
            print(json.dumps({**_summary_json(session), "messages": session.messages}, indent=2,
                             ensure_ascii=False))
            return
        _warn_damage(session)
        from v4agent.agent.request.layout import PACK_INDEX

        for line in transcript_lines(session.messages, pack_indexes={PACK_INDEX}):
            stdout.print(line, markup=False, highlight=False, soft_wrap=True)
        return
    rows = call_rows(session)
    if as_json or parent.get("json"):
        print(json.dumps({**_summary_json(session), "calls": rows}, indent=2))
        return
    _warn_damage(session)
    stdout.print(Text.assemble(("task: ", "bold"), session.task))
    stdout.print(f"status: {_status(session)}; model {session.start.model}; "
                 f"cache hit {_ratio(session.hit_ratio)}", markup=False, highlight=False)
    table = report_table("calls", ("#", "kind", "turn", "prompt", "expected hit", "billed hit", "output", "$",
                                   "cache break"),
                         numeric=("#", "turn", "prompt", "expected hit", "billed hit", "output", "$"))
    for row in rows:
        billed = "?" if row["billed_hit"] is None else f"{row['billed_hit']:,}"
        expected = "-" if row["expected_hit"] is None else f"{row['expected_hit']:,}"
        table.add_row(str(row["call"]), str(row["kind"]), str(row["turn"]), f"{row['prompt_tokens'] or 0:,}",
                      expected, billed, f"{row['output_tokens'] or 0:,}", f"{row['cost_usd'] or 0:.6f}",
                      "; ".join(row["breaks"]), style="yellow" if row["breaks"] else None)
    stdout.print(table)
    from v4agent.agent.sessions.costs import cost_table

    stdout.print(cost_table(session))


@sessions_app.command("prune")
def prune(
    ctx: typer.Context,
    older_than: float = typer.Option(30.0, "--older-than", help="Delete sessions last written more than this "
                                     "many days ago (the newest is always kept)."),
    repo: Path | None = typer.Argument(None, help="The repository (default: .)."),
    path: Path | None = typer.Option(None, "--path", "-C", hidden=True, help="The repository (older spelling)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be deleted."),
) -> None:
    """Delete old sessions and the stored packs no kept session uses (the cost ledger stays)."""
    import time

    from v4agent.agent.sessions.prune import apply_prune, plan_prune
    from v4agent.agent.sessions.store import sessions_dir

    if older_than < 0:
        error("--older-than must be 0 or more days")
        raise typer.Exit(ExitCode.USAGE)
    parent = ctx.obj or {}
    directory = sessions_dir(_root(repo or path or parent.get("path") or Path(".")), create=False)
    if not directory.is_dir():
        stdout.print("no sessions yet")
        return
    plan = plan_prune(directory, now=time.time(), older_than_s=older_than * 86_400)
    if not dry_run:
        apply_prune(plan)
    verb = "would delete" if dry_run else "deleted"
    owned = f"; with them {len(plan.subagents)} subagent file(s) and {len(plan.attempt_runs)} attempts run(s)" \
        if plan.subagents or plan.attempt_runs else ""
    stdout.print(f"{verb} {len(plan.sessions)} session(s) and {len(plan.blobs)} stored content(s), "
                 f"{plan.freed_bytes / 1e6:.1f} MB{owned}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``sessions`` group (``sessions show``, ``sessions prune``) to ``app``."""
    app.add_typer(sessions_app, name="sessions")
