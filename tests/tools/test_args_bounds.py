"""Tool-argument parsing is bounded: depth, size and numbers give a BadArguments naming the limit, never a crash."""

from __future__ import annotations

import json

import pytest

from v4agent.tools.args import (
    MAX_ARGUMENT_CHARS,
    MAX_DEPTH,
    MAX_NUMBER_CHARS,
    BadArguments,
    nesting_depth,
    parse_arguments,
)
from v4agent.tools.registry import TOOLS

READ = next(t for t in TOOLS if t.name == "read_file")
SHELL = next(t for t in TOOLS if t.name == "shell")


@pytest.mark.parametrize("text", [
    "[" * 200_000,
    "{" * 200_000,
    '{"path": ' + "[" * 100_000 + "]" * 100_000 + "}",
    '{"a":' * 50_000 + "1" + "}" * 50_000,
    "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
])
def test_deep_nesting_is_refused_before_parsing(text: str) -> None:
    with pytest.raises(BadArguments, match=f"nest deeper than {MAX_DEPTH} levels"):
        parse_arguments(READ, text)


def test_brackets_inside_strings_are_not_nesting() -> None:
    path = "[" * 10_000 + '\\"{' * 100
    text = json.dumps({"path": path})
    assert nesting_depth(text) == 1
    assert parse_arguments(READ, text) == {"path": json.loads(text)["path"]}


def test_the_depth_limit_itself_still_parses() -> None:
    text = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert nesting_depth(text) == MAX_DEPTH
    with pytest.raises(BadArguments, match="must be a JSON object"):
        parse_arguments(READ, text)


def test_oversized_arguments_are_refused_with_the_limit_named() -> None:
    text = json.dumps({"command": "x" * MAX_ARGUMENT_CHARS})
    with pytest.raises(BadArguments, match=f"the limit is {MAX_ARGUMENT_CHARS:,}"):
        parse_arguments(SHELL, text)


@pytest.mark.parametrize(("text", "why"), [
    ('{"path": "a", "start_line": 1' + "0" * 5_000 + "}", f"the limit is {MAX_NUMBER_CHARS}"),
    ('{"path": "a", "start_line": "' + "1" * 5_000 + '"}', "out of range"),
    ('{"path": "a", "start_line": "\u00b2"}', "out of range"),
    ('{"path": "a", "start_line": NaN}', "NaN is not a JSON value"),
    ('{"path": "a", "start_line": -Infinity}', "-Infinity is not a JSON value"),
    ('{"path": "a", "start_line": 1e999}', "out of range"),
    ('{"command": "ls", "timeout_s": 1' + "0" * 400 + "}", f"the limit is {MAX_NUMBER_CHARS}"),
])
def test_numbers_out_of_range_are_tool_errors(text: str, why: str) -> None:
    tool = SHELL if "command" in text else READ
    with pytest.raises(BadArguments, match=why):
        parse_arguments(tool, text)


def test_ordinary_arguments_still_parse() -> None:
    assert parse_arguments(READ, '{"path": "a.py", "start_line": 3, "end_line": 4.0}') == {
        "path": "a.py", "start_line": 3, "end_line": 4}
    assert parse_arguments(SHELL, '{"command": "ls", "timeout_s": 1.5e1}') == {"command": "ls", "timeout_s": 15.0}
