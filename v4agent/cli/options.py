"""Option parsing shared by the commands, so that one spelling means one thing everywhere.

``--budget`` takes a token count (``600k``, ``1m``, ``600_000``) or ``none``; ``--max-cost`` a number of USD or
``none``; ``--format`` one of the command's formats, with ``--json`` kept as an alias of ``--format json``;
``--resume [ID]`` an optional session id (no id: the latest session). Commands call these helpers from their
bodies, so a parse error is a ``UsageError`` that names the option and says what it accepts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from v4agent.core.errors import UsageError

__all__ = ["LATEST", "Budget", "output_format", "parse_budget", "parse_max_cost", "resume_id"]

# `--resume` given without an id: the click option's flag value (see `resume_id`).
LATEST = ":latest"


class Budget:
    """A parsed ``--budget``: not given, ``none`` (no limit of the user's own), or a token count."""

    __slots__ = ("given", "tokens")

    def __init__(self, given: bool, tokens: int | None) -> None:
        self.given = given
        self.tokens = tokens

    @property
    def unlimited(self) -> bool:
        """``--budget none``."""
        return self.given and self.tokens is None


def _tokens(text: str) -> int | None:
    cleaned = text.strip().lower().replace("_", "").replace(",", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(cleaned[-1:], 1)
    digits = cleaned[:-1] if scale != 1 else cleaned
    return int(digits) * scale if digits.isdigit() else None


def parse_budget(text: str | None, option: str = "--budget") -> Budget:
    """``None`` (not given), ``none``/``unlimited``, or a count such as 600000, 600_000, 600k, 1m."""
    if text is None:
        return Budget(False, None)
    if text.strip().lower() in ("none", "unlimited"):
        return Budget(True, None)
    tokens = _tokens(text)
    if tokens is None:
        raise UsageError(f"{option}: expected a number of tokens (600000, 600k, 1m) or 'none', got {text!r}")
    return Budget(True, tokens)


def parse_max_cost(text: str | None, option: str = "--max-cost") -> float | None:
    """USD as a number (``1``, ``0.50``, ``$2``), or ``none`` for no cap (infinity); ``None`` when not given."""
    if text is None:
        return None
    cleaned = text.strip().lower().lstrip("$")
    if cleaned in ("none", "unlimited", "inf"):
        return math.inf  # an explicit "no cap" that still overrides the configured default cap
    try:
        value = float(cleaned)
    except ValueError:
        raise UsageError(f"{option}: expected an amount in USD (such as 0.50) or 'none', got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"{option}: expected an amount of 0 or more, got {text!r}")
    return value


def output_format(fmt: str | None, as_json: bool, choices: Sequence[str], default: str) -> str:
    """The one output switch: ``--format`` (checked against ``choices``), ``--json`` as its alias."""
    if as_json:
        if fmt is not None and fmt != "json":
            raise UsageError(f"--json and --format {fmt}: pick one (--json is short for --format json)")
        fmt = "json"
    chosen = default if fmt is None else fmt.strip().lower()
    if chosen not in choices:
        named = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]
        raise UsageError(f"--format must be {named}, not {fmt!r}")
    return chosen


def resume_id(value: str | None) -> str | None:
    """The session to resume from ``--resume [ID]``: None (not resuming), "" (the latest), or an id."""
    if value is None:
        return None
    return "" if value == LATEST else value.strip()
