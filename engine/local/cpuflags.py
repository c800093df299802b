"""What this host's CPU offers that changes how vLLM's CPU backend runs: AMX, read from /proc/cpuinfo."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

__all__ = ["has_amx", "host_has_amx"]


def has_amx(flags: Iterable[str]) -> bool:
    """Whether CPU ``flags`` (as /proc/cpuinfo lists them) include AMX with bf16, the tiles vLLM's AMX MLA uses."""
    return "amx_bf16" in set(flags)


@cache
def host_has_amx(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this machine's CPU has AMX bf16 (False where /proc/cpuinfo cannot be read)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "flags":
            return has_amx(value.split())
    return False
