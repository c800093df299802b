"""Cost accounting: dated prices, per-call pricing and metering, the durable ledger, estimates and budgets."""

from v4agent.accounting.budget import BudgetExceeded, BudgetGuard
from v4agent.accounting.cost import CallCost, price_call
from v4agent.accounting.estimate import Estimate, estimate_pack_cost
from v4agent.accounting.ledger import Ledger, LedgerRecord, make_record
from v4agent.accounting.meter import Meter
from v4agent.accounting.prices import PriceTable, PriceTableError, load_price_table, price_table_for
from v4agent.accounting.summary import Totals, group_totals, summarize

__all__ = [
    "BudgetExceeded",
    "BudgetGuard",
    "CallCost",
    "Estimate",
    "Ledger",
    "LedgerRecord",
    "Meter",
    "PriceTable",
    "PriceTableError",
    "Totals",
    "estimate_pack_cost",
    "group_totals",
    "load_price_table",
    "make_record",
    "price_call",
    "price_table_for",
    "summarize",
]
