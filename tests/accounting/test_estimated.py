"""A call whose usage never arrived: in the ledger as an estimate, flagged, counted apart by the summary."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from v4agent.accounting import Ledger, Meter, load_price_table
from v4agent.accounting.summary import summarize
from v4agent.agent.cutcall import cut_usage, shown_chars
from v4agent.engine.types import ChatReply, ToolCall, Usage
from v4agent.tokens.tokenizer import get_tokenizer

AT = datetime(2026, 9, 11, 2, 0, tzinfo=UTC)


def test_the_meter_writes_the_flag_and_the_summary_counts_it(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    meter = Meter(load_price_table(), engine="deepseek", ledger=ledger, session_id="s")
    usage = Usage(1000, 50, cache_hit=600, cache_miss=400)
    meter.log(meter.charge("deepseek-v4-flash", replace(usage, estimated=True), turn=1, at=AT))
    meter.log(meter.charge("deepseek-v4-flash", usage, turn=1, at=AT))
    first, second = ledger.read()
    assert first.estimated
    assert not second.estimated
    assert json.loads(ledger.path.read_text().splitlines()[0])["estimated"] is True
    assert first.total_usd == second.total_usd > 0  # priced the same way: an estimate still costs
    totals = summarize(ledger.read())
    assert (totals.calls, totals.estimated_calls) == (2, 1)
    assert totals.to_dict()["estimated_calls"] == 1


def test_a_line_without_the_flag_reads_as_not_estimated_and_a_bad_flag_is_skipped(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    meter = Meter(load_price_table(), engine="deepseek", ledger=ledger, session_id="s")
    meter.log(meter.charge("deepseek-v4-flash", Usage(10, 1, 0, 10), turn=1, at=AT))
    line = json.loads(ledger.path.read_text())
    old = {k: v for k, v in line.items() if k != "estimated"}
    ledger.path.write_text(json.dumps(old) + "\n" + json.dumps({**line, "estimated": "yes"}) + "\n")
    result = ledger.read_all()
    assert [r.estimated for r in result.records] == [False]
    assert result.skipped == 1


def test_cut_usage_counts_what_arrived() -> None:
    tokenizer = get_tokenizer("deepseek-v4")
    partial = ChatReply("Hello there, I will", "thinking about it", (ToolCall("c0", "write_file", '{"pa'),), "", None)
    usage = cut_usage(partial, prompt_tokens=5000, expected_hit=4096, tokenizer=tokenizer)
    assert usage.estimated
    assert (usage.prompt_tokens, usage.cache_hit, usage.cache_miss) == (5000, 4096, 904)
    parts = [tokenizer.count(t) for t in ("thinking about it", "Hello there, I will", 'write_file{"pa')]
    assert usage.output_tokens == sum(parts)
    assert usage.reasoning_tokens == parts[0]
    assert shown_chars(partial) == len("Hello there, I will") + len("thinking about it") + len('write_file{"pa')


def test_cut_usage_takes_the_servers_when_it_came_and_never_hits_more_than_the_prompt() -> None:
    tokenizer = get_tokenizer("deepseek-v4")
    served = Usage(900, 3, cache_hit=0, cache_miss=900)
    assert cut_usage(ChatReply("a", "", (), "", served), prompt_tokens=5, expected_hit=0,
                     tokenizer=tokenizer) == served
    assert not served.estimated
    usage = cut_usage(ChatReply("a", "", (), "", None), prompt_tokens=10, expected_hit=50, tokenizer=tokenizer)
    assert (usage.cache_hit, usage.cache_miss) == (10, 0)
