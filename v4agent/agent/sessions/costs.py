"""A session's tokens and dollars per kind of call (prime, turn, compact) and in total, as rows and as a table."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from v4agent.agent.sessions.store import SessionData
from v4agent.ui.tables import report_table

__all__ = ["cost_rows", "cost_table"]


def cost_rows(session: SessionData) -> list[dict[str, Any]]:
    """Token and cost totals per call kind (prime, turn, compact) and overall."""
    rows: dict[str, dict[str, Any]] = {}
    for call in session.calls:
        for key in (str(call.kind), "total"):
            row = rows.setdefault(key, {"kind": key, "calls": 0, "prompt": 0, "hit": 0, "miss": 0, "output": 0,
                                        "reasoning": 0, "cost_usd": 0.0, "saved_usd": 0.0})
            row["calls"] += 1
            row["prompt"] += int(call.prompt_tokens or 0)
            row["hit"] += int(call.cache_hit or 0)
            row["miss"] += int(call.cache_miss or 0)
            row["output"] += int(call.output_tokens or 0)
            row["reasoning"] += int(call.reasoning_tokens or 0)
            row["cost_usd"] = round(row["cost_usd"] + float(call.cost_usd or 0.0), 10)
            row["saved_usd"] = round(row["saved_usd"] + float(call.saved_usd or 0.0), 10)
    for task in session.subtasks:  # subagents' calls, nested under the parent: one row for all of them
        for key in ("subagent", "total"):
            row = rows.setdefault(key, {"kind": key, "calls": 0, "prompt": 0, "hit": 0, "miss": 0, "output": 0,
                                        "reasoning": 0, "cost_usd": 0.0, "saved_usd": 0.0})
            row["calls"] += int(task.turns or 0)
            row["prompt"] += int(task.prompt_tokens or 0)
            row["hit"] += int(task.cache_hit or 0)
            row["miss"] += int(task.prompt_tokens or 0) - int(task.cache_hit or 0)
            row["output"] += int(task.output_tokens or 0)
            row["cost_usd"] = round(row["cost_usd"] + float(task.cost_usd or 0.0), 10)
    order = ["prime", "turn", "compact", "subagent", "total"]
    return [rows[k] for k in order if k in rows]


def cost_table(session: SessionData) -> Table:
    """The session's calls as a cost table, one row per kind of call and a total."""
    # No prompt column: it is hit + miss, and the table must fit 80 columns.
    numbers = ("calls", "hit", "miss", "output", "reason", "hit %", "$", "saved $")
    table = report_table("cost", ("", *numbers), numeric=numbers)
    for row in cost_rows(session):
        ratio = f"{100 * row['hit'] / row['prompt']:.1f}" if row["prompt"] else "-"
        table.add_row(row["kind"], f"{row['calls']}", f"{row['hit']:,}", f"{row['miss']:,}",
                      f"{row['output']:,}", f"{row['reasoning']:,}", ratio, f"{row['cost_usd']:.6f}",
                      f"{row['saved_usd']:.6f}", style="bold" if row["kind"] == "total" else None)
    entries = sorted({str(c.price_entry) for c in session.calls if c.price_entry})
    table.caption = "tokens; reason: reasoning tokens, counted in output" + (
        "\npriced by: " + "; ".join(entries) if entries else "")
    table.caption_justify = "left"
    return table
