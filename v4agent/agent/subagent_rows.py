"""The subagents of a session as report rows: one per ``task`` call, under the turn that spawned it.

Pure: built from the parent's ``subtask`` records, which carry each subagent's end, tokens and cost; every
report (refactor text, ``--json``, stream-json, best-of-N per attempt) shows the same fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from v4agent.agent.sessions.records import SubtaskRecord

__all__ = ["subagent_line", "subagent_rows"]


def subagent_rows(subtasks: Iterable[SubtaskRecord]) -> list[dict[str, Any]]:
    """One row per subagent, ordered by the turn that spawned it, then its place in that reply."""
    rows: list[dict[str, Any]] = []
    for task in sorted(subtasks, key=lambda t: (t.turn, t.index)):
        prompt, hit = int(task.prompt_tokens or 0), int(task.cache_hit or 0)
        rows.append({
            "turn": task.turn, "index": task.index, "description": task.description, "session_id": task.session,
            "status": task.status, "turns": task.turns, "prompt_tokens": prompt, "cache_hit": hit,
            "output_tokens": int(task.output_tokens or 0),
            "hit_ratio": round(hit / prompt, 6) if prompt else None,
            "first_hit_ratio": round(task.first_hit / task.first_prompt, 6) if task.first_prompt else None,
            # its first request's billed hit over the forked prefix (the parent's request): the fork's cache test
            "fork_hit_ratio": round(min(1.0, task.first_hit / task.fork_tokens), 6) if task.fork_tokens else None,
            "cost_usd": round(float(task.cost_usd or 0.0), 8),
        })
    return rows


def subagent_line(row: dict[str, Any]) -> str:
    """One row as a report line: ``turn 2: subagent 'find x': finished, 3 call(s), 41,200 prompt tokens, ...``."""
    ratio = "-" if row.get("hit_ratio") is None else f"{100 * float(row['hit_ratio']):.1f}%"
    return (f"turn {row.get('turn')}: subagent {row.get('description')!r}: {row.get('status')}, "
            f"{row.get('turns')} call(s), {int(row.get('prompt_tokens') or 0):,} prompt tokens, cache hit {ratio}, "
            f"${float(row.get('cost_usd') or 0.0):.4f}")
