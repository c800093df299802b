"""Choosing the engine a command talks to from the configuration: a remote preset, or the local vLLM.

Every command that talks to a model (refactor, chat, review) opens its engine here, so ``--engine local`` works
the same everywhere. The engine package itself never reads the configuration: this module turns configuration
and command-line overrides into ``EngineSettings`` and hands them to ``engine.client.open_engine``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from v4agent.core.config import Config
from v4agent.engine.client import EngineSettings, RemoteEngine, open_engine, preset_named
from v4agent.engine.deadline import Deadlines
from v4agent.engine.models import check_model, server_models
from v4agent.engine.presets import api_key_for
from v4agent.engine.types import RequestSettings, ThinkLevel
from v4agent.sandbox import SandboxPolicy, make_policy

LOCAL = "local"


def engine_settings(config: Config | None, *, overrides: Mapping[str, Any] | None = None,
                    environ: Mapping[str, str] | None = None) -> EngineSettings:
    """The settings named by overrides, then config, then the preset (keys: engine, model, base_url, think,
    max_tokens, stream, temperature, api_key). Raises EngineError for an unknown preset."""
    over = dict(overrides or {})
    env = os.environ if environ is None else environ

    def pick(key: str, default: Any = "") -> Any:
        if over.get(key) not in (None, ""):
            return over[key]
        if config is not None and key in config.values and config.get(key) not in (None, ""):
            return config.get(key)
        return default

    preset = preset_named(str(pick("engine", "deepseek")))
    return EngineSettings(
        engine=preset.name,
        base_url=str(pick("base_url")),
        # which key goes to which server is the preset's rule: a DeepSeek key never reaches another server
        api_key=str(over.get("api_key") or api_key_for(preset, config, env)),
        model=str(pick("model")),
        max_tokens=int(pick("max_tokens", RequestSettings.max_tokens)),
        think=cast(ThinkLevel, pick("think", "high")),
        stream=bool(over.get("stream", True)),
        temperature=over.get("temperature"),
        deadlines=deadlines(config),
    )


_DEADLINE_KEYS = {"connect_s": "timeout.connect", "first_byte_s": "timeout.first_byte",
                  "first_token_s": "timeout.first_token", "total_s": "timeout.total"}


def deadlines(config: Config | None) -> Deadlines:
    """The per-call deadlines the configuration sets (0 turns one off); the engine's defaults elsewhere."""
    chosen: dict[str, float | None] = {}
    for field_name, key in _DEADLINE_KEYS.items():
        if config is not None and key in config.values:
            seconds = float(config.get(key))
            chosen[field_name] = seconds if seconds > 0 else None
    return Deadlines(**chosen)


def validate_model(settings: EngineSettings) -> None:
    """Refuse an unknown model before any work: ``UnknownModel`` (a usage error) names the ones on offer.

    The preset's own list decides without a network call; another name is looked up in the server's
    ``GET /models`` when the server can be asked (a base URL, and the key where the preset needs one)."""
    preset = preset_named(settings.engine)
    model = settings.model or preset.default_model
    base_url = settings.base_url or preset.base_url
    if not model:
        return  # open_engine says that a model is needed
    askable = bool(base_url) and (bool(settings.api_key) or not preset.key_required)
    check_model(preset, model, (lambda: server_models(base_url, settings.api_key)) if askable else None)


def open_remote_engine(config: Config | None, *, overrides: Mapping[str, Any] | None = None,
                       environ: Mapping[str, str] | None = None) -> RemoteEngine:
    """A preset's RemoteEngine from config/overrides; raises EngineUnreachable with a hint when no key is set,
    and ``UnknownModel`` (a usage error) for a model the engine does not serve."""
    settings = engine_settings(config, overrides=overrides, environ=environ)
    validate_model(settings)
    return open_engine(settings)


def local_sandbox(config: Config, repo_root: Path) -> SandboxPolicy:
    """The sandbox of the local engine's interpreter probe: the configured ``sandbox.*`` keys (no network)."""
    never = [str(config.get("api_key_env"))] if config.get("api_key_env") else []
    return make_policy(repo_root, mode="off" if config.get("sandbox.mode") == "off" else "auto",
                       bwrap=str(config.get("sandbox.bwrap") or ""), env=config.get("sandbox.env"),
                       hide=config.get("sandbox.hide"), never_env=never)


def open_model_engine(config: Config, repo_root: Path, *, overrides: Mapping[str, Any] | None = None) -> RemoteEngine:
    """The engine named by ``overrides``/config: a preset's RemoteEngine, or a started/attached LocalEngine.

    Raises ``EngineError`` subclasses (``EngineUnreachable``, ``LocalEngineError``, start-up errors) with hints.
    The local engine's ``local.python`` probe runs in the sandbox (``local_sandbox``).
    """
    over = dict(overrides or {})
    name = str(over.get("engine") or config.get("engine"))
    if name != LOCAL:
        return open_remote_engine(config, overrides=over)
    from v4agent.engine.local.client import LocalEngine  # the vLLM runtime loads only for a local engine
    from v4agent.engine.local.runtime import start_local_engine

    handle = start_local_engine(config, repo_root, sandbox=local_sandbox(config, Path(repo_root).resolve()))
    try:
        local = {**over, **handle.client_overrides()}
        # A local window is whatever the plan fits: leave most of it to the prompt.
        local.setdefault("max_tokens", int(config.get("local.max_tokens")))
        remote = open_remote_engine(config, overrides=local)
    except BaseException:
        handle.close()
        raise
    return LocalEngine(remote, handle)
