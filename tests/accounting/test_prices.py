"""The dated price table: entry in force, peak windows, the weekend rule, aliases, overrides."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from v4agent.accounting.prices import PriceTableError, load_price_table


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_every_period_from_facts_is_in_the_table() -> None:
    table = load_price_table()
    starts = [(e.id, e.start) for e in table.entries]
    assert [s for _, s in starts] == sorted(s for _, s in starts)
    assert {s.isoformat() for _, s in starts} >= {
        "2026-04-24T00:00:00+00:00", "2026-04-27T00:00:00+00:00", "2026-08-16T16:00:00+00:00",
        "2026-08-23T00:00:00+00:00", "2026-09-10T00:00:00+00:00",
    }


@pytest.mark.parametrize(("moment", "entry_id"), [
    ("2026-04-25T12:00", "deepseek-2026-04-launch"),
    ("2026-08-16T15:59:59", "deepseek-2026-04-27-pro-promo"),
    ("2026-08-16T16:00:00", "deepseek-2026-08-16-peak-offpeak"),
    ("2026-08-23T00:00:00", "deepseek-2026-08-23-weekends-offpeak"),
    ("2026-09-10T00:00:00", "deepseek-2026-09-10-flash-v4.1"),
])
def test_entry_in_force(moment: str, entry_id: str) -> None:
    entry = load_price_table().entry_at(at(moment))
    assert entry is not None
    assert entry.id == entry_id


def test_before_launch_there_is_no_entry() -> None:
    assert load_price_table().entry_at(at("2026-01-01T00:00")) is None


@pytest.mark.parametrize(("moment", "peak"), [
    ("2026-08-17T00:59", False), ("2026-08-17T01:00", True), ("2026-08-17T03:59", True),
    ("2026-08-17T04:00", False), ("2026-08-17T06:00", True), ("2026-08-17T10:00", False),
    ("2026-08-22T02:00", True),   # a Saturday before the weekend rule: peak
    ("2026-08-29T02:00", False),  # a Saturday after it: off-peak all day
    ("2026-08-31T02:00", True),   # Monday
    ("2026-05-01T02:00", False),  # no time-of-day rule yet
])
def test_peak_hours_and_weekend_rule(moment: str, peak: bool) -> None:
    assert load_price_table().is_peak(at(moment)) is peak


def test_alias_from_september_10() -> None:
    table = load_price_table()
    entry = table.entry_at(at("2026-09-11T12:00"))
    assert entry is not None
    assert entry.resolve("deepseek-v4-flash") == "deepseek-flash"
    price = entry.price_for("deepseek-v4-flash")
    assert price is not None
    assert price.peak.miss == Decimal("0.30")
    assert price.offpeak.miss == Decimal("0.15")
    before = table.entry_at(at("2026-09-09T12:00"))
    assert before is not None
    assert before.price_for("deepseek-flash") is None


def test_next_offpeak_start() -> None:
    table = load_price_table()
    assert table.next_offpeak_start(at("2026-09-11T02:30")) == at("2026-09-11T04:00")
    assert table.next_offpeak_start(at("2026-09-11T05:00")) == at("2026-09-11T05:00")  # already off-peak
    assert table.next_change(at("2026-09-11T05:00")) == at("2026-09-11T06:00")
    # Friday 10:00 -> the next peak is Monday 01:00 (the weekend is off-peak)
    assert table.next_change(at("2026-09-11T10:00")) == at("2026-09-14T01:00")


def test_user_override_replaces_and_adds(tmp_path: Path) -> None:
    override = tmp_path / "prices.toml"
    override.write_text(
        '[[entry]]\nid = "deepseek-2026-09-10-flash-v4.1"\nengine = "deepseek"\nstart = 2026-09-10T00:00:00Z\n'
        'models.deepseek-flash = { hit = 0.01, miss = 0.5, output = 2 }\n'
        '[[entry]]\nid = "mine"\nengine = "openai-compatible"\nstart = 2026-01-01T00:00:00Z\n'
        'models.gpt-x = { hit = 1, miss = 2, output = 3 }\n'
    )
    table = load_price_table(override)
    entry = table.entry_at(at("2026-09-11T02:00"))
    assert entry is not None
    assert not entry.has_peak_rule
    assert entry.models["deepseek-flash"].peak.miss == Decimal("0.5")
    assert table.entry_at(at("2026-09-11T02:00"), "openai-compatible") is not None
    assert str(override) in table.sources


@pytest.mark.parametrize(("text", "problem"), [
    ("[[entry]]\nengine='deepseek'\n", "needs an 'id'"),
    ("[[entry]]\nid='x'\nstart='yesterday'\n", "'start' must be"),
    ("[[entry]]\nid='x'\nstart=2026-01-01T00:00:00Z\nmodels.m = { hit = 1, miss = 2 }\n", "missing output"),
    ("[[entry]]\nid='x'\nstart=2026-01-01T00:00:00Z\npeak_hours_utc=['10:00-02:00']\n", "must end after"),
    ("[[entry]\n", "invalid TOML"),
])
def test_bad_override_is_reported_clearly(tmp_path: Path, text: str, problem: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(PriceTableError, match=problem) as info:
        load_price_table(bad)
    assert str(bad) in str(info.value)
