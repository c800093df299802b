"""Tool-call arguments: the model's JSON text checked and coerced against a tool's declared properties."""

from __future__ import annotations

import json
from typing import Any

from v4agent.tools.tool import Tool

__all__ = ["BadArguments", "parse_arguments"]


class BadArguments(ValueError):
    """The arguments do not fit the tool's schema (the message tells the model how to fix them)."""


def _coerce(name: str, kind: str, value: Any) -> Any:
    if kind == "string":
        if isinstance(value, str):
            return value
    elif kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
    elif kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
    elif kind == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    raise BadArguments(f"argument {name!r} must be a {kind}, got {json.dumps(value)[:80]}")


def parse_arguments(tool: Tool, arguments: str) -> dict[str, Any]:
    """The arguments as a dict of coerced values; ``BadArguments`` says what is wrong."""
    properties, required = tool.properties, tool.required
    text = arguments.strip() if isinstance(arguments, str) else ""
    if not text:
        data: Any = {}
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadArguments(
                f"the arguments are not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); send one "
                "JSON object, with newlines and quotes inside strings escaped"
            ) from exc
    if not isinstance(data, dict):
        raise BadArguments(f"the arguments must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(properties))
    if unknown:
        raise BadArguments(f"unknown argument(s) {', '.join(unknown)}; {tool.name} takes {', '.join(properties)}")
    out: dict[str, Any] = {}
    for key, value in data.items():
        if value is not None:
            out[key] = _coerce(key, properties[key]["type"], value)
    missing = [key for key in required if key not in out]
    if missing:
        raise BadArguments(f"missing required argument(s) {', '.join(missing)}")
    return out
