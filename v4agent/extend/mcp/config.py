"""MCP server entries: ``[mcp.servers.NAME]`` tables of the config files and a repository's ``.mcp.json``.

The keys are those of a ``.mcp.json`` entry as Claude Code documents it (https://code.claude.com/docs/en/mcp,
"Project scope": ``{"mcpServers": {NAME: {"command", "args", "env"} | {"type": "http", "url", "headers"}}}``;
``type`` may be omitted for stdio), so an existing file works unchanged. ``${VAR}`` and ``${VAR:-default}`` in
``command``, ``args``, ``env``, ``url`` and ``headers`` expand from the environment, as Claude Code does there.
v4agent's own keys: ``approve`` (``ask``, the default, or ``allow``: calls to the server's tools without asking)
and ``network`` (a project stdio server runs in the sandbox, offline unless this is true).

Parsing is pure: the files are read by ``load.py``; a bad entry is a warning naming it, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["MCP_JSON", "McpServerSpec", "Scope", "expand", "parse_servers", "valid_name"]

MCP_JSON = ".mcp.json"
Scope = Literal["user", "project"]
Transport = Literal["stdio", "http"]
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_HTTP_TYPES = ("http", "streamable-http", "streamable_http")
_KEYS = {"type", "command", "args", "env", "url", "headers", "approve", "network", "cwd"}


@dataclass(frozen=True)
class McpServerSpec:
    """One server as configured: how to reach it, where the entry came from, and its approval."""

    name: str
    transport: Transport
    scope: Scope
    source: str  # the file the entry is in
    command: str = ""
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    url: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    approve: Literal["ask", "allow"] = "ask"
    network: bool = False

    @property
    def sandboxed(self) -> bool:
        """A repository's stdio server is code the repository chose: it runs in the sandbox."""
        return self.scope == "project" and self.transport == "stdio"

    def describe(self) -> str:
        """One line: the command or URL (header values left out: they often hold tokens)."""
        if self.transport == "http":
            return f"http {self.url}" + (f" (headers: {', '.join(k for k, _ in self.headers)})" if self.headers else "")
        return " ".join([self.command, *self.args])


def valid_name(name: str) -> bool:
    """Server names become part of tool names: letters, digits, ``_`` and ``-`` only, and no ``__``."""
    return bool(_NAME.match(name)) and "__" not in name


def expand(text: str, environ: Mapping[str, str]) -> str:
    """``${VAR}`` and ``${VAR:-default}`` from ``environ``; an unset variable without a default becomes empty."""
    return _VAR.sub(lambda m: environ.get(m.group(1)) or (m.group(2) if m.group(2) is not None else ""), text)


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} must be a list of strings")
    return tuple(value)


def _pairs(value: Any, what: str, environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError(f"{what} must be a table of strings")
    return tuple((k, expand(v, environ)) for k, v in sorted(value.items()))


def _one(name: str, entry: Any, scope: Scope, source: str, environ: Mapping[str, str]) -> McpServerSpec:
    if not valid_name(name):
        raise ValueError("the name may hold only letters, digits, '_' and '-' (no '__'), at most 40")
    if not isinstance(entry, dict):
        raise ValueError("an entry must be a table")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}")
    kind = entry.get("type", "stdio" if "command" in entry else "http" if "url" in entry else "stdio")
    approve = entry.get("approve", "ask")
    if approve not in ("ask", "allow"):
        raise ValueError("approve must be ask or allow")
    network = entry.get("network", False)
    if not isinstance(network, bool):
        raise ValueError("network must be true or false")
    if kind in _HTTP_TYPES:
        url = entry.get("url")
        if not isinstance(url, str) or not re.match(r"^https?://", expand(url, environ)):
            raise ValueError("an http server needs url = \"http(s)://...\"")
        return McpServerSpec(name, "http", scope, source, url=expand(url, environ),
                             headers=_pairs(entry.get("headers", {}), "headers", environ), approve=approve)
    if kind != "stdio":
        raise ValueError(f"type {kind!r} is not supported (stdio or http; SSE is deprecated in MCP)")
    command = entry.get("command")
    if not isinstance(command, str) or not command.strip():
        raise ValueError("a stdio server needs command")
    args = tuple(expand(a, environ) for a in _strings(entry.get("args", []), "args"))
    return McpServerSpec(name, "stdio", scope, source, command=expand(command, environ), args=args,
                         env=_pairs(entry.get("env", {}), "env", environ), approve=approve, network=network)


def parse_servers(table: Any, scope: Scope, source: str,
                  environ: Mapping[str, str]) -> tuple[list[McpServerSpec], list[str]]:
    """The servers of one ``{NAME: entry}`` table, and a warning for each entry left out."""
    if table is None:
        return [], []
    if not isinstance(table, dict):
        return [], [f"{source}: the MCP servers must be a table of NAME = {{...}} entries"]
    specs: list[McpServerSpec] = []
    warnings: list[str] = []
    for name in sorted(table):
        try:
            specs.append(_one(str(name), table[name], scope, source, environ))
        except ValueError as exc:
            warnings.append(f"{source}: MCP server {name!r} left out: {exc}")
    return specs, warnings
