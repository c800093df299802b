"""The tool records: one per tool, every table derived from them, and the schema bytes pinned."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from v4agent.tools.args import BadArguments, parse_arguments
from v4agent.tools.registry import (
    TOOL_NAMES,
    TOOLS,
    ToolContext,
    changes_files,
    edits_files,
    run_tool,
    runs_command,
    tool_schemas,
)

# The tool list as the engine client sends it (json.dumps, ensure_ascii=False), computed before the tools
# became records. It is part of every cached prompt prefix: a change here invalidates every user's cache.
SENT_SHA256 = "8024185ca80bef7b99f6b82a0c8a15320db48d24fac6b4c3ae1b9db8071ddc29"
# The same list as the session file stores it (compact separators, key order kept).
STORED_SHA256 = "dd482d9daaaba1729cd1ede5edfd85317f43c80970c79fc6ce00b835c2fda642"


def test_rendered_tool_list_bytes_are_pinned() -> None:
    tools = tool_schemas()
    sent = json.dumps(tools, ensure_ascii=False).encode("utf-8")
    stored = json.dumps(tools, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert hashlib.sha256(sent).hexdigest() == SENT_SHA256
    assert hashlib.sha256(stored).hexdigest() == STORED_SHA256


def test_one_record_per_tool_sorted_by_name() -> None:
    names = tuple(tool.name for tool in TOOLS)
    assert names == TOOL_NAMES == tuple(sorted(names))
    assert len(set(names)) == len(names)


def test_properties_derived_from_the_records() -> None:
    assert {n for n in TOOL_NAMES if edits_files(n)} == {"edit_file", "write_file", "delete_file"}
    assert {n for n in TOOL_NAMES if runs_command(n)} == {"shell", "run_tests"}
    assert {n for n in TOOL_NAMES if changes_files(n)} == {"edit_file", "write_file", "delete_file", "shell",
                                                         "run_tests"}
    assert {t.name for t in TOOLS if t.diff_output} == {"edit_file", "write_file", "delete_file", "git_diff"}
    assert not changes_files("no_such_tool")
    assert not runs_command("no_such_tool")
    assert not edits_files("nope")


def test_parse_arguments_checks_against_the_record() -> None:
    read = next(t for t in TOOLS if t.name == "read_file")
    assert parse_arguments(read, '{"path": "a.py", "start_line": "3", "end_line": 4.0}') == {
        "path": "a.py", "start_line": 3, "end_line": 4}
    for bad, why in (("[1]", "JSON object"), ('{"x": 1}', "unknown argument"), ("{}", "missing required"),
                     ('{"path": 1}', "must be a string"), ("{nope", "not valid JSON")):
        with pytest.raises(BadArguments, match=why):
            parse_arguments(read, bad)


def test_handlers_are_reached_through_the_records(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello\n")
    result = run_tool(ToolContext(tmp_path, approve="yes"), "read_file", '{"path": "a.txt"}')
    assert result.ok
    assert "hello" in result.content
