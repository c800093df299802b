"""The record of one best-of-N run: each attempt's settings, session, outcome, tests and cost, and the choice.

Written atomically to ``.v4agent/attempts/<group>/manifest.json`` as the run goes, with each attempt's diff
beside it (``<n>.diff``), so `v4agent attempts show` and `apply` work after the worktrees are gone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from v4agent.core.errors import UsageError
from v4agent.core.fsutil import atomic_write_text
from v4agent.refactor.attempts.worktrees import group_dir

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class AttemptResult:
    """One attempt's end: its session, status, turns, tests, cache hits and cost, and its diff's file."""

    number: int
    temperature: float | None
    strategy: str
    session_id: str
    status: str = "pending"  # pending, running, finished, limit, failed, interrupted
    reason: str = ""
    summary: str = ""
    turns: int = 0
    tests: str = "not run"  # pass, fail, none, not run
    prompt_tokens: int = 0
    hit_tokens: int = 0
    first_prompt_tokens: int = 0
    first_hit_tokens: int = 0
    cost_usd: float = 0.0
    changed_files: tuple[str, ...] = ()
    diff_file: str = ""
    subagents: tuple[dict[str, Any], ...] = ()  # its task calls (agent.subagent_rows), under their turns

    @property
    def hit_ratio(self) -> float | None:
        """Cache-hit tokens over prompt tokens across the attempt's calls (None: no call made)."""
        return self.hit_tokens / self.prompt_tokens if self.prompt_tokens else None


@dataclass(frozen=True)
class Selection:
    """Which attempt was chosen (0: none), how (tests, judge, ask) and why; the judge call's cost."""

    chosen: int = 0
    method: str = ""
    reason: str = ""
    cost_usd: float = 0.0
    applied: bool = False
    apply_note: str = ""


@dataclass(frozen=True)
class GroupRecord:
    """The whole run: task, start tree and commit, the priming call's cost, the attempts, the selection."""

    group: str
    task: str
    start_tree: str
    start_commit: str
    prime_cost_usd: float = 0.0
    pack_tokens: int = 0
    attempts: tuple[AttemptResult, ...] = ()
    selection: Selection = field(default_factory=Selection)
    status: str = "running"

    @property
    def total_usd(self) -> float:
        """Everything the run cost: priming, every attempt, the judge."""
        return self.prime_cost_usd + sum(a.cost_usd for a in self.attempts) + self.selection.cost_usd

    def one_attempt_usd(self) -> float:
        """What a single run would have cost: priming plus the first attempt."""
        first = self.attempts[0].cost_usd if self.attempts else 0.0
        return self.prime_cost_usd + first

    def with_attempt(self, result: AttemptResult) -> GroupRecord:
        """The record with attempt ``result.number`` replaced."""
        return replace(self, attempts=tuple(result if a.number == result.number else a for a in self.attempts))

    def attempt(self, number: int) -> AttemptResult:
        """Attempt ``number``; UsageError when the run had no such attempt."""
        for found in self.attempts:
            if found.number == number:
                return found
        raise UsageError(f"run {self.group} has no attempt {number} (it had {len(self.attempts)})")

    def to_json(self) -> dict[str, Any]:
        """The manifest's JSON (and the report's ``attempts`` part)."""
        out = asdict(self)
        out["total_usd"] = round(self.total_usd, 6)
        out["one_attempt_usd"] = round(self.one_attempt_usd(), 6)
        for raw, attempt in zip(out["attempts"], self.attempts, strict=True):
            raw["hit_ratio"] = attempt.hit_ratio
        return out


def save(root: Path, record: GroupRecord) -> None:
    """Write the manifest atomically."""
    atomic_write_text(group_dir(root, record.group) / MANIFEST, json.dumps(record.to_json(), indent=2) + "\n")


def load(root: Path, group: str) -> GroupRecord:
    """Read a run's manifest; UsageError naming the run when it is missing or unreadable."""
    if not group or "/" in group or group.startswith("."):
        raise UsageError(f"not an attempts run id: {group!r}")
    path = group_dir(root, group, create=False) / MANIFEST
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        attempts = tuple(AttemptResult(**{k: v for k, v in a.items() if k != "hit_ratio"} |
                                       {"changed_files": tuple(a.get("changed_files", ())),
                                        "subagents": tuple(a.get("subagents", ()))})
                         for a in raw["attempts"])
        return GroupRecord(group=raw["group"], task=raw["task"], start_tree=raw["start_tree"],
                           start_commit=raw["start_commit"], prime_cost_usd=float(raw["prime_cost_usd"]),
                           pack_tokens=int(raw.get("pack_tokens", 0)), attempts=attempts,
                           selection=Selection(**raw["selection"]), status=str(raw.get("status", "")))
    except FileNotFoundError:
        raise UsageError(f"no attempts run {group} in this repository",
                         hint="`v4agent attempts list` shows the runs kept") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"the manifest of attempts run {group} cannot be read: {exc}") from None


def list_groups(root: Path) -> list[str]:
    """The runs kept in this repository, oldest first."""
    base = group_dir(root, "", create=False)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / MANIFEST).is_file())
