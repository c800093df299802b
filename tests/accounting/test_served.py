"""Pricing by the served model in the ledger: the new fields round-trip, older lines still read, totals count
the calls priced by a fallback name."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from v4agent.accounting import Ledger, load_price_table, summarize
from v4agent.engine.types import Usage

AFTER_ROUTING = datetime(2026, 9, 15, 2, 0, tzinfo=UTC)  # Tuesday, peak


def test_served_and_billed_names_round_trip_and_fallbacks_are_counted(tmp_path: Path) -> None:
    ledger, table = Ledger(tmp_path), load_price_table()
    usage = Usage(1_000, 10, cache_hit=0, cache_miss=1_000)
    ledger.record_call(table, session_id="s", turn=1, engine="deepseek", model="deepseek-v4-pro", usage=usage,
                       at=AFTER_ROUTING, served_model="DeepSeek-V4-Pro-0813")
    ledger.record_call(table, session_id="s", turn=2, engine="deepseek", model="deepseek-v4-pro", usage=usage,
                       at=AFTER_ROUTING)
    first, second = ledger.read()
    assert (first.served_model, first.billed_model, first.by_fallback) == ("DeepSeek-V4-Pro-0813",
                                                                          "deepseek-v4-pro-0813", False)
    assert (second.served_model, second.billed_model, second.by_fallback) == ("", "deepseek-flash", True)
    assert first.total_usd > second.total_usd  # Pro's rates against Flash's
    assert summarize([first, second]).fallback_calls == 1


def test_a_line_written_before_the_served_fields_still_reads(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    old = {"ts": "2026-09-11T02:00:00+00:00", "session_id": "s", "turn": 1, "engine": "deepseek",
           "model": "deepseek-v4-pro", "prompt_tokens": 10, "cache_hit": 0, "cache_miss": 10, "output_tokens": 1,
           "reasoning_tokens": 0, "hit_usd": 0.0, "miss_usd": 0.0, "output_usd": 0.0, "total_usd": 0.0,
           "saved_usd": 0.0, "price_entry": "x"}
    ledger.path.parent.mkdir(parents=True)
    ledger.path.write_text(json.dumps(old) + "\n")
    (record,) = ledger.read()
    assert (record.served_model, record.billed_model, record.by_fallback) == ("", "", False)
    assert summarize([record]).fallback_calls == 0
