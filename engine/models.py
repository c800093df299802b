"""Which model names an engine accepts: the preset's data first, else the server's ``GET /models`` list.

A wrong ``--model`` (say ``gpt-4o`` against DeepSeek) must stop a command before it packs the repository, as
a usage error that names the models on offer. Names churn (``deepseek-flash`` arrived in September 2026), so a
name the data does not know is checked against the server's own list
(https://api-docs.deepseek.com/api/list-models) before it is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import httpx2

from v4agent.core.errors import UsageError
from v4agent.engine.presets import Preset, model_info

__all__ = ["UnknownModel", "check_model", "server_models"]

_LIST_TIMEOUT_S = 15.0


class UnknownModel(UsageError):
    """The model is not one the engine serves; the message lists the ones it does."""


def server_models(base_url: str, api_key: str, *, timeout_s: float = _LIST_TIMEOUT_S) -> list[str] | None:
    """The ids ``GET {base_url}/models`` lists, or None when the list cannot be had (no route, no answer)."""
    url = base_url.rstrip("/") + "/models"
    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    try:
        response = httpx2.get(url, headers=headers, timeout=timeout_s)
    except httpx2.HTTPError:
        return None
    if response.status_code != 200:
        return None
    try:
        data = json.loads(response.content).get("data")
    except (ValueError, AttributeError):
        return None
    if not isinstance(data, list):
        return None
    return [str(item["id"]) for item in data if isinstance(item, dict) and item.get("id")]


def check_model(preset: Preset, model: str, listed: Callable[[], Sequence[str] | None] | None) -> None:
    """Raise ``UnknownModel`` unless the preset names ``model`` or ``listed()`` (the server's list; None where
    it cannot be asked) has it.

    When the server cannot be asked, a preset with a model list of its own decides; one without (an arbitrary
    OpenAI-compatible server) lets a name the model data knows through, and then any name: the server's
    answer to the first call decides.
    """
    if model in preset.models or (not preset.models and model_info(model).known):
        return
    served = listed() if listed is not None else None
    if served is not None and model in served:
        return
    names = list(served) if served else list(preset.models)
    if not names:
        return
    source = "the server lists" if served else f"engine '{preset.name}' knows"
    raise UnknownModel(f"unknown model '{model}': {source} {', '.join(sorted(names))}",
                       hint="pick one of them with --model (or set model in .v4agent.toml)")
