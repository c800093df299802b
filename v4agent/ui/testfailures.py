"""Which tests failed and why, read from a test run's output (pytest and unittest), for the refactor report.

Pure functions: ``failures(output)`` returns the failing tests with a short excerpt of the assertion;
``last_test_output(messages)`` finds the output of the model's last ``run_tests`` call in a session's messages.
An output in another format gives no names; the report then says only that the tests fail.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Failure", "failures", "last_test_output"]

_EXCERPT = 160  # characters of the assertion shown per test
_MAX = 10  # failing tests named in the report

# pytest's short summary: "FAILED tests/test_x.py::test_y - AssertionError: assert 1 == 2"
_PYTEST = re.compile(r"^(?:FAILED|ERROR) (\S+::\S+|\S+\.py)(?: - (.*))?$", re.MULTILINE)
# unittest: "FAIL: test_y (pkg.test_x.Case.test_y)" then a traceback ending in the exception line
_UNITTEST = re.compile(r"^(?:FAIL|ERROR): (\S+) \(([^)]*)\)\n-+\n(.*?)(?=\n={5,}|\n-{5,}\nRan |\Z)",
                       re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Failure:
    """One failing test: its name as the runner prints it, and the assertion (or error) line."""

    name: str
    excerpt: str


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT else text[:_EXCERPT - 1] + "…"


def _last_exception_line(traceback: str) -> str:
    lines = [line for line in traceback.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^\w[\w.]*(Error|Exception|Failure|Exit)\b", line.strip()):
            return line.strip()
    return lines[-1].strip() if lines else ""


def failures(output: str) -> list[Failure]:
    """The failing tests named in ``output``, each with its assertion excerpt; [] when none can be read."""
    found: list[Failure] = []
    for match in _PYTEST.finditer(output):
        found.append(Failure(match.group(1), _clip(match.group(2) or "")))
    if not found:
        for match in _UNITTEST.finditer(output):
            name = match.group(2) if "." in match.group(2) else match.group(1)
            found.append(Failure(name, _clip(_last_exception_line(match.group(3)))))
    return found[:_MAX]


def _tool_names(message: Mapping[str, Any]) -> dict[str, str]:
    names: dict[str, str] = {}
    for call in message.get("tool_calls") or ():
        if isinstance(call, Mapping):
            function = call.get("function") or {}
            names[str(call.get("id", ""))] = str(function.get("name", ""))
    return names


def last_test_output(messages: Iterable[Mapping[str, Any]]) -> str:
    """The content of the last ``run_tests`` result in a session's messages ("" if the model never ran them)."""
    called: dict[str, str] = {}
    last = ""
    for message in messages:
        if message.get("role") == "assistant":
            called.update(_tool_names(message))
        elif message.get("role") == "tool" and called.get(str(message.get("tool_call_id", ""))) == "run_tests":
            content = message.get("content")
            last = content if isinstance(content, str) else json.dumps(content)
    return last
