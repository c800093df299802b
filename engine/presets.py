"""Engine presets and model facts, read from ``v4agent/data/models.toml`` (data, not constants)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from v4agent.core.errors import ExitCode, V4AgentError

ThinkStyle = Literal["deepseek", "chat_template_kwargs", "none"]
_DEFAULT_WINDOW = 131_072  # for a model the data does not know: a conservative window


class UnknownPreset(V4AgentError, ValueError, exit_code=ExitCode.USAGE):
    """No preset of that name; the message lists the known ones."""


@dataclass(frozen=True)
class ModelInfo:
    """What the data says of one model: context window, output limit, and alias dates."""

    name: str
    context_window: int
    max_output: int
    known: bool = True  # False: the data does not know this model and the figures are defaults
    since: date | None = None
    alias_of: str | None = None
    alias_from: date | None = None


@dataclass(frozen=True)
class Preset:
    """One engine: where it listens, the key's environment variable, its models and thinking style."""

    name: str
    base_url: str
    key_env: str
    default_model: str
    think_style: ThinkStyle
    models: tuple[str, ...]
    key_required: bool = False
    description: str = ""


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    text = resources.files("v4agent").joinpath("data/models.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def preset_names() -> list[str]:
    """Names of the shipped presets, in the data file's order."""
    return list(_data()["preset"])


def all_presets() -> list[Preset]:
    """Every shipped preset, in the data file's order."""
    return [get_preset(name) for name in preset_names()]


def get_preset(name: str) -> Preset:
    """The preset called ``name``; raises UnknownPreset listing the known ones."""
    raw = _data()["preset"].get(name)
    if raw is None:
        raise UnknownPreset(f"unknown engine '{name}'; known engines: {', '.join(preset_names())}")
    style = raw.get("think_style", "none")
    if style not in ("deepseek", "chat_template_kwargs", "none"):
        style = "none"
    return Preset(
        name=name,
        base_url=str(raw.get("base_url", "")),
        key_env=str(raw.get("key_env", "")),
        default_model=str(raw.get("default_model", "")),
        think_style=style,
        models=tuple(raw.get("models", ())),
        key_required=bool(raw.get("key_required", False)),
        description=str(raw.get("description", "")),
    )


def model_info(model: str) -> ModelInfo:
    """Window and output limit of ``model``; unknown models get conservative defaults (``known=False``)."""
    raw = _data()["model"].get(model)
    if raw is None:
        return ModelInfo(model, _DEFAULT_WINDOW, _DEFAULT_WINDOW, known=False)
    return ModelInfo(
        name=model,
        context_window=int(raw["context_window"]),
        max_output=int(raw["max_output"]),
        since=raw.get("since"),
        alias_of=raw.get("alias_of"),
        alias_from=raw.get("alias_from"),
    )


def api_key_for(preset: Preset, config: Any, environ: Any) -> str:
    """The key for ``preset``: config ``api_key_env`` or the preset's variable, else a configured ``api_key``.

    ``DEEPSEEK_API_KEY`` also fills the config's ``api_key``; it is only used for a preset that reads that
    variable, so a DeepSeek key is never sent to some other server.
    """
    key_env = (config.get("api_key_env") if config is not None else "") or preset.key_env
    if key_env and environ.get(key_env):
        return str(environ[key_env])
    if config is not None and config.get("api_key"):
        source = str(config.source("api_key"))
        if source != "env DEEPSEEK_API_KEY" or key_env == "DEEPSEEK_API_KEY":
            return str(config.get("api_key"))
    return ""
