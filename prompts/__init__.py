"""System prompts and templates, shipped as package data (``v4agent.prompts``)."""

from __future__ import annotations

from importlib import resources


def load_prompt(name: str) -> str:
    """Return the text of a shipped prompt file, e.g. ``load_prompt("system.md")``."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
