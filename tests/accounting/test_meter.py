"""The per-call meter: the budget check before a call, then pricing, spend and the ledger line after it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from v4agent.accounting import BudgetExceeded, Ledger, Meter, load_price_table, price_call
from v4agent.engine.types import Usage

AT = datetime(2026, 9, 11, 2, 0, tzinfo=UTC)
USAGE = Usage(10_000, 200, cache_hit=8_000, cache_miss=2_000, reasoning_tokens=50)


def test_charge_prices_like_price_call_and_adds_to_the_spend() -> None:
    table = load_price_table()
    meter = Meter(table, engine="deepseek", spent_usd=0.5)
    charge = meter.charge("deepseek-v4-pro", USAGE, turn=3, duration_s=1.25, at=AT)
    assert charge.cost == price_call(table, "deepseek-v4-pro", USAGE, AT, engine="deepseek", duration_s=1.25)
    assert (charge.turn, charge.usage, charge.at, charge.duration_s) == (3, USAGE, AT, 1.25)
    assert meter.spent_usd == pytest.approx(0.5 + charge.cost.total_usd)


def test_check_refuses_a_call_that_would_cross_the_limit() -> None:
    meter = Meter(load_price_table(), engine="deepseek", max_cost=0.01, spent_usd=0.0099)
    with pytest.raises(BudgetExceeded, match="--max-cost"):
        meter.check("deepseek-v4-pro", prompt_tokens=100_000, expected_hit=0, expected_output=1000, at=AT)
    assert Meter(load_price_table(), engine="deepseek").check(
        "deepseek-v4-pro", prompt_tokens=100_000, expected_hit=0, expected_output=1000, at=AT) > 0


def test_the_ledger_line_is_the_one_record_call_writes(tmp_path: Path) -> None:
    table = load_price_table()
    metered, direct = Ledger(tmp_path / "a"), Ledger(tmp_path / "b")
    meter = Meter(table, engine="deepseek", ledger=metered, session_id="s1")
    cost = meter.record("deepseek-v4-pro", USAGE, turn=2, duration_s=0.5, at=AT)
    record = direct.record_call(table, session_id="s1", turn=2, engine="deepseek", model="deepseek-v4-pro",
                                usage=USAGE, at=AT, duration_s=0.5)
    assert metered.path.read_text() == direct.path.read_text()
    assert (cost.total_usd, cost.price_entry) == (record.total_usd, record.price_entry)


def test_without_a_ledger_nothing_is_written_and_log_waits_for_the_caller(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    meter = Meter(load_price_table(), engine="deepseek", ledger=ledger)
    charge = meter.charge("deepseek-v4-flash", USAGE, turn=1, at=AT)
    assert not ledger.path.exists()  # charged, not yet logged: the session record is written first
    meter.log(charge)
    assert len(ledger.read()) == 1
    Meter(load_price_table(), engine="deepseek").log(charge)  # no ledger: a no-op
