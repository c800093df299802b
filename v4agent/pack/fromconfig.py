"""Packer options from the merged configuration: one place for every command (pack, refactor, chat, review).

The default budget is the model's window less ``pack.reserve``, so the pack always leaves room for the
conversation; an explicit budget (flag or ``pack.budget``) wins, and ``unlimited`` packs everything.
"""

from __future__ import annotations

from collections.abc import Sequence

from v4agent.core.config import Config
from v4agent.engine.presets import UnknownPreset, get_preset, model_info
from v4agent.pack.options import PackOptions

_MIN_BUDGET = 16_384
_FALLBACK_WINDOW = 1_048_576


def configured_model(config: Config) -> str:
    """The model a command will talk to: ``model`` if set, else the engine preset's default."""
    model = str(config.get("model") or "")
    if model:
        return model
    try:
        return get_preset(str(config.get("engine"))).default_model
    except UnknownPreset:
        return ""


def default_budget(config: Config, model: str | None = None) -> int:
    """The default pack budget: the model's context window less ``pack.reserve``, never below a floor."""
    model = model or configured_model(config)
    window = model_info(model).context_window if model else _FALLBACK_WINDOW
    return max(_MIN_BUDGET, window - int(config.get("pack.reserve")))


def pack_options_from_config(
    config: Config,
    *,
    model: str | None = None,
    budget: int | None = None,
    unlimited: bool = False,
    fmt: str = "xml",
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    focus: Sequence[str] = (),
) -> PackOptions:
    """Options for ``Snapshot.build``: config values, extended by the command's own globs and focus."""
    if unlimited:
        size: int | None = None
    elif budget is not None:
        size = budget
    else:
        configured = config.get("pack.budget")
        size = int(configured) if configured is not None else default_budget(config, model)
    return PackOptions(
        tokenizer=str(config.get("pack.tokenizer")),
        budget=size,
        fmt=fmt,
        include=(*config.get("pack.include"), *include),
        exclude=(*config.get("pack.exclude"), *exclude),
        max_file_bytes=int(config.get("pack.max_file_bytes")),
        secrets=str(config.get("pack.secrets")),
        focus=tuple(focus),
    )
