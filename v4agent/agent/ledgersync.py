"""Calls a session recorded that the cost ledger missed, appended when the session resumes.

A call is written to the session file first and to the ledger right after (so the ledger never holds a call the
session lacks); a kill between the two appends leaves the session with one call the ledger does not have. A
resumed run puts it there with the amounts the session recorded (the rates' flags looked up again), so every
completed call is in the ledger exactly once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from v4agent.accounting import Ledger, PriceTable, make_record, price_call
from v4agent.agent.sessions.records import CallRecord
from v4agent.agent.sessions.store import read_session
from v4agent.engine.types import Usage

__all__ = ["backfill_ledger"]

_Key = tuple[int, int, int, int | None]


def _key(turn: int, prompt: int, output: int, hit: int | None) -> _Key:
    return (turn, prompt, output, hit)


def _usage(call: CallRecord) -> Usage:
    return Usage(call.prompt_tokens, call.output_tokens, call.cache_hit, call.cache_miss, call.reasoning_tokens,
                 estimated=not call.usage_known)


def backfill_ledger(ledger: Ledger, session_path: Path, *, session_id: str, engine: str, table: PriceTable) -> int:
    """Append the session's calls that the ledger lacks; returns how many were appended."""
    have = Counter(_key(r.turn, r.prompt_tokens, r.output_tokens, r.cache_hit) for r in ledger.read()
                   if r.session_id == session_id)
    added = 0
    for call in read_session(session_path).calls:
        key = _key(call.turn, call.prompt_tokens, call.output_tokens, call.cache_hit)
        if have[key] > 0:
            have[key] -= 1
            continue
        usage, at = _usage(call), datetime.fromisoformat(call.ts)
        looked_up = price_call(table, call.model, usage, at, engine=engine, duration_s=call.duration_s)
        cost = replace(looked_up, hit_usd=call.hit_usd, miss_usd=call.miss_usd, output_usd=call.output_usd,
                       total_usd=call.cost_usd, saved_usd=call.saved_usd,
                       price_entry=call.price_entry or looked_up.price_entry)
        ledger.append(make_record(session_id=session_id, turn=call.turn, engine=engine, model=call.model,
                                  usage=usage, at=at, cost=cost, duration_s=call.duration_s))
        added += 1
    return added
