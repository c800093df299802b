"""The record of one `v4agent refactor` invocation: what its flags asked for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRIME_POLICIES = ("auto", "always", "never")


@dataclass(frozen=True)
class RefactorRequest:
    """`v4agent refactor PATH "task"` as the command line gave it (None: not given, the configuration decides)."""

    path: Path
    task: str = ""
    engine: str | None = None
    model: str | None = None
    base_url: str | None = None
    think: str | None = None
    max_turns: int | None = None
    max_cost: float | None = None
    approve: str | None = None
    yes: bool = False  # short for approve="yes"
    test_cmd: str | None = None
    allow_dirty: bool = False
    branch: str | None = None
    as_json: bool = False
    resume: str | None = None  # a session id
    budget: int | None = None  # pack tokens
    prime: str = "auto"  # one of PRIME_POLICIES
    network: bool = False  # commands may reach the network (the sandbox blocks it otherwise)
    commit: str | None = None  # "turn": a commit per turn that changed files; "end": one at the end
    command: str | None = None  # a custom command's name: the task is its prompt, with ``task`` as $ARGUMENTS
    plan: bool = False  # plan mode: read-only tools, the run ends with a plan
    plan_then_act: bool = False  # plan first, then (the plan accepted) carry it out in the same session
    stream: bool = False  # --format stream-json: one JSON object per line on stdout

    def config_flags(self) -> dict[str, Any]:
        """The flags that override configuration keys (None values leave the configuration's)."""
        return {"engine": self.engine, "model": self.model, "base_url": self.base_url, "think": self.think,
                "max_turns": self.max_turns, "max_cost": self.max_cost,
                "approve": "yes" if self.yes else self.approve, "test_cmd": self.test_cmd,
                "pack.budget": self.budget,
                "sandbox.network": True if self.network else None}
