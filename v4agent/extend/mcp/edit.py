"""Adding and removing MCP server entries in the user's ``config.toml`` and a repository's ``.mcp.json`` (pure).

``config.toml`` is the user's own file: an entry is appended as its own ``[mcp.servers.NAME]`` table, and
removed only when it is written that way (any other form is left for the user to edit, with a message), so
nothing else in the file moves. ``.mcp.json`` is rewritten whole, its other entries kept in order.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from typing import Any

__all__ = ["EditError", "add_json_entry", "add_toml_entry", "entry_table", "remove_json_entry", "remove_toml_entry"]


class EditError(ValueError):
    """The file cannot be changed as asked; the message says why and what to do."""


def _string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string for these characters


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_string(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise EditError(f"cannot write {value!r}")


def entry_table(*, command: str = "", args: list[str] | None = None, env: Mapping[str, str] | None = None,
                url: str = "", headers: Mapping[str, str] | None = None, approve: str = "ask") -> dict[str, Any]:
    """A ``.mcp.json``-shaped entry: stdio when ``command`` is given, else HTTP."""
    entry: dict[str, Any] = {"type": "http", "url": url} if not command else {"command": command}
    if command:
        entry["args"] = list(args or [])
        if env:
            entry["env"] = dict(env)
    elif headers:
        entry["headers"] = dict(headers)
    if approve != "ask":
        entry["approve"] = approve
    return entry


def _servers(text: str) -> dict[str, Any]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EditError(f"the file is not valid TOML ({exc}); fix it first") from None
    mcp = data.get("mcp", {})
    return mcp.get("servers", {}) if isinstance(mcp, dict) and isinstance(mcp.get("servers", {}), dict) else {}


def add_toml_entry(text: str, name: str, entry: Mapping[str, Any]) -> str:
    """``text`` with ``[mcp.servers.NAME]`` appended; EditError when the name is taken."""
    if name in _servers(text):
        raise EditError(f"an MCP server named {name!r} is already configured; remove it first")
    lines = [f"[mcp.servers.{name}]", *(f"{key} = {_value(value)}" for key, value in entry.items())]
    body = text if not text or text.endswith("\n") else text + "\n"
    new = (body + ("\n" if body else "")) + "\n".join(lines) + "\n"
    if name not in _servers(new):  # the header would have been read otherwise (e.g. a dotted [mcp] table)
        raise EditError("the file's layout does not allow appending the entry; add it by hand")
    return new


_HEADER = re.compile(r"^\s*\[")


def remove_toml_entry(text: str, name: str) -> str:
    """``text`` without the ``[mcp.servers.NAME]`` table; EditError when there is none in that form."""
    if name not in _servers(text):
        raise EditError(f"no MCP server named {name!r} in the file")
    lines = text.splitlines(keepends=True)
    header = re.compile(rf"^\s*\[\s*mcp\s*\.\s*servers\s*\.\s*\"?{re.escape(name)}\"?\s*\]\s*(#.*)?$")
    start = next((i for i, line in enumerate(lines) if header.match(line.rstrip("\n"))), None)
    if start is None:
        raise EditError(f"{name!r} is not written as its own [mcp.servers.{name}] table; remove it by hand")
    end = next((i for i in range(start + 1, len(lines)) if _HEADER.match(lines[i])), len(lines))
    while start > 0 and not lines[start - 1].strip():
        start -= 1  # the blank line the entry was appended after
    new = "".join(lines[:start] + lines[end:])
    if name in _servers(new):
        raise EditError(f"{name!r} is also set elsewhere in the file; remove it by hand")
    return new


def _json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise EditError(f"the file is not valid JSON ({exc}); fix it first") from None
    if not isinstance(data, dict) or not isinstance(data.setdefault("mcpServers", {}), dict):
        raise EditError('the file must be a JSON object with "mcpServers": {...}')
    return data


def add_json_entry(text: str, name: str, entry: Mapping[str, Any]) -> str:
    """A ``.mcp.json`` with the entry added."""
    data = _json(text)
    if name in data["mcpServers"]:
        raise EditError(f"an MCP server named {name!r} is already configured; remove it first")
    data["mcpServers"][name] = dict(entry)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def remove_json_entry(text: str, name: str) -> str:
    """A ``.mcp.json`` without the entry."""
    data = _json(text)
    if name not in data["mcpServers"]:
        raise EditError(f"no MCP server named {name!r} in the file")
    del data["mcpServers"][name]
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
