"""Checks a command runs on its configuration before any work: a bad value is a usage error up front, not
after a pack and a cost table."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from v4agent.core.errors import UsageError

__all__ = ["check_engine_settings"]


def check_engine_settings(path: Path, flags: Mapping[str, Any]) -> None:
    """Load the merged configuration for ``path`` (ConfigError for a bad value) and refuse an unknown engine."""
    if not path.is_dir():
        return  # the command says what is wrong with the path itself
    from v4agent.core.config import load_config
    from v4agent.engine.presets import preset_names

    config = load_config(path.resolve(), flags=flags)
    engine = str(config.get("engine"))
    known = [*preset_names(), "local"]
    if engine not in known:
        source = config.source("engine")
        raise UsageError(f"unknown engine {engine!r} (from {source})",
                         hint=f"choose one of {', '.join(known)}; `v4agent engine list` shows them")
