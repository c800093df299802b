"""Choosing among attempts (pure): the candidates (tests pass first), the judge's request and its answer.

Candidates are the attempts that finished with a change and passing tests; when no test command exists, those
that finished with a change. The judge sees the same cached prefix as the attempts (system, tools, pack), then
one message with the task and each candidate's diff, and answers ``{"choice": N, "reason": "..."}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from v4agent.refactor.attempts.manifest import AttemptResult

_DIFF_CHARS = 60_000  # per candidate in the judge's message: enough for a refactor, bounded for many attempts
_CHOICE = re.compile(r"\{[^{}]*\"choice\"[^{}]*\}", re.DOTALL)


@dataclass(frozen=True)
class Verdict:
    """The judge's pick (0: unreadable) and its reason."""

    choice: int
    reason: str


def candidates(attempts: Sequence[AttemptResult]) -> list[AttemptResult]:
    """The attempts worth choosing: finished with a change, tests passing (or no tests to run)."""
    done = [a for a in attempts if a.status == "finished" and a.changed_files]
    passing = [a for a in done if a.tests == "pass"]
    if passing:
        return passing
    return [a for a in done if a.tests == "none"]


def by_tests(pool: Sequence[AttemptResult]) -> tuple[int, str]:
    """The ``tests`` policy: the cheapest passing attempt (ties: the lower number)."""
    if not pool:
        return 0, "no attempt finished with a change whose tests pass"
    best = min(pool, key=lambda a: (a.cost_usd, a.number))
    passing = "its tests pass" if best.tests == "pass" else "no test command, it finished with a change"
    return best.number, f"attempt {best.number}: {passing}; the cheapest of {len(pool)} such"


def judge_message(task: str, pool: Sequence[AttemptResult], diffs: dict[int, str]) -> str:
    """The judge's question, appended after the cached prefix."""
    parts = [
        "Several independent attempts carried out the task below on the repository above. Each one's tests pass. "
        "Pick the one change you would merge: correct, complete, smallest for what it does, in the code's style.",
        f"Task:\n{task}",
    ]
    for a in pool:
        diff = diffs.get(a.number, "")
        if len(diff) > _DIFF_CHARS:
            diff = diff[:_DIFF_CHARS] + f"\n… ({len(diff) - _DIFF_CHARS} more characters)"
        parts.append(f"=== attempt {a.number} ===\n{diff}")
    numbers = ", ".join(str(a.number) for a in pool)
    parts.append(f'Answer with one JSON object and nothing else: {{"choice": <one of {numbers}>, '
                 '"reason": "<one or two sentences>"}. Do not call any tool.')
    return "\n\n".join(parts)


def parse_verdict(text: str, allowed: Sequence[int]) -> Verdict:
    """The judge's answer; choice 0 when it names no allowed attempt."""
    for found in reversed(_CHOICE.findall(text or "")):
        try:
            raw = json.loads(found)
            choice = int(raw.get("choice", 0))
        except (ValueError, TypeError, AttributeError):
            continue
        if choice in allowed:
            return Verdict(choice, " ".join(str(raw.get("reason", "")).split())[:500])
    return Verdict(0, "")
