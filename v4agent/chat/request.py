"""The record of one `v4agent chat` invocation: what its flags asked for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ChatRequest:
    """`v4agent chat [PATH] [ID]` as the command line gave it (None: not given, the configuration decides)."""

    targets: tuple[str, ...] = ()  # the positional words: PATH, and with --resume a session id
    engine: str | None = None
    model: str | None = None
    base_url: str | None = None
    think: str | None = None
    approve: str | None = None
    yes: bool = False  # short for approve="yes"
    max_cost: float | None = None
    resume: bool = False
    budget: int | None = None  # pack tokens
    network: bool = False  # commands may reach the network (the sandbox blocks it otherwise)
    stream: bool = False  # --format stream-json (from a pipe): events as JSON lines on stdout

    def config_flags(self) -> dict[str, Any]:
        """The flags that override configuration keys (None values leave the configuration's)."""
        return {"engine": self.engine, "model": self.model, "base_url": self.base_url, "think": self.think,
                "max_cost": self.max_cost, "approve": "yes" if self.yes else self.approve,
                "pack.budget": self.budget,
                "sandbox.network": True if self.network else None}
