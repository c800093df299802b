"""A call the session recorded but the ledger missed (a kill between the two appends) is put in on resume, once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from v4agent.accounting import Ledger, load_price_table, price_call
from v4agent.agent.ledgersync import backfill_ledger
from v4agent.agent.sessions.records import CallRecord, StartRecord
from v4agent.agent.sessions.store import SessionWriter
from v4agent.engine.types import Usage


def _call(turn: int, prompt: int) -> CallRecord:
    usage = Usage(prompt, 50, cache_hit=prompt // 2, cache_miss=prompt - prompt // 2)
    cost = price_call(load_price_table(), "deepseek-v4-flash", usage, datetime.now(UTC), engine="deepseek")
    return CallRecord.of(kind="turn", turn=turn, model="deepseek-v4-flash", usage=usage, usage_known=True,
                         cost=cost, duration_s=0.5, finish_reason="stop", diag={})


def test_missing_calls_are_appended_once_and_priced_as_the_meter_would(tmp_path: Path) -> None:
    writer = SessionWriter.create(tmp_path, StartRecord(task="t"))
    ledger = Ledger(tmp_path)
    table = load_price_table()
    calls = [_call(1, 1_000), _call(2, 2_000), _call(3, 3_000)]
    for call in calls[:2]:
        writer.write(call)
    assert backfill_ledger(ledger, writer.path, session_id=writer.session_id, engine="deepseek", table=table) == 2
    writer.write(calls[2])  # its ledger line was never written: the run was killed in between
    assert backfill_ledger(ledger, writer.path, session_id=writer.session_id, engine="deepseek", table=table) == 1
    assert backfill_ledger(ledger, writer.path, session_id=writer.session_id, engine="deepseek", table=table) == 0
    records = ledger.read()
    assert [r.turn for r in records] == [1, 2, 3]
    assert records[2].total_usd == calls[2].cost_usd
    assert records[2].session_id == writer.session_id


def test_only_the_missing_call_is_added(tmp_path: Path) -> None:
    writer = SessionWriter.create(tmp_path, StartRecord(task="t"))
    ledger = Ledger(tmp_path)
    table = load_price_table()
    first, second = _call(1, 1_000), _call(2, 2_000)
    writer.write(first)
    backfill_ledger(ledger, writer.path, session_id=writer.session_id, engine="deepseek", table=table)
    writer.write(second)
    other = SessionWriter.create(tmp_path, StartRecord(task="other"))
    other.write(_call(2, 2_000))  # the same figures in another session do not count for this one
    backfill_ledger(ledger, other.path, session_id=other.session_id, engine="deepseek", table=table)
    assert backfill_ledger(ledger, writer.path, session_id=writer.session_id, engine="deepseek", table=table) == 1
    mine = [(r.turn, r.prompt_tokens) for r in ledger.read() if r.session_id == writer.session_id]
    assert mine == [(1, 1_000), (2, 2_000)]
