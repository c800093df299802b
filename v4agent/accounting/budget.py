"""``--max-cost``: refuse a call whose estimated cost would push the session past the limit (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from v4agent.accounting.cost import price_call
from v4agent.accounting.prices import PriceTable
from v4agent.core.errors import ExitCode, V4AgentError
from v4agent.engine.types import Usage


class BudgetExceeded(V4AgentError, exit_code=ExitCode.LIMIT_REACHED):
    """The next call would cross ``--max-cost``; raised before the call is sent."""


@dataclass
class BudgetGuard:
    """Tracks a session's spend against ``max_cost`` (None = no limit)."""

    table: PriceTable
    max_cost: float | None
    engine: str = "deepseek"
    spent_usd: float = 0.0

    def estimate(self, model: str, *, prompt_tokens: int, expected_hit: int, expected_output: int,
                 at: datetime) -> float:
        """Estimated cost of the next call: ``expected_hit`` of the prompt from cache, the rest misses."""
        hit = max(0, min(expected_hit, prompt_tokens))
        usage = Usage(prompt_tokens, expected_output, cache_hit=hit, cache_miss=prompt_tokens - hit)
        return price_call(self.table, model, usage, at, engine=self.engine).total_usd

    def check(self, model: str, *, prompt_tokens: int, expected_hit: int, expected_output: int,
              at: datetime) -> float:
        """Return the estimate, or raise BudgetExceeded if spending it would cross the limit."""
        estimate = self.estimate(model, prompt_tokens=prompt_tokens, expected_hit=expected_hit,
                                 expected_output=expected_output, at=at)
        if self.max_cost is not None and self.spent_usd + estimate > self.max_cost:
            raise BudgetExceeded(
                f"stopped before the next call: spent ${self.spent_usd:.4f} so far, the next call is estimated "
                f"at ${estimate:.4f}, which would cross --max-cost ${self.max_cost:.4f}",
                hint="raise --max-cost (or max_cost in .v4agent.toml), or continue with a cheaper model",
            )
        return estimate

    def add(self, cost_usd: float) -> None:
        """Count ``cost_usd`` as spent."""
        self.spent_usd += cost_usd
