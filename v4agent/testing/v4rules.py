"""The request rules the stand-in enforces, each with its source, and the errors it answers in their wording.

DeepSeek's error body is ``{"error": {"message", "type", "param", "code"}}`` (quoted in client issues, e.g.
https://github.com/anomalyco/opencode/issues/25758).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from v4agent.testing.records import ApiError
from v4agent.testing.v4models import ModelRoute, retired, route_for
from v4agent.testing.wire import Mode

MAX_OUTPUT = 393_216  # 384K output tokens for the V4 models
_ROLES = {"system", "user", "assistant", "tool", "developer"}
_SAMPLING = ("temperature", "top_p", "presence_penalty", "frequency_penalty")

# Verbatim, as DeepSeek answers a tool-call turn sent back without its reasoning in thinking mode
# (https://github.com/anomalyco/opencode/issues/25758; the rule: https://api-docs.deepseek.com/guides/thinking_mode).
REASONING_PASSBACK = "The `reasoning_content` in the thinking mode must be passed back to the API."
MODEL_NOT_EXIST = "Model Not Exist"


def thinking_of(body: dict[str, Any], mode: Mode, route: ModelRoute | None) -> bool:
    """Whether the request runs in thinking mode.

    DeepSeek: "Thinking mode is enabled by default" (https://api-docs.deepseek.com/guides/thinking_mode), so it
    is on unless ``thinking.type`` is ``disabled``; a legacy name that selects the mode decides it.
    vLLM's V4 tokenizer also defaults to thinking when the template kwargs name neither ``thinking`` nor
    ``enable_thinking`` (https://github.com/vllm-project/vllm/blob/main/vllm/tokenizers/deepseek_v4.py).
    """
    if mode == "vllm":
        kwargs = body.get("chat_template_kwargs")
        kwargs = kwargs if isinstance(kwargs, dict) else {}
        if "thinking" not in kwargs and "enable_thinking" not in kwargs:
            return True
        return bool(kwargs.get("thinking")) or bool(kwargs.get("enable_thinking"))
    if route is not None and route.thinking is not None:
        return route.thinking
    thinking = body.get("thinking")
    return not (isinstance(thinking, dict) and thinking.get("type") == "disabled")


def check_model(body: dict[str, Any], mode: Mode, listed: Sequence[str], routes: Sequence[ModelRoute],
                now: datetime) -> ModelRoute | None:
    """The route of the requested model at ``now`` (None for a listed name the routes do not cover);
    400 "Model Not Exist" for an unknown or retired name."""
    model = body.get("model")
    if not isinstance(model, str):
        raise ApiError(400, MODEL_NOT_EXIST)
    route = route_for(model, now, routes) if mode == "deepseek" else None
    if route is not None:
        return route
    if model in listed and not (mode == "deepseek" and retired(model, now, routes)):
        return None
    raise ApiError(400, MODEL_NOT_EXIST)


def check_messages(body: dict[str, Any], *, mode: Mode, thinking: bool) -> None:
    """400 for a malformed message list, or for a tool-call turn without its reasoning in thinking mode.

    The docs: on turns with tool calls, "the reasoning_content must be fully passed back to the API in all
    subsequent requests"; an empty string is what the model returns on many tool-call turns, and is accepted.
    """
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages must be a non-empty list of message objects")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise ApiError(400, f"Invalid message at index {index}: unknown or missing role")
        if (mode == "deepseek" and thinking and message.get("role") == "assistant" and message.get("tool_calls")
                and not isinstance(message.get("reasoning_content"), str)):
            raise ApiError(400, REASONING_PASSBACK)


def check_parameters(body: dict[str, Any], *, thinking: bool) -> tuple[str, ...]:
    """400 for bad ``tools``, ``max_tokens`` or (outside thinking mode) ``temperature``; returns the sampling
    parameters sent but ignored.

    Thinking mode "does not support the temperature, presence_penalty, or frequency_penalty parameters ... setting
    these parameters will not trigger an error but will not take effect"
    (https://api-docs.deepseek.com/guides/thinking_mode).
    """
    tools = body.get("tools", [])
    if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools)):
        raise ApiError(400, "tools must be a list of tool objects")
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)
                                   or not 1 <= max_tokens <= MAX_OUTPUT):
        raise ApiError(400, f"Invalid max_tokens value, the valid range of max_tokens is [1, {MAX_OUTPUT}]")
    if thinking:
        return tuple(name for name in _SAMPLING if name in body)
    temperature = body.get("temperature")
    if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, int | float)
                                    or not 0 <= temperature <= 2):
        raise ApiError(400, "Invalid temperature value, the valid range of temperature is [0, 2]")
    return ()


def check_context(prompt_tokens: int, max_tokens: int | None, window: int) -> None:
    """400 when the prompt and the output it asks room for exceed the window, in DeepSeek's wording
    (https://github.com/evalstate/fast-agent/issues/621). The default output room of a request without
    ``max_tokens`` is not documented: it is counted as none."""
    completion = max_tokens or 0
    if prompt_tokens + completion > window:
        raise ApiError(400, f"This model's maximum context length is {window} tokens. However, you requested "
                            f"{prompt_tokens + completion} tokens ({prompt_tokens} in the messages, {completion} "
                            f"in the completion). Please reduce the length of the messages or completion.")
