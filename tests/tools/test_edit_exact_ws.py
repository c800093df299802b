"""An exact match keeps new_text's trailing whitespace byte for byte; only the tolerant tiers treat it as noise."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import make_git_repo
from v4agent.tools.editmatch import apply_edit
from v4agent.tools.registry import ToolContext, run_tool


def test_exact_match_keeps_a_trailing_blank_inside_a_line() -> None:
    out = apply_edit("x  y", "x ", "z ")
    assert out.tier == "exact"
    assert out.content == "z  y"


def test_exact_match_keeps_trailing_blanks_at_line_ends() -> None:
    text = "a = 1\nb = 2\n"
    out = apply_edit(text, "b = 2\n", "b = 2  \nc = 3\t\n")
    assert out.tier == "exact"
    assert out.content == "a = 1\nb = 2  \nc = 3\t\n"


def test_the_whitespace_tier_still_takes_the_files_layout() -> None:
    text = "def f():\n    return 1\n"
    out = apply_edit(text, "def f():   \n    return 1\n", "def f():   \n    return 2\n")
    assert out.tier == "whitespace"
    assert out.content == "def f():\n    return 2\n"


def test_edit_file_writes_the_exact_replacement(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.txt": "x  y\n"})
    result = run_tool(ToolContext(root, approve="yes"), "edit_file",
                      json.dumps({"path": "a.txt", "old_text": "x ", "new_text": "z "}))
    assert result.ok, result.content
    assert (root / "a.txt").read_bytes() == b"z  y\n"
