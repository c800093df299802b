"""What a cache-breaking chat action costs, said before doing it (pure).

Changing the model or the thinking effort starts a new provider cache; /add and /drop rewrite the pack
message near the start of the prefix. Either way the next call re-sends the whole conversation as cache
misses instead of hits: the extra cost is (miss rate - hit rate) x the tokens that would have hit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from v4agent.accounting import PriceTable, price_call
from v4agent.engine.types import Usage


@dataclass(frozen=True)
class MissCost:
    """The next call's input priced as all misses and as all hits."""

    tokens: int  # prompt tokens re-sent as misses
    miss_usd: float  # the next call's input, all misses
    hit_usd: float  # the same input had it hit
    price_entry: str

    @property
    def extra_usd(self) -> float:
        """Dollars the cache miss adds over a hit (never negative)."""
        return max(0.0, self.miss_usd - self.hit_usd)


def miss_cost(table: PriceTable, model: str, tokens: int, at: datetime, *, engine: str = "deepseek") -> MissCost:
    """The next call's input priced as all misses, and as all hits, on ``model`` at ``at``."""
    miss = price_call(table, model, Usage(tokens, 0, cache_hit=0, cache_miss=tokens), at, engine=engine)
    hit = price_call(table, model, Usage(tokens, 0, cache_hit=tokens, cache_miss=0), at, engine=engine)
    return MissCost(tokens, miss.total_usd, hit.total_usd, miss.price_entry)


def miss_warning(action: str, cost: MissCost) -> str:
    """One line: what the action does to the cache and what that costs."""
    return (f"{action} starts a new cache: the next call re-sends {cost.tokens:,} tokens as cache misses, "
            f"${cost.miss_usd:.4f} instead of ${cost.hit_usd:.4f} (+${cost.extra_usd:.4f}; {cost.price_entry})")
