"""A session's conversation as plain text: who said what, which tools ran with which arguments, what came back.

Pure: ``transcript_lines`` takes the stored messages (the OpenAI chat format the sessions keep) and returns
lines; the command prints them. The packed repository (the messages at ``pack_indexes``) and the system prompt
are named, not printed; every other text is shown up to ``max_lines`` lines.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

__all__ = ["recent_turns", "transcript_lines"]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return "" if content is None else str(content)


def _clip(text: str, max_lines: int, indent: str) -> list[str]:
    lines = text.rstrip("\n").splitlines() or [""]
    shown = [indent + line for line in lines[:max_lines]]
    if len(lines) > max_lines:
        shown.append(f"{indent}… {len(lines) - max_lines} more line(s)")
    return shown


def _arguments(raw: Any) -> str:
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return str(raw)
    if not isinstance(parsed, Mapping):
        return str(parsed)
    parts = []
    for key, value in parsed.items():
        shown = json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}={shown if len(shown) <= 80 else shown[:79] + '…'}")
    return ", ".join(parts)


def transcript_lines(messages: Iterable[Mapping[str, Any]], *, max_lines: int = 40,
                     pack_indexes: Collection[int] = ()) -> list[str]:
    """The conversation, one block per message (see the module docstring)."""
    out: list[str] = []
    for index, message in enumerate(messages):
        role = message.get("role")
        text = _text(message.get("content"))
        if role == "system":
            out.append(f"[system prompt, {len(text):,} characters]")
        elif index in pack_indexes:
            out.append(f"[the packed repository, {len(text):,} characters]")
        elif role == "user":
            out.append("you:")
            out.extend(_clip(text, max_lines, "  "))
        elif role == "assistant":
            reasoning = _text(message.get("reasoning_content"))
            if reasoning.strip():
                out.append("model (thinking):")
                out.extend(_clip(reasoning, max_lines, "  "))
            if text.strip():
                out.append("model:")
                out.extend(_clip(text, max_lines, "  "))
            for call in message.get("tool_calls") or ():
                function = call.get("function", {}) if isinstance(call, Mapping) else {}
                out.append(f"  ▶ {function.get('name', '?')} {_arguments(function.get('arguments', ''))}")
        elif role == "tool":
            out.extend(_clip(text, max_lines, "    "))
        else:
            out.append(f"{role}:")
            out.extend(_clip(text, max_lines, "  "))
    return out


def recent_turns(messages: Sequence[Mapping[str, Any]], turns: int,
                 pack_indexes: Collection[int] = ()) -> list[Mapping[str, Any]]:
    """The messages of the last ``turns`` turns: from the ``turns``-th last user message (not the pack) on."""
    starts = [i for i, message in enumerate(messages) if message.get("role") == "user" and i not in pack_indexes]
    if not starts or turns <= 0:
        return []
    return list(messages[starts[-min(turns, len(starts))]:])
