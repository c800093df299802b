"""What makes each attempt different: its sampling temperature and an optional strategy hint (pure functions).

The hint goes into the task message, after the cached prefix (system prompt, tools, pack), so every attempt
still hits the whole primed pack; the temperature is a sampling setting, not part of the provider's cache key.
"""

from __future__ import annotations

from dataclasses import dataclass

from v4agent.core.errors import UsageError

# Spread across the range DeepSeek accepts (0 to 2); the first attempt keeps the engine's own default.
_TEMPERATURES: tuple[float | None, ...] = (None, 0.3, 1.0, 0.6, 1.3, 0.0, 0.8, 1.5)
MAX_ATTEMPTS = 16
SELECTIONS = ("tests", "judge", "ask")


@dataclass(frozen=True)
class AttemptSpec:
    """One attempt's settings: its number (1-based), temperature (None: the engine's) and strategy hint."""

    number: int
    temperature: float | None
    strategy: str = ""
    group_size: int = 1  # attempts in the run: ``--max-cost`` is shared among them

    def to_json(self) -> dict[str, object]:
        """The settings as the group manifest records them."""
        return {"number": self.number, "temperature": self.temperature, "strategy": self.strategy}


def parse_strategies(raw: str | None) -> list[str]:
    """``"a;b;c"`` as a list of hints (empty parts dropped)."""
    return [part.strip() for part in (raw or "").split(";") if part.strip()]


def plan_attempts(count: int, strategies: list[str]) -> list[AttemptSpec]:
    """``count`` attempts, temperatures spread, hints given in turn (cycled when fewer than attempts)."""
    if not 1 <= count <= MAX_ATTEMPTS:
        raise UsageError(f"--attempts must be between 1 and {MAX_ATTEMPTS}, not {count}")
    return [AttemptSpec(n + 1, _TEMPERATURES[n % len(_TEMPERATURES)],
                        strategies[n % len(strategies)] if strategies else "", count) for n in range(count)]


def attempt_task(task: str, spec: AttemptSpec) -> str:
    """The task as this attempt sees it: the hint, if any, appended after the user's words."""
    if not spec.strategy:
        return task
    return f"{task}\n\nStrategy for this attempt: {spec.strategy}"


def default_parallel(limit: int, count: int) -> int:
    """How many attempts run at once: the engine's concurrency limit, never more than the attempts."""
    return max(1, min(limit, count))
