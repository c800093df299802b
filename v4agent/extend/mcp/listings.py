"""The last tool listing of each MCP server, kept in the user's cache so a server that is down still offers the
same tools (they answer errors): the tool schemas sit at the head of every request, so a listing that came and
went between sessions would make the next session miss the whole cached prefix, the pack included.

Keyed by a hash of what identifies the server (name, transport, command and arguments, or URL); never its
environment or headers, which may hold secrets. Written atomically; an unreadable entry counts as none.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from v4agent.core.fsutil import atomic_write_text
from v4agent.core.state import user_cache_dir
from v4agent.extend.mcp.config import McpServerSpec

__all__ = ["cache_dir", "load_listing", "save_listing"]

_VERSION = 1


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/v4agent/mcp-tools`` (or ``~/.cache/...``)."""
    return user_cache_dir("mcp-tools", environ=environ)


def _key(spec: McpServerSpec) -> str:
    ident = json.dumps([spec.name, spec.transport, spec.command, list(spec.args), spec.url, spec.scope])
    return hashlib.sha256(ident.encode("utf-8")).hexdigest()[:32]


def _record(tool: Any) -> dict[str, Any]:
    hints = getattr(tool, "annotations", None)
    return {"name": getattr(tool, "name", ""), "description": getattr(tool, "description", None) or "",
            "input_schema": getattr(tool, "input_schema", None),
            "read_only": bool(getattr(hints, "read_only_hint", False))}


def save_listing(directory: Path, spec: McpServerSpec, tools: list[Any]) -> None:
    """Keep ``tools`` as the server's last listing (only when it changed: no write per session)."""
    # the schemas keep their key order: it is the order their bytes are sent in
    text = json.dumps({"version": _VERSION, "tools": [_record(t) for t in tools]})
    path = directory / f"{_key(spec)}.json"
    try:
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            return
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text, mode=0o600)
    except (OSError, UnicodeDecodeError):
        return  # a cache: a failure to keep it only costs the next session its stability when the server is down


def load_listing(directory: Path, spec: McpServerSpec) -> list[Any]:
    """The server's last listing, as objects shaped like the SDK's tools; [] when none."""
    try:
        data = json.loads((directory / f"{_key(spec)}.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return []
    if not isinstance(data, dict) or data.get("version") != _VERSION or not isinstance(data.get("tools"), list):
        return []
    tools = []
    for item in data["tools"]:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            hints = SimpleNamespace(read_only_hint=bool(item.get("read_only")))
            tools.append(SimpleNamespace(name=item["name"], description=str(item.get("description") or ""),
                                         input_schema=item.get("input_schema"), annotations=hints))
    return tools
