"""Pricing a recorded session against hand-computed figures; estimates; --max-cost."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from v4agent.accounting import (
    BudgetExceeded,
    BudgetGuard,
    estimate_pack_cost,
    load_price_table,
    make_record,
    price_call,
    summarize,
)
from v4agent.engine.types import Usage
from v4agent.engine.usage import normalize_usage


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (time, prompt, hit, output): one Flash session that crosses the 2026-08-16 price change, a peak/off-peak
# boundary (10:00 UTC on a Monday), and the 2026-09-10 switch to deepseek-flash (via the alias).
SESSION = [
    ("2026-08-16T15:59:00", 1_000_000, 0, 20_000),
    ("2026-08-17T09:59:00", 1_020_000, 1_000_000, 10_000),
    ("2026-08-17T10:00:00", 1_030_000, 1_020_000, 5_000),
    ("2026-09-10T00:30:00", 2_000_000, 1_500_000, 100_000),
]
# By hand, USD per 1M: (hit, miss, output)
#  1: promo entry 0.0028/0.14/0.28:       miss 1.0*0.14=0.14,            out 0.02*0.28=0.0056     -> 0.1456
#  2: peak 0.014/0.44/1.32:   hit 1.0*0.014=0.014,  miss 0.02*0.44=0.0088, out 0.01*1.32=0.0132   -> 0.036
#  3: off-peak 0.007/0.22/0.66: hit 1.02*0.007=0.00714, miss 0.01*0.22=0.0022, out 0.005*0.66=0.0033 -> 0.01264
#  4: deepseek-flash off-peak 0.003/0.15/0.60: hit 1.5*0.003=0.0045, miss 0.5*0.15=0.075, out 0.1*0.6=0.06 -> 0.1395
HAND_TOTALS = [0.1456, 0.036, 0.01264, 0.1395]
HAND_TOTAL = 0.33374
# saved = hit * (miss - hit rate): 0 + 1.0*(0.44-0.014) + 1.02*(0.22-0.007) + 1.5*(0.15-0.003)
HAND_SAVED = 0.426 + 0.21726 + 0.2205


def deepseek_shape(prompt: int, hit: int, output: int) -> dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output,
            "prompt_cache_hit_tokens": hit, "prompt_cache_miss_tokens": prompt - hit,
            "prompt_tokens_details": {"cached_tokens": hit},
            "completion_tokens_details": {"reasoning_tokens": output // 2}}


def vllm_shape(prompt: int, hit: int, output: int) -> dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output,
            "prompt_tokens_details": {"cached_tokens": hit}}


@pytest.mark.parametrize("shape", [deepseek_shape, vllm_shape])
def test_recorded_session_matches_hand_computed_cost(shape: Any) -> None:
    table = load_price_table()
    records = []
    for (moment, prompt, hit, output), expected in zip(SESSION, HAND_TOTALS, strict=True):
        usage = normalize_usage(shape(prompt, hit, output))
        assert usage is not None
        assert usage.cache_hit == hit
        assert usage.cache_miss == prompt - hit
        cost = price_call(table, "deepseek-v4-flash", usage, at(moment))
        assert cost.total_usd == pytest.approx(expected, abs=1e-9)
        assert cost.hit_usd + cost.miss_usd + cost.output_usd == pytest.approx(cost.total_usd, abs=1e-12)
        records.append(make_record(session_id="s1", turn=len(records) + 1, engine="deepseek",
                                   model="deepseek-v4-flash", usage=usage, at=at(moment), cost=cost))
    totals = summarize(records)
    assert round(totals.total_usd, 2) == round(HAND_TOTAL, 2) == 0.33
    assert totals.total_usd == pytest.approx(HAND_TOTAL, abs=1e-9)
    assert totals.saved_usd == pytest.approx(HAND_SAVED, abs=1e-9)
    assert totals.hit_ratio == pytest.approx(3_520_000 / 5_050_000)
    entries = [r.price_entry for r in records]
    assert entries == [
        "deepseek-2026-04-27-pro-promo",
        "deepseek-2026-08-16-peak-offpeak (peak)",
        "deepseek-2026-08-16-peak-offpeak (off-peak)",
        "deepseek-2026-09-10-flash-v4.1 (off-peak)",
    ]


def test_cached_tokens_are_never_billed_twice_nor_all_at_miss_rate() -> None:
    table = load_price_table()
    usage = Usage(prompt_tokens=1_000_000, output_tokens=0, cache_hit=900_000, cache_miss=100_000)
    cost = price_call(table, "deepseek-v4-pro", usage, at("2026-09-11T02:00"))  # peak 0.044/1.32/3.96
    assert cost.hit_usd == pytest.approx(0.9 * 0.044)
    assert cost.miss_usd == pytest.approx(0.1 * 1.32)
    assert cost.total_usd == pytest.approx(0.0396 + 0.132)  # not 1.32 (all at miss), not 1.32 + 0.0396
    assert not cost.hit_unknown


def test_unknown_hits_are_priced_as_misses_and_flagged() -> None:
    usage = normalize_usage({"prompt_tokens": 1_000_000, "completion_tokens": 0})
    assert usage is not None
    assert usage.cache_hit is None
    assert usage.cache_miss is None
    cost = price_call(load_price_table(), "deepseek-v4-pro", usage, at("2026-09-11T02:00"))
    assert cost.hit_unknown
    assert cost.total_usd == pytest.approx(1.32)
    assert cost.saved_usd == 0
    record = make_record(session_id="s", turn=1, engine="deepseek", model="deepseek-v4-pro", usage=usage,
                         at=at("2026-09-11T02:00"), cost=cost)
    assert record.cache_hit is None
    totals = summarize([record])
    assert totals.hit_ratio is None
    assert totals.hit_unknown_calls == 1
    assert totals.unknown_hit_tokens == 1_000_000


def test_local_engine_is_free_or_priced_by_gpu_hour() -> None:
    usage = Usage(prompt_tokens=500_000, output_tokens=1_000, cache_hit=499_984, cache_miss=16)
    free = price_call(load_price_table(), "deepseek-ai/DeepSeek-V4-Flash", usage, at("2026-09-11T02:00"),
                      engine="vllm", duration_s=90)
    assert free.total_usd == 0
    assert free.price_entry.startswith("local vllm")
    paid = price_call(load_price_table(gpu_hour_usd=2.4), "m", usage, at("2026-09-11T02:00"), engine="vllm",
                      duration_s=90)
    assert paid.total_usd == pytest.approx(0.06)  # 90 s at $2.40/h


def test_unknown_model_is_flagged_not_silently_zero() -> None:
    usage = Usage(prompt_tokens=10, output_tokens=1, cache_hit=0, cache_miss=10)
    cost = price_call(load_price_table(), "deepseek-flash", usage, at("2026-09-01T12:00"))  # before it existed
    assert cost.unpriced
    assert "deepseek-flash" in cost.price_entry


def test_pack_estimate_per_model_at_peak_and_offpeak() -> None:
    rows = estimate_pack_cost(load_price_table(), 500_000, at("2026-09-11T02:00"))
    got = {(r.model, r.peak): (r.first_call_usd, r.cached_followup_usd) for r in rows}
    assert got[("deepseek-flash", True)] == pytest.approx((0.15, 0.003))
    assert got[("deepseek-flash", False)] == pytest.approx((0.075, 0.0015))
    assert got[("deepseek-v4-pro", True)] == pytest.approx((0.66, 0.022))
    assert got[("deepseek-v4-pro", False)] == pytest.approx((0.33, 0.011))
    early = estimate_pack_cost(load_price_table(), 1_000_000, at("2026-05-01T00:00"))
    assert {(r.model, r.all_day) for r in early} == {("deepseek-v4-flash", True), ("deepseek-v4-pro", True)}


def test_max_cost_refuses_before_the_call_that_would_cross_it() -> None:
    guard = BudgetGuard(load_price_table(), max_cost=0.05)
    moment = at("2026-09-11T02:00")  # peak: pro miss 1.32/M
    first = guard.check("deepseek-v4-pro", prompt_tokens=20_000, expected_hit=0, expected_output=1_000, at=moment)
    assert first == pytest.approx(0.0264 + 0.00396)
    guard.add(first)
    # the next call hits its prefix: 20k hit + 10k miss + 1k out = 0.00088 + 0.0132 + 0.00396
    second = guard.check("deepseek-v4-pro", prompt_tokens=30_000, expected_hit=20_000, expected_output=1_000,
                         at=moment)
    guard.add(second)
    with pytest.raises(BudgetExceeded, match=r"would cross --max-cost \$0\.0500") as info:
        guard.check("deepseek-v4-pro", prompt_tokens=40_000, expected_hit=0, expected_output=1_000, at=moment)
    assert info.value.hint
    assert BudgetGuard(load_price_table(), max_cost=None).check(
        "deepseek-v4-pro", prompt_tokens=10**6, expected_hit=0, expected_output=0, at=moment) > 1
