"""Which model names the DeepSeek stand-in accepts on a given date, what serves them, and effort mapping.

Model names churn, so this is dated data with its sources, not constants:

- "Your First API Call" (https://api-docs.deepseek.com/quick_start/your_first_api_call): ``deepseek-chat`` and
  ``deepseek-reasoner`` "will be deprecated on 2026/07/24 15:59 UTC" and until then are the non-thinking and
  thinking modes of ``deepseek-v4-flash``.
- The same page, later: "Use ``deepseek-flash``"; "the legacy names ``deepseek-v4-flash`` and
  ``deepseek-v4-flash-vision-exp`` are still accepted, but the corresponding models have been retired; their
  requests are served by DeepSeek-V4.1-Flash". ``deepseek-flash`` is served from 2026-09-10.
- ``deepseek-v4-pro``: one copy of that page announced that from 2026-09-14 04:00 UTC its requests "will all be
  routed to V4.1 Flash and billed at the V4.1 Flash price"; a later copy (https://api-docs.deepseek.com/news/v4-1-flash)
  withdrew it: "we have decided to continue providing API services for DeepSeek V4 Pro after September 14,
  2026, with the billing method remaining unchanged". The withdrawn route is kept below, off by default.

The reply's ``model`` field echoes the requested name: the docs do not say it names what served the call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

_FLASH_V41_FROM = datetime(2026, 9, 10, tzinfo=UTC)
_CHAT_RETIRED = datetime(2026, 7, 24, 15, 59, tzinfo=UTC)
_PRO_ROUTE_FROM = datetime(2026, 9, 14, 4, 0, tzinfo=UTC)


@dataclass(frozen=True)
class ModelRoute:
    """One name over one period: what serves it and whether it forces a thinking mode."""

    name: str
    served_by: str
    since: datetime | None = None
    until: datetime | None = None  # requests at or after this are refused: the name is retired
    thinking: bool | None = None  # a name that selects the mode itself (``deepseek-reasoner``)

    def active(self, now: datetime) -> bool:
        """Whether requests at ``now`` may use this name under this route."""
        return (self.since is None or now >= self.since) and (self.until is None or now < self.until)


ROUTES: tuple[ModelRoute, ...] = (
    ModelRoute("deepseek-v4-flash", "DeepSeek-V4-Flash", until=_FLASH_V41_FROM),
    ModelRoute("deepseek-v4-flash", "DeepSeek-V4.1-Flash", since=_FLASH_V41_FROM),
    ModelRoute("deepseek-v4-flash-vision-exp", "DeepSeek-V4.1-Flash", since=_FLASH_V41_FROM),
    ModelRoute("deepseek-flash", "DeepSeek-V4.1-Flash", since=_FLASH_V41_FROM),
    ModelRoute("deepseek-v4-pro", "DeepSeek-V4-Pro"),
    ModelRoute("deepseek-chat", "DeepSeek-V4-Flash", until=_CHAT_RETIRED, thinking=False),
    ModelRoute("deepseek-reasoner", "DeepSeek-V4-Flash", until=_CHAT_RETIRED, thinking=True),
)
# The announced, then withdrawn, routing of V4 Pro to V4.1 Flash: pass ROUTES_PRO_TO_FLASH to the stand-in
# to simulate it.
ROUTES_PRO_TO_FLASH: tuple[ModelRoute, ...] = (
    *(r for r in ROUTES if r.name != "deepseek-v4-pro"),
    ModelRoute("deepseek-v4-pro", "DeepSeek-V4-Pro", until=_PRO_ROUTE_FROM),
    ModelRoute("deepseek-v4-pro", "DeepSeek-V4.1-Flash", since=_PRO_ROUTE_FROM),
)

# https://api-docs.deepseek.com/guides/thinking_mode: "The mapping between the effort set by the user and the
# model's actual reasoning effort"; an absent effort is high ("the default effort being high").
EFFORTS = {"minimal": "low", "low": "low", "medium": "high", "high": "high", "xhigh": "high", "max": "max",
           "ultra": "max"}


def route_for(name: str, now: datetime, routes: Sequence[ModelRoute] = ROUTES) -> ModelRoute | None:
    """The route serving ``name`` at ``now``; None when the name is unknown or retired then."""
    for route in routes:
        if route.name == name and route.active(now):
            return route
    return None


def retired(name: str, now: datetime, routes: Sequence[ModelRoute] = ROUTES) -> bool:
    """Whether ``name`` was served once and is refused at ``now``."""
    return any(r.name == name for r in routes) and route_for(name, now, routes) is None


def mapped_effort(raw: object) -> str:
    """The effort the model runs at for a requested ``reasoning_effort`` (absent or unknown: high)."""
    return EFFORTS.get(raw, "high") if isinstance(raw, str) else "high"
