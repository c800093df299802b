"""The edit matcher's tiers and refusals, and edit_file's byte-level promises."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from tests.conftest import make_git_repo
from v4agent.tools.editmatch import apply_edit
from v4agent.tools.registry import ToolContext, run_tool

SRC = """def first(a):
    total = 0
    for x in a:
        total += x
    return total


def second(b):
    if b:
        return 1
    return 2
"""


def test_exact_tier() -> None:
    out = apply_edit(SRC, "        total += x\n", "        total += 2 * x\n")
    assert out.ok and out.tier == "exact" and out.lines == (4,)
    assert out.content == SRC.replace("total += x", "total += 2 * x")


def test_whitespace_tier_trailing_blanks_and_tabs() -> None:
    old = "\tfor x in a:   \n\t\ttotal += x\n"
    new = "\tfor x in a:\n\t\ttotal -= x\n"
    out = apply_edit(SRC, old, new)
    assert out.ok and out.tier == "whitespace"
    assert out.content == SRC.replace("total += x", "total -= x")  # the file keeps its spaces


def test_whitespace_tier_blank_line_dropped() -> None:
    old = "    return total\ndef second(b):\n"
    new = "    return total + 1\ndef second(b):\n"
    out = apply_edit(SRC, old, new)
    assert out.ok and out.tier == "whitespace"
    assert out.content == SRC.replace("return total\n", "return total + 1\n")  # the two blank lines stay


def test_indentation_tier_shifted_block() -> None:
    old = "if b:\n    return 1\nreturn 2\n"
    new = "if b:\n    return 1\nelif b is None:\n    return 3\nreturn 2\n"
    out = apply_edit(SRC, old, new)
    assert out.ok and out.tier == "indent"
    assert "    if b:\n        return 1\n    elif b is None:\n        return 3\n    return 2\n" in out.content


def test_fuzzy_tier_small_typo() -> None:
    old = "def first(a):\n    total = 0\n    for x in aa:\n        total += x\n"
    new = "def first(a):\n    total = 10\n    for x in a:\n        total += x\n"
    out = apply_edit(SRC, old, new)
    assert out.ok and out.tier == "fuzzy"
    assert out.content == SRC.replace("total = 0", "total = 10")


def test_partial_first_line() -> None:
    out = apply_edit(SRC, "(b):\n    if b:\n        return 1\n", "(b):\n    if b:\n        return 10\n")
    assert out.ok
    assert out.content == SRC.replace("return 1\n", "return 10\n")


def test_ambiguous_refused_with_candidates() -> None:
    text = "a = 1\nprint(a)\nb = 2\nprint(a)\n"
    out = apply_edit(text, "print(a)\n", "print(b)\n")
    assert not out.ok and out.content == text
    assert [c.line for c in out.candidates] == [2, 4]
    assert "lines 2, 4" in out.message
    assert apply_edit(text, "print(a)\n", "print(b)\n", replace_all=True).content == text.replace("(a)", "(b)")


def test_indentation_twin_makes_exact_match_ambiguous() -> None:
    text = "def f():\n    x = 1\n    y = 2\n\nclass C:\n    def g(self):\n        x = 1\n        y = 2\n"
    out = apply_edit(text, "    x = 1\n    y = 2\n", "    x = 1\n    y = 3\n")
    assert not out.ok
    assert [c.line for c in out.candidates] == [2, 7]


def test_missing_refused_with_closest_candidates() -> None:
    out = apply_edit(SRC, "def second(b):\n    if not b:\n        return 5\n    return 6\n", "x")
    assert not out.ok
    assert out.candidates and out.candidates[0].line == 8
    assert "line 8" in out.message


def test_weak_match_refused() -> None:
    out = apply_edit(SRC, "def third(c):\n    while c:\n        c -= 1\n", "pass\n")
    assert not out.ok and out.content == SRC


def test_noop_is_not_an_error() -> None:
    out = apply_edit(SRC, "return 2\n", "return 2\n")
    assert out.ok and out.tier == "noop" and out.content == SRC


def test_crlf_file_stays_crlf() -> None:
    text = SRC.replace("\n", "\r\n")
    out = apply_edit(text, "        return 1\n", "        return 10\n        # done\n")
    assert out.ok
    assert out.content == text.replace("return 1\r\n", "return 10\r\n        # done\r\n")
    assert "\n" not in out.content.replace("\r\n", "")


def _repo(tmp_path: Path) -> Path:
    return make_git_repo(tmp_path / "repo", {"m.py": SRC})


def test_edit_file_keeps_mode_crlf_and_encoding(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    script = root / "run.sh"
    script.write_bytes(b"#!/bin/sh\r\necho hi\r\n")
    script.chmod(0o755)
    latin = root / "latin.txt"
    latin.write_bytes("caf\xe9 = 1\n".encode("latin-1"))
    bom = root / "bom.py"
    bom.write_bytes(b"\xef\xbb\xbfx = 1\n")
    ctx = ToolContext(root)
    r = run_tool(ctx, "edit_file", json.dumps({"path": "run.sh", "old_text": "echo hi\n", "new_text": "echo bye\n"}))
    assert r.ok, r.content
    assert script.read_bytes() == b"#!/bin/sh\r\necho bye\r\n"
    assert stat.S_IMODE(os.stat(script).st_mode) == 0o755
    assert r.changed_paths == ("run.sh",) and "+echo bye" in r.diff
    r = run_tool(ctx, "edit_file", json.dumps({"path": "latin.txt", "old_text": "= 1", "new_text": "= 2"}))
    assert r.ok and latin.read_bytes() == "caf\xe9 = 2\n".encode("latin-1")
    r = run_tool(ctx, "edit_file", json.dumps({"path": "bom.py", "old_text": "x = 1", "new_text": "x = 2"}))
    assert r.ok and bom.read_bytes() == b"\xef\xbb\xbfx = 2\n"


def test_edit_file_refusals_are_results(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    ctx = ToolContext(root)
    missing = run_tool(ctx, "edit_file", json.dumps({"path": "m.py", "old_text": "nothing like it", "new_text": "x"}))
    assert not missing.ok and "not found" in missing.content
    absent = run_tool(ctx, "edit_file", json.dumps({"path": "nope.py", "old_text": "a", "new_text": "b"}))
    assert not absent.ok and "write_file" in absent.content
    noop = run_tool(ctx, "edit_file", json.dumps({"path": "m.py", "old_text": "return 2", "new_text": "return 2"}))
    assert noop.ok and noop.changed_paths == ()
    assert (root / "m.py").read_text() == SRC


def test_write_and_delete(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    ctx = ToolContext(root)
    r = run_tool(ctx, "write_file", json.dumps({"path": "pkg/new.py", "content": "y = 2\n"}))
    assert r.ok and (root / "pkg/new.py").read_text() == "y = 2\n" and r.changed_paths == ("pkg/new.py",)
    assert stat.S_IMODE(os.stat(root / "pkg/new.py").st_mode) == 0o644
    r = run_tool(ctx, "delete_file", json.dumps({"path": "pkg/new.py"}))
    assert r.ok and not (root / "pkg/new.py").exists()
    assert not run_tool(ctx, "delete_file", json.dumps({"path": "pkg"})).ok
