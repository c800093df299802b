"""Reading the MCP server entries: the user's config file always, the repository's only when it is trusted.

Precedence: a user entry wins over a repository's entry of the same name (a repository cannot replace a server
the user set up); within a repository, ``.v4agent.toml`` wins over ``.mcp.json``.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from v4agent.core.config import PROJECT_CONFIG_NAME, user_config_path
from v4agent.extend.mcp.config import MCP_JSON, McpServerSpec, Scope, parse_servers
from v4agent.sandbox.policy import ALWAYS_NEVER_ENV

__all__ = ["McpSetup", "config_tables", "load_servers"]


@dataclass(frozen=True)
class McpSetup:
    """The servers a session starts, and what was left out and why."""

    servers: tuple[McpServerSpec, ...]
    warnings: tuple[str, ...]


def config_tables(path: Path) -> tuple[dict[str, Any], str]:
    """A TOML file's top-level tables ({} when absent), and a warning when it cannot be read."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}, ""
    except OSError as exc:
        return {}, f"{path}: cannot read: {exc.strerror or exc}"
    try:
        return tomllib.loads(data.decode("utf-8")), ""
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, f"{path}: {exc}"


def _toml_servers(path: Path, scope: Scope, environ: Mapping[str, str]) -> tuple[list[McpServerSpec], list[str]]:
    tables, problem = config_tables(path)
    if problem:
        return [], [problem]
    mcp = tables.get("mcp")
    if mcp is None:
        return [], []
    if not isinstance(mcp, dict):
        return [], [f"{path}: [mcp] must be a table"]
    return parse_servers(mcp.get("servers"), scope, str(path), environ)


def _json_servers(path: Path, environ: Mapping[str, str]) -> tuple[list[McpServerSpec], list[str]]:
    if not path.is_file():
        return [], []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return [], [f"{path}: not readable JSON: {exc}"]
    table = data.get("mcpServers") if isinstance(data, dict) else None
    return parse_servers(table if table is not None else {}, "project", str(path), environ)


def load_servers(root: Path | None, *, project_trusted: bool,
                 environ: Mapping[str, str] | None = None) -> McpSetup:
    """Every server this session may start, sorted by name; ``root`` None or untrusted: the user's only."""
    env = os.environ if environ is None else environ
    found: dict[str, McpServerSpec] = {}
    warnings: list[str] = []
    user, said = _toml_servers(user_config_path(env), "user", env)
    warnings += said
    sources = [user]
    if root is not None and project_trusted:
        # A repository's entry never expands the engine's key or GitHub's tokens (into a header to its own URL).
        held = {name: value for name, value in env.items() if name not in ALWAYS_NEVER_ENV}
        own, said = _toml_servers(root / PROJECT_CONFIG_NAME, "project", held)
        shared, said_json = _json_servers(root / MCP_JSON, held)
        warnings += said + said_json
        sources += [own, shared]
    for specs in sources:
        for spec in specs:
            kept = found.get(spec.name)
            if kept is None:
                found[spec.name] = spec
            elif kept.source != spec.source:
                warnings.append(f"{spec.source}: MCP server {spec.name!r} left out: {kept.source} names one too")
    return McpSetup(tuple(found[name] for name in sorted(found)), tuple(warnings))
