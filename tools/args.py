"""Tool-call arguments: the model's JSON text checked and coerced against a tool's declared properties.

Parsing never crashes on what a model (or a server) sends: the text is bounded before it is parsed, in size
(``MAX_ARGUMENT_CHARS``) and in nesting depth (``MAX_DEPTH``: a deeper text would make the decoder recurse until
it gives up), numbers are bounded in length (``MAX_NUMBER_CHARS``), NaN and Infinity are refused, and every
failure is a ``BadArguments`` whose message names the limit, so the model gets a tool error it can act on.
"""

from __future__ import annotations

import json
import re
from typing import Any

from v4agent.tools.tool import Tool

__all__ = ["MAX_ARGUMENT_CHARS", "MAX_DEPTH", "MAX_NUMBER_CHARS", "BadArguments", "nesting_depth", "parse_arguments"]

# Every tool takes a flat object of strings, numbers and booleans (depth 1); the bound leaves room for more.
MAX_DEPTH = 32
# Above the most one reply can hold (393,216 output tokens at about 4 characters each): no real call comes near.
MAX_ARGUMENT_CHARS = 2_000_000
MAX_NUMBER_CHARS = 64
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')  # a JSON string literal, escapes included
_OPENERS = frozenset("[{")
_CLOSERS = frozenset("]}")


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


def nesting_depth(text: str, stop: int = MAX_DEPTH) -> int:
    """How deep ``[`` and ``{`` nest in JSON ``text`` outside strings, counting no further than ``stop + 1``; at
    most ``stop`` it may be an upper bound (the number of openers) rather than the exact depth."""
    openers = sum(text.count(c) for c in _OPENERS)
    if openers <= stop:  # too few to nest past the limit (a bound, not the depth): no scan needed
        return openers
    depth = deepest = 0
    for char in _STRING.sub("", text):
        if char in _OPENERS:
            depth += 1
            if depth > stop:
                return depth
            deepest = max(deepest, depth)
        elif char in _CLOSERS:
            depth -= 1
    return deepest


def _number(text: str) -> int | float:
    if len(text) > MAX_NUMBER_CHARS:
        raise BadArguments(f"a number in the arguments has {len(text)} characters; the limit is {MAX_NUMBER_CHARS}")
    if not any(c in text for c in ".eE"):
        return int(text)
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise BadArguments(f"the number {text} is out of range")
    return value


def _constant(name: str) -> Any:
    raise BadArguments(f"{name} is not a JSON value; send a finite number or a string")


def _decode(text: str) -> Any:
    if len(text) > MAX_ARGUMENT_CHARS:
        raise BadArguments(f"the arguments are {len(text):,} characters long; the limit is {MAX_ARGUMENT_CHARS:,}. "
                           "Send less in one call: write a large file in parts (write_file, then edit_file to add "
                           "the rest)")
    if nesting_depth(text) > MAX_DEPTH:
        raise BadArguments(f"the arguments nest deeper than {MAX_DEPTH} levels of [ and {{; send one flat JSON "
                           "object of the tool's arguments")
    try:
        return json.loads(text, parse_int=_number, parse_float=_number, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise BadArguments(
            f"the arguments are not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); send one "
            "JSON object, with newlines and quotes inside strings escaped"
        ) from exc
    except BadArguments:
        raise
    except (RecursionError, MemoryError, ValueError, OverflowError) as exc:  # the bounds above should prevent them
        raise BadArguments(f"the arguments could not be parsed ({type(exc).__name__}); send one flat JSON object "
                           "of the tool's arguments") from None


def parse_arguments(tool: Tool, arguments: str) -> dict[str, Any]:
    """The arguments as a dict of coerced values; ``BadArguments`` says what is wrong."""
    properties, required = tool.properties, tool.required
    text = arguments.strip() if isinstance(arguments, str) else ""
    data: Any = _decode(text) if text else {}
    if not isinstance(data, dict):
        raise BadArguments(f"the arguments must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(properties))
    if unknown:
        raise BadArguments(f"unknown argument(s) {', '.join(unknown)}; {tool.name} takes {', '.join(properties)}")
    out: dict[str, Any] = {}
    for key, value in data.items():
        if value is not None:
            try:
                out[key] = _coerce(key, properties[key]["type"], value)
            except BadArguments:
                raise
            except (ValueError, OverflowError):  # int() of a huge digit string, float() of a huge int
                raise BadArguments(f"argument {key!r} is out of range for a {properties[key]['type']}") from None
    missing = [key for key in required if key not in out]
    if missing:
        raise BadArguments(f"missing required argument(s) {', '.join(missing)}")
    return out
