"""What to pack and how: the packer's options (a frozen record, so a Snapshot can re-render with the same ones)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from v4agent.core.errors import ExitCode, V4AgentError
from v4agent.tokens.tokenizer import TOKENIZER_NAMES

__all__ = ["FORMATS", "SECRET_POLICIES", "PackError", "PackOptions"]

FORMATS = ("xml", "markdown")
SECRET_POLICIES = ("redact", "skip")


class PackError(V4AgentError, exit_code=ExitCode.USAGE):
    """Bad input to the packer (not a repository, bad option, budget too small): a clear message, no traceback."""


@dataclass(frozen=True)
class PackOptions:
    """How to pack: tokenizer, budget, format, include/exclude/focus globs, size limit, secrets policy."""

    tokenizer: str = "deepseek-v4"
    budget: int | None = None  # None = unlimited
    fmt: Literal["xml", "markdown"] | str = "xml"
    include: tuple[str, ...] = ()  # globs forced in even when classed generated/vendored/lockfile
    exclude: tuple[str, ...] = ()  # globs (or exact paths, or directories) left out
    max_file_bytes: int = 1_000_000
    secrets: Literal["redact", "skip"] | str = "redact"
    focus: tuple[str, ...] = ()  # paths, globs or terms whose files rank higher (degrade last)

    def __post_init__(self) -> None:
        # Callers pass config values (lists, None); normalise so equal options compare and hash equal.
        for name in ("include", "exclude", "focus"):
            value = getattr(self, name)
            if value is None:
                value = ()
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, name, tuple(str(v) for v in value))

    def validate(self) -> None:
        """Raise PackError naming the bad option."""
        if self.tokenizer not in TOKENIZER_NAMES:
            raise PackError(f"unknown tokenizer {self.tokenizer!r}; choose one of {', '.join(TOKENIZER_NAMES)}")
        if self.fmt not in FORMATS:
            raise PackError(f"unknown format {self.fmt!r}; choose one of {', '.join(FORMATS)}")
        if self.secrets not in SECRET_POLICIES:
            raise PackError(f"unknown secrets policy {self.secrets!r}; choose one of {', '.join(SECRET_POLICIES)}")
        if self.budget is not None and (not isinstance(self.budget, int) or self.budget <= 0):
            raise PackError(f"the budget must be a positive number of tokens or none, not {self.budget!r}")
        if not isinstance(self.max_file_bytes, int) or self.max_file_bytes <= 0:
            raise PackError(f"max_file_bytes must be a positive number of bytes, not {self.max_file_bytes!r}")
