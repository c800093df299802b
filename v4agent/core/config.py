"""Layered configuration: defaults < user file < project file < environment < CLI flags.

Every setting is declared once in ``SETTINGS`` with its type, default and help. Each resolved value
remembers where it came from, so ``v4agent config show`` can say so. A bad file is reported with the
file, the key and what is wrong. A repository's own file is applied in full only when the user trusts it
(``v4agent.core.trust``); otherwise only the keys in ``PROJECT_SAFE_KEYS`` apply and the rest are reported.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from v4agent.core.errors import ExitCode, V4AgentError
from v4agent.core.settings import PROJECT_SAFE_KEYS, SETTINGS, Setting
from v4agent.core.settings import SETTINGS_BY_KEY as _BY_KEY
from v4agent.core.trust import (
    EXTENSION_FILES,
    PROJECT_CONFIG_NAME,
    TrustFiles,
    TrustStatus,
    UntrustedProject,
    decide,
    load_store,
    read_trust_files,
    repository_key,
    user_config_dir,
)

__all__ = [
    "EXTENSION_TABLES", "PROJECT_CONFIG_NAME", "PROJECT_SAFE_KEYS", "SETTINGS", "USER_CONFIG_NAME", "Config",
    "ConfigError", "Resolved", "Setting", "UntrustedProject", "coerce", "display_value", "extension_settings",
    "load_config", "mask_secret", "parse_config_bytes",
    "read_config_file", "user_config_path",
]

USER_CONFIG_NAME = "config.toml"
REVIEW_TABLE = "review"
# Tables read by the extensions (``v4agent.extend``), not settings: ``[mcp.servers.NAME]`` and ``[[hooks.EVENT]]``.
# In a project file they are code the repository chose, so they need trust like the keys below.
EXTENSION_TABLES = ("mcp", "hooks")


class ConfigError(V4AgentError, exit_code=ExitCode.USAGE):
    """A configuration value or file is invalid; the message names the source and the key."""


@dataclass(frozen=True)
class Resolved:
    """A setting's value and the layer that gave it."""

    value: Any
    source: str  # "default", a file path, "env NAME" or "flag --name"


@dataclass
class Config:
    """The merged configuration. ``get`` returns values; ``source`` tells where each came from."""

    values: dict[str, Resolved] = field(default_factory=dict)
    untrusted: UntrustedProject | None = None  # the project file's settings that were not applied

    def ignored(self, key: str) -> str | None:
        """The displayed project value of ``key`` when it was ignored for lack of trust; else None."""
        if self.untrusted is None:
            return None
        return dict(self.untrusted.settings).get(key)

    def get(self, key: str) -> Any:
        """The value of ``key``."""
        return self.values[key].value

    def source(self, key: str) -> str:
        """Where ``key``'s value came from: the default, a file path, an environment variable or a flag."""
        return self.values[key].source

    def __getitem__(self, key: str) -> Any:
        return self.get(key)

    def rows(self) -> list[tuple[str, str, str]]:
        """(key, display value with secrets masked, source) for every setting, in declaration order."""
        out = []
        for setting in SETTINGS:
            resolved = self.values[setting.key]
            shown = mask_secret(resolved.value) if setting.secret else _display(resolved.value)
            out.append((setting.key, shown, resolved.source))
        return out


def mask_secret(value: Any) -> str:
    """A secret for display: ``(not set)``, ``****`` when short, else its first 3 and last 4 characters."""
    if not value:
        return "(not set)"
    text = str(value)
    return "****" if len(text) < 12 else f"{text[:3]}…{text[-4:]} (masked)"


def _display(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "[]"
    return str(value) if value != "" else '""'


class _Bad(ValueError):
    """A raw value does not fit its setting's type; the message says what was expected."""


def _as_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    raise _Bad(f"expected true or false, got {raw!r}")


def _as_int(raw: Any) -> int:
    if isinstance(raw, bool) or (isinstance(raw, float) and raw != int(raw)):
        raise _Bad(f"expected an integer, got {raw!r}")
    try:
        return int(str(raw).replace("_", "")) if isinstance(raw, str) else int(raw)
    except (TypeError, ValueError):
        raise _Bad(f"expected an integer, got {raw!r}") from None


def _as_float(raw: Any) -> float:
    if isinstance(raw, bool):
        raise _Bad(f"expected a number, got {raw!r}")
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise _Bad(f"expected a number, got {raw!r}") from None


def _as_list(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [part.strip() for part in raw.split(",") if part.strip()]
    if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        return list(raw)
    raise _Bad(f"expected a list of strings, got {raw!r}")


def _as_str(raw: Any) -> str:
    if not isinstance(raw, str):
        raise _Bad(f"expected a string, got {raw!r}")
    return raw


_PARSERS: dict[type, Callable[[Any], Any]] = {bool: _as_bool, int: _as_int, float: _as_float, list: _as_list}


def coerce(setting: Setting, raw: Any, where: str) -> Any:
    """Turn a raw value (TOML value or environment string) into the setting's type, or raise."""
    if setting.nullable and (raw is None or (isinstance(raw, str) and raw.strip().lower() in {"none", "null"})):
        return None
    try:
        parse: Callable[[Any], Any] = _PARSERS.get(setting.kind, _as_str)
        value = parse(raw)
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            raise _Bad(f"must not be negative, got {value}")
        if setting.choices and value not in setting.choices:
            raise _Bad(f"must be one of {', '.join(setting.choices)}; got {value!r}")
    except _Bad as exc:
        if where.startswith("flag "):  # the option as typed, not the setting behind it
            raise ConfigError(f"{where[5:]}: {exc}", hint="the command's `-h` lists its options and what they accept") from None
        raise ConfigError(f"{where}: key '{setting.key}': {exc}",
                          hint="`v4agent config show` lists every setting and where it came from") from None
    return value


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and dotted not in _BY_KEY:
            flat.update(_flatten(value, prefix=dotted + "."))
        else:
            flat[dotted] = value
    return flat


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse and validate one TOML file into {key: typed value}; raise ConfigError naming the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_config_bytes(data, path)


def parse_config_bytes(data: bytes, path: Path) -> dict[str, Any]:
    """Parse and validate a config file's bytes into {key: typed value}; errors name ``path``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid UTF-8") from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    out: dict[str, Any] = {}
    # ``[review]`` holds the review bot's rules, read from a pull request's base commit by review/rules.py.
    table.pop(REVIEW_TABLE, None)
    settings = {key: value for key, value in table.items() if key not in EXTENSION_TABLES}
    for key, raw in _flatten(settings).items():
        setting = _BY_KEY.get(key)
        if setting is None:
            known = ", ".join(sorted(_BY_KEY))
            raise ConfigError(f"{path}: unknown key '{key}' (known keys: {known})")
        out[key] = coerce(setting, raw, str(path))
    return out


def user_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """The user's config file, under ``$XDG_CONFIG_HOME`` (or ``~/.config``) in ``v4agent/``."""
    return user_config_dir(environ) / USER_CONFIG_NAME


def display_value(key: str, value: Any) -> str:
    """``key``'s value as shown to the user: secrets masked, lists joined, none and empty strings spelled out."""
    return mask_secret(value) if _BY_KEY[key].secret else _display(value)


def extension_settings(files: TrustFiles) -> tuple[tuple[str, str], ...]:
    """The project's MCP servers and hooks, as (key, what it names) for the trust question; () when none."""
    found: list[tuple[str, str]] = []
    data = files.get(PROJECT_CONFIG_NAME)
    try:
        table = tomllib.loads(data.decode("utf-8")) if data is not None else {}
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        table = {}  # parse_config_bytes has already said what is wrong with it
    mcp = table.get("mcp")
    servers = mcp.get("servers") if isinstance(mcp, dict) else None
    if isinstance(servers, dict) and servers:
        found.append(("mcp.servers", ", ".join(sorted(map(str, servers)))))
    hooks = table.get("hooks")
    if isinstance(hooks, dict) and hooks:
        found.append(("hooks", ", ".join(sorted(map(str, hooks)))))
    for name in EXTENSION_FILES:
        raw = files.get(name)
        if raw is not None:
            try:
                servers = json.loads(raw.decode("utf-8")).get("mcpServers")
            except (UnicodeDecodeError, ValueError, AttributeError):
                servers = None
            named = ", ".join(sorted(map(str, servers))) if isinstance(servers, dict) else "unreadable"
            found.append((name, f"MCP servers: {named}"))
    return tuple(found)


def _project_layer(config: Config, root: Path, env: Mapping[str, str], trust: bool | None) -> None:
    """Apply the project file: in full when trusted, else only ``PROJECT_SAFE_KEYS`` (the rest is recorded)."""
    path = root / PROJECT_CONFIG_NAME
    try:
        files = read_trust_files(root)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    data = files.get(PROJECT_CONFIG_NAME)
    values = parse_config_bytes(data, path) if data is not None else {}
    extensions = extension_settings(files)
    if data is None and not extensions:
        return
    held = [key for key in values if key not in PROJECT_SAFE_KEYS] + [key for key, _shown in extensions]
    status: TrustStatus | None = None
    if held and trust is None:  # only a file that needs trust costs a look at the store
        status = decide(load_store(env), repository_key(root), files.fingerprint)
    applies = not held or trust is True or status == "trusted"
    for key, value in values.items():
        if applies or key in PROJECT_SAFE_KEYS:
            config.values[key] = Resolved(value, str(path))
    if not applies:
        settings = tuple((s.key, display_value(s.key, values[s.key])) for s in SETTINGS if s.key in held)
        settings += extensions
        shown = path if data is not None else Path(root) / EXTENSION_FILES[0]
        config.untrusted = UntrustedProject(str(shown), str(root), files.fingerprint, settings, status)


def load_config(
    project_root: Path | None = None,
    *,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    trust: bool | None = None,
) -> Config:
    """Merge every layer. ``flags`` maps setting keys to CLI values; ``None`` values mean 'not given'.

    ``trust`` decides about the project file: None asks the trust store, False never trusts it (only the
    harmless keys apply), True applies it in full.
    """
    env = os.environ if environ is None else environ
    config = Config({s.key: Resolved(s.default, "default") for s in SETTINGS})

    user = user_config_path(env)
    if user.is_file():
        for key, value in read_config_file(user).items():
            config.values[key] = Resolved(value, str(user))
    if project_root is not None:
        _project_layer(config, Path(project_root), env, trust)

    for setting in SETTINGS:
        for name in (*setting.extra_env, setting.env_var):
            raw = env.get(name)
            if raw is not None and raw != "":
                config.values[setting.key] = Resolved(coerce(setting, raw, f"environment {name}"), f"env {name}")

    for key, raw in (flags or {}).items():
        if raw is None:
            continue
        flagged = _BY_KEY.get(key)
        if flagged is None:
            raise ConfigError(f"unknown setting '{key}'")
        flag = "--" + key.split(".")[-1].replace("_", "-")
        config.values[key] = Resolved(coerce(flagged, raw, f"flag {flag}"), f"flag {flag}")
    return config
