"""The refactor's progress line: the last call's cache-hit ratio first, the session's beside it."""

from __future__ import annotations

import io

from rich.console import Console

from v4agent.accounting.cost import CallCost
from v4agent.agent.events import CallDone
from v4agent.agent.request.cachediag import CallDiag
from v4agent.engine.types import Usage
from v4agent.refactor.progress import RefactorProgress


def _done(turn: int, usage: Usage | None, spent: float) -> CallDone:
    cost = CallCost(0.0, 0.0, 0.0, 0.01, 0.0, "entry", peak=False)
    diag = CallDiag(input_tokens=usage.prompt_tokens if usage else 0, expected_hit=0, expected_billed=0,
                    billed_hit=usage.cache_hit if usage else None, theoretical_max=0)
    return CallDone("turn", turn, usage, cost, diag, spent, usage.prompt_tokens if usage else 0, 0.1)


def test_the_status_line_shows_the_last_calls_hit_and_the_sessions() -> None:
    out = io.StringIO()
    progress = RefactorProgress(Console(file=out, width=200, color_system=None))
    with progress:
        progress(_done(1, Usage(900_000, 50, cache_hit=0, cache_miss=900_000), 0.12))
        progress(_done(2, Usage(900_100, 40, cache_hit=900_000, cache_miss=100), 0.13))
    lines = out.getvalue().splitlines()
    assert lines[0] == "turn 1 · context 900,000 tokens · cache hit 0.0% (session 0.0%) · $0.1200"
    assert lines[1] == "turn 2 · context 900,100 tokens · cache hit 100.0% (session 50.0%) · $0.1300"


def test_a_call_without_usage_shows_no_hit_ratio() -> None:
    out = io.StringIO()
    progress = RefactorProgress(Console(file=out, width=200, color_system=None))
    progress(_done(1, None, 0.0))
    assert out.getvalue().strip() == "turn 1 · context 0 tokens · cache hit - (session -) · $0.0000"
