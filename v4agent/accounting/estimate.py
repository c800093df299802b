"""Pre-flight estimate: what a pack of N tokens costs to send, per model, at peak and off-peak (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from v4agent.accounting.cost import cost_from_rates
from v4agent.accounting.prices import PriceTable, Rates
from v4agent.engine.types import Usage


@dataclass(frozen=True)
class Estimate:
    """A pack's cost with one model in one price period: first as misses, then again as cache hits."""

    model: str
    peak: bool  # False also where the entry has one rate all day (then ``all_day`` is True)
    first_call_usd: float  # the whole pack as cache misses
    cached_followup_usd: float  # the same pack again, all hits (the follow-up's new tokens not included)
    price_entry: str
    all_day: bool = False
    requested_as: tuple[str, ...] = ()  # the model names billed as ``model`` (the entry's aliases)

    @property
    def label(self) -> str:
        """The model as a table row names it: the billed name, and the names a request may use for it."""
        return f"{self.model} (= {', '.join(self.requested_as)})" if self.requested_as else self.model


def estimate_pack_cost(
    table: PriceTable, tokens: int, at: datetime, *, engine: str = "deepseek", output_tokens: int = 0
) -> list[Estimate]:
    """One row per model (and per peak/off-peak where the entry in force distinguishes them)."""
    entry = table.entry_at(at, engine)
    if entry is None:
        return []
    first = Usage(prompt_tokens=tokens, output_tokens=output_tokens, cache_hit=0, cache_miss=tokens)
    again = Usage(prompt_tokens=tokens, output_tokens=output_tokens, cache_hit=tokens, cache_miss=0)
    out: list[Estimate] = []
    for model, prices in sorted(entry.models.items()):
        variants = [(True, prices.peak), (False, prices.offpeak)] if entry.has_peak_rule else [(False, prices.peak)]
        for peak, rates in variants:
            out.append(Estimate(
                model=model,
                peak=peak,
                first_call_usd=_total(first, rates),
                cached_followup_usd=_total(again, rates),
                price_entry=entry.id,
                all_day=not entry.has_peak_rule,
                requested_as=tuple(sorted(name for name, billed in entry.aliases.items() if billed == model)),
            ))
    return out


def _total(usage: Usage, rates: Rates) -> float:
    hit, miss, output, _saved, _unknown = cost_from_rates(usage, rates)
    return float(round(hit + miss + output, 10))

