"""The packer: one cache-friendly, token-exact text of a whole repository.

``PackOptions`` and the records load eagerly (light); ``Snapshot`` loads on first use, so importing a
submodule such as ``v4agent.secrets.scan`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from v4agent.pack.options import PackError, PackOptions
from v4agent.pack.records import DeltaBlock, PackedFile, SkippedFile

if TYPE_CHECKING:
    from v4agent.pack.snapshot import Snapshot

__all__ = ["DeltaBlock", "PackError", "PackOptions", "PackedFile", "SkippedFile", "Snapshot"]


def __getattr__(name: str) -> Any:
    if name == "Snapshot":
        from v4agent.pack.snapshot import Snapshot

        return Snapshot
    raise AttributeError(f"module 'v4agent.pack' has no attribute {name!r}")
