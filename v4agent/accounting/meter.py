"""One session's per-call accounting: the budget check before a call; pricing, spend and the ledger after it.

The agent loop and the review bot both meter their model calls here, so a call is priced, counted against
``--max-cost`` and written to the project's cost ledger the same way wherever it is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from v4agent.accounting.budget import BudgetGuard
from v4agent.accounting.cost import CallCost, price_call
from v4agent.accounting.ledger import Ledger, make_record
from v4agent.accounting.prices import PriceTable
from v4agent.engine.types import Usage

__all__ = ["Charge", "Meter"]


@dataclass(frozen=True)
class Charge:
    """One priced call: the usage it was priced on, its cost, and where it goes in the ledger."""

    model: str
    turn: int
    usage: Usage
    cost: CallCost
    at: datetime
    duration_s: float


class Meter:
    """Prices one session's calls, keeps its spend against ``max_cost`` and appends each call to the ledger."""

    def __init__(self, table: PriceTable, *, engine: str, max_cost: float | None = None, spent_usd: float = 0.0,
                 ledger: Ledger | None = None, session_id: str = "") -> None:
        self.table = table
        self.engine = engine
        self.ledger = ledger
        self.session_id = session_id
        self.guard = BudgetGuard(table, max_cost, engine=engine, spent_usd=spent_usd)

    @property
    def spent_usd(self) -> float:
        """What this session's calls have cost so far (including what it had spent before a resume)."""
        return self.guard.spent_usd

    def check(self, model: str, *, prompt_tokens: int, expected_hit: int, expected_output: int,
              at: datetime | None = None) -> float:
        """The next call's estimate; raises ``BudgetExceeded`` before a call that would cross ``max_cost``."""
        return self.guard.check(model, prompt_tokens=prompt_tokens, expected_hit=expected_hit,
                                expected_output=expected_output, at=at or datetime.now(UTC))

    def charge(self, model: str, usage: Usage, *, turn: int, duration_s: float = 0.0,
               at: datetime | None = None, served_model: str = "") -> Charge:
        """Price a finished call and add it to the spend (the ledger line is written by ``log``).

        ``model`` is the requested name, ``served_model`` the one the response named: the call is priced by
        what served it where the price table knows that name. A ``usage`` flagged ``estimated`` (the client's own
        count: the server's never arrived) is priced the same, and its ledger line says so."""
        when = at or datetime.now(UTC)
        cost = price_call(self.table, model, usage, when, engine=self.engine, duration_s=duration_s,
                          served_model=served_model)
        self.guard.add(cost.total_usd)
        return Charge(model, turn, usage, cost, when, duration_s)

    def log(self, charge: Charge) -> None:
        """Append the call to the project's cost ledger (`v4agent cost`), when there is one."""
        if self.ledger is None:
            return
        self.ledger.append(make_record(session_id=self.session_id, turn=charge.turn, engine=self.engine,
                                       model=charge.model, usage=charge.usage, at=charge.at, cost=charge.cost,
                                       duration_s=charge.duration_s))

    def record(self, model: str, usage: Usage, *, turn: int, duration_s: float = 0.0,
               at: datetime | None = None, served_model: str = "") -> CallCost:
        """``charge`` then ``log`` in one step, for callers that keep no session record of their own."""
        charge = self.charge(model, usage, turn=turn, duration_s=duration_s, at=at, served_model=served_model)
        self.log(charge)
        return charge.cost
