"""Which request fields turn thinking on or off for each engine style (DeepSeek's API, vLLM's chat template)."""

from __future__ import annotations

from typing import Any

from v4agent.engine.types import ThinkLevel

__all__ = ["think_params", "thinks"]


def thinks(style: str, think: ThinkLevel) -> bool:
    """Whether requests of this engine style and effort run in thinking mode (unknown styles: only if asked)."""
    return think != "off" and style != "none"


def think_params(style: str, think: ThinkLevel) -> dict[str, Any]:
    """The request fields that select thinking for an engine style (merged into the body)."""
    if style == "deepseek":
        if think == "off":
            return {"thinking": {"type": "disabled"}}
        return {"thinking": {"type": "enabled"}, "reasoning_effort": think}
    if style == "chat_template_kwargs":
        if think == "off":
            return {"chat_template_kwargs": {"thinking": False}}
        # vLLM's DeepSeek-V4 template takes the effort beside the switch; "max" is Think Max (vllm-project/recipes,
        # models/deepseek-ai/DeepSeek-V4-Flash.yaml, "OpenAI Client Example", commit 8959cf64).
        return {"chat_template_kwargs": {"thinking": True, "reasoning_effort": think}}
    return {}
