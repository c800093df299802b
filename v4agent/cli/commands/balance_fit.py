"""Beside a pre-flight estimate: the account's balance, where the provider has an endpoint for it, and whether
the estimate fits in it (#23: "the pre-flight estimate shows the account balance ... and whether the estimate
fits it"). Only the DeepSeek API has a balance endpoint (https://api-docs.deepseek.com/api/get-user-balance);
nothing is asked of a server without a key, or of any other engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from v4agent.accounting.estimate import Estimate
from v4agent.engine.balance import Balance

__all__ = ["balance_fit", "fit_line"]


def fit_line(balance: Balance, estimates: Sequence[Estimate], model: str) -> str:
    """One line: the balance and whether ``model``'s dearest first request (the whole pack as misses) fits."""
    shown = f"account balance: {balance.summary()}"
    if not estimates:
        return shown
    # The configured model's dearest period; a name the price table lists no more (a retired alias): the
    # dearest model it does list, named.
    mine = [e for e in estimates if e.model == model] or estimates
    dearest = max(mine, key=lambda e: e.first_call_usd)
    need, model = dearest.first_call_usd, dearest.model
    usd = [c.total for c in balance.currencies if c.currency.upper() == "USD"]
    if not usd:  # a CNY balance and a USD price table: no exchange rate is data here, so no verdict
        return f"{shown}; the estimate (${need:.4f} for {model}) is in USD: not compared"
    if not balance.available:
        return f"{shown}: the account cannot pay for calls now (top up)"
    fits = Decimal(str(need)) <= usd[0]
    verdict = "fits" if fits else "does NOT fit (top up before running)"
    return f"{shown}; the first request with {model} (${need:.4f} at most) {verdict}"


def balance_fit(config: Any, estimates: Sequence[Estimate]) -> str | None:
    """The balance line for the configured engine, or None where there is no key or no balance endpoint."""
    from v4agent.agent.engine_choice import engine_settings
    from v4agent.engine.balance import fetch_balance
    from v4agent.engine.client import preset_named
    from v4agent.engine.types import EngineError

    try:
        settings = engine_settings(config)
        preset = preset_named(settings.engine)
    except EngineError:
        return None
    if preset.think_style != "deepseek" or not settings.api_key or not estimates:
        return None
    found = fetch_balance(settings.base_url or preset.base_url, settings.api_key)
    if isinstance(found, str):
        return f"account balance: not shown ({found})"
    return fit_line(found, estimates, settings.model or preset.default_model)
