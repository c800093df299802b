"""Pricing one call: hits at the hit rate, misses at the miss rate, output at the output rate.

Two bugs common in other tools are ruled out here: a cached token is never billed twice (hits and misses
partition the prompt), and input is never priced wholesale at the miss rate when the server said how much
hit. When the server did not say (``Usage.cache_hit is None``), the whole prompt is priced as misses (the
upper bound) and the cost is flagged ``hit_unknown``.

A call is priced by the model that served it, as the response names it (``served_model``): when a provider
routes a requested name to another model, its bill follows what served the call. The requested name is the
fallback, and a call priced by it is flagged ``by_fallback``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from v4agent.accounting.prices import PER_TOKENS, ModelPrice, PriceEntry, PriceTable, Rates
from v4agent.engine.types import Usage

_HOUR_S = Decimal(3600)


@dataclass(frozen=True)
class CallCost:
    """One call's USD cost by hit, miss and output, what the cache saved, and which rates applied."""

    hit_usd: float
    miss_usd: float
    output_usd: float
    total_usd: float
    saved_usd: float  # versus the same call with no cache (all input at the miss rate)
    price_entry: str  # which table entry priced it, e.g. "deepseek-2026-08-23-weekends-offpeak (off-peak)"
    peak: bool
    hit_unknown: bool = False  # the server did not report hits: input priced as all misses
    unpriced: bool = False  # no rate for this model at this time: cost shown as 0 and flagged
    billed_model: str = ""  # the model name the rates belong to (aliases followed)
    served_model: str = ""  # the model the response named ("" when it named none)
    by_fallback: bool = False  # priced by the requested name: the response named no model the table prices


def _usd(value: Decimal) -> float:
    return float(round(value, 10))


def split_prompt(usage: Usage) -> tuple[int, int, bool]:
    """(hit, miss, hit_unknown): the prompt partitioned so no token is counted twice."""
    if usage.cache_hit is None:
        return 0, usage.prompt_tokens, True
    hit = max(0, min(usage.cache_hit, usage.prompt_tokens) if usage.prompt_tokens else usage.cache_hit)
    miss = usage.cache_miss if usage.cache_miss is not None else max(0, usage.prompt_tokens - hit)
    return hit, miss, False


def cost_from_rates(usage: Usage, rates: Rates) -> tuple[Decimal, Decimal, Decimal, Decimal, bool]:
    """(hit, miss, output, saved, hit_unknown) in USD for one call at fixed rates."""
    hit, miss, unknown = split_prompt(usage)
    hit_usd = Decimal(hit) * rates.hit / PER_TOKENS
    miss_usd = Decimal(miss) * rates.miss / PER_TOKENS
    output_usd = Decimal(usage.output_tokens) * rates.output / PER_TOKENS  # reasoning is part of output
    saved = Decimal(hit) * (rates.miss - rates.hit) / PER_TOKENS
    return hit_usd, miss_usd, output_usd, saved, unknown


_DATE_SUFFIX = re.compile(r"-(?:\d{4}|\d{8})$")  # a version date: DeepSeek-V4-Pro-0813, ...-V4.1-Flash-1017


def _name_forms(name: str) -> tuple[str, ...]:
    """The name as given, lowercased, and without a trailing version date, in the order they are tried."""
    lowered = name.lower()
    return tuple(dict.fromkeys((name, lowered, _DATE_SUFFIX.sub("", lowered))))


def lookup_model(entry: PriceEntry, name: str) -> tuple[str, ModelPrice] | None:
    """(billed name, rates) for a model name under ``entry``, trying its plain and dateless forms."""
    for form in _name_forms(name):
        prices = entry.price_for(form)
        if prices is not None:
            return entry.resolve(form), prices
    return None


def price_call(
    table: PriceTable,
    model: str,
    usage: Usage,
    at: datetime,
    *,
    engine: str = "deepseek",
    duration_s: float = 0.0,
    served_model: str = "",
) -> CallCost:
    """Price one call by the table entry in force at ``at``: by ``served_model`` (what the response named) when
    the entry prices it, else by the requested ``model`` (then flagged ``by_fallback``).

    Engines the table has no entries for (vllm, sglang, a local engine...) cost $0, plus
    ``duration_s`` at the table's ``gpu_hour_usd`` when one is set.
    """
    if engine not in table.engines():
        gpu = table.gpu_hour_usd * Decimal(str(max(duration_s, 0.0))) / _HOUR_S
        _, _, unknown = split_prompt(usage)
        return CallCost(0.0, 0.0, 0.0, _usd(gpu), 0.0, f"local {engine} (gpu_hour_usd={table.gpu_hour_usd})",
                        False, hit_unknown=unknown, billed_model=model, served_model=served_model)
    entry = table.entry_at(at, engine)
    found = lookup_model(entry, served_model) if entry is not None and served_model else None
    by_fallback = found is None
    if found is None and entry is not None:
        found = lookup_model(entry, model)
    if entry is None or found is None:
        where = entry.id if entry is not None else f"no {engine} entry before {at:%Y-%m-%d %H:%M}"
        _, _, unknown = split_prompt(usage)
        return CallCost(0.0, 0.0, 0.0, 0.0, 0.0, f"unpriced: '{model}' not in {where}", False,
                        hit_unknown=unknown, unpriced=True, billed_model=model, served_model=served_model)
    billed, prices = found
    peak = entry.is_peak(at)
    rates = prices.peak if peak or not entry.has_peak_rule else prices.offpeak
    hit_usd, miss_usd, output_usd, saved, unknown = cost_from_rates(usage, rates)
    label = entry.id if not entry.has_peak_rule else f"{entry.id} ({'peak' if peak else 'off-peak'})"
    return CallCost(
        hit_usd=_usd(hit_usd),
        miss_usd=_usd(miss_usd),
        output_usd=_usd(output_usd),
        total_usd=_usd(hit_usd + miss_usd + output_usd),
        saved_usd=_usd(saved),
        price_entry=label,
        peak=peak,
        hit_unknown=unknown,
        billed_model=billed,
        served_model=served_model,
        by_fallback=by_fallback,
    )
