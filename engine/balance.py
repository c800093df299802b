"""The account balance where the provider has an endpoint for it: DeepSeek's ``GET /user/balance``.

Documented at https://api-docs.deepseek.com/api/get-user-balance: ``{"is_available": bool, "balance_infos":
[{"currency", "total_balance", "granted_balance", "topped_up_balance"}]}``, the amounts as decimal strings.
Only the DeepSeek API has it; other OpenAI-compatible servers (vLLM, SGLang) answer 404, which reads as "no
balance endpoint", not as a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

BALANCE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class CurrencyBalance:
    """One currency's balance: the total, and how much of it was granted or topped up."""

    currency: str
    total: Decimal
    granted: Decimal
    topped_up: Decimal


@dataclass(frozen=True)
class Balance:
    """The account's balance: whether it can pay for API calls, and an entry per currency."""

    available: bool
    currencies: tuple[CurrencyBalance, ...]

    def summary(self) -> str:
        """One line for a table, e.g. ``"USD 10.00"`` or ``"USD 0.00 (unavailable)"``."""
        shown = ", ".join(f"{c.currency} {c.total:.2f}" for c in self.currencies) or "none"
        return shown if self.available else f"{shown} (unavailable)"


def balance_url(base_url: str) -> str:
    """``{base}/user/balance``, with an OpenAI-style ``/v1`` suffix dropped (DeepSeek serves both)."""
    base = base_url.rstrip("/")
    return (base[:-3] if base.endswith("/v1") else base) + "/user/balance"


def _amount(raw: Any) -> Decimal:
    try:
        return Decimal(str(raw))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def parse_balance(body: Any) -> Balance | None:
    """The balance in a ``/user/balance`` body; None when the body is not one."""
    if not isinstance(body, Mapping) or not isinstance(body.get("balance_infos"), list):
        return None
    infos = [i for i in body["balance_infos"] if isinstance(i, Mapping)]
    currencies = tuple(CurrencyBalance(str(i.get("currency", "?")), _amount(i.get("total_balance")),
                                       _amount(i.get("granted_balance")), _amount(i.get("topped_up_balance")))
                       for i in infos)
    return Balance(bool(body.get("is_available", True)), currencies)


def fetch_balance(base_url: str, api_key: str, *, timeout: float = BALANCE_TIMEOUT_S) -> Balance | str:
    """The balance, or a short reason why none is shown ("no balance endpoint", "HTTP 401", "timed out")."""
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"} if api_key else {}
    try:
        response = httpx.get(balance_url(base_url), headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        return "timed out"
    except httpx.HTTPError as exc:
        return type(exc).__name__
    if response.status_code == 404:
        return "no balance endpoint"
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    try:
        parsed = parse_balance(response.json())
    except ValueError:
        parsed = None
    return parsed if parsed is not None else "not a balance"
