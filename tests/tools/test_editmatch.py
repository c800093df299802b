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
    assert out.ok
    assert out.tier == "exact"
    assert out.lines == (4,)
    assert out.content == SRC.replace("total += x", "total += 2 * x")


def test_whitespace_tier_trailing_blanks_and_tabs() -> None:
    old = "\tfor x in a:   \n\t\ttotal += x\n"
    new = "\tfor x in a:\n\t\ttotal -= x\n"
    out = apply_edit(SRC, old, new)
    assert out.ok
    assert out.tier == "whitespace"
    assert out.content == SRC.replace("total += x", "total -= x")  # the file keeps its spaces


def test_whitespace_tier_blank_line_dropped() -> None:
    old = "    return total\ndef second(b):\n"
    new = "    return total + 1\ndef second(b):\n"
    out = apply_edit(SRC, old, new)
    assert out.ok
    assert out.tier == "whitespace"
    assert out.content == SRC.replace("return total\n", "return total + 1\n")  # the two blank lines stay


def test_indentation_tier_shifted_block() -> None:
    old = "if b:\n    return 1\nreturn 2\n"
    new = "if b:\n    return 1\nelif b is None:\n    return 3\nreturn 2\n"
    out = apply_edit(SRC, old, new)
    assert out.ok
    assert out.tier == "indent"
    assert "    if b:\n        return 1\n    elif b is None:\n        return 3\n    return 2\n" in out.content


def test_fuzzy_tier_small_typo() -> None:
    old = "def first(a):\n    total = 0\n    for x in aa:\n        total += x\n"
    new = "def first(a):\n    total = 10\n    for x in a:\n        total += x\n"
    out = apply_edit(SRC, old, new)
    assert out.ok
    assert out.tier == "fuzzy"
    assert out.content == SRC.replace("total = 0", "total = 10")


def test_partial_first_line() -> None:
    out = apply_edit(SRC, "(b):\n    if b:\n        return 1\n", "(b):\n    if b:\n        return 10\n")
    assert out.ok
    assert out.content == SRC.replace("return 1\n", "return 10\n")


def test_ambiguous_refused_with_candidates() -> None:
    text = "a = 1\nprint(a)\nb = 2\nprint(a)\n"
    out = apply_edit(text, "print(a)\n", "print(b)\n")
    assert not out.ok
    assert out.content == text
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
    assert out.candidates
    assert out.candidates[0].line == 8
    assert "line 8" in out.message


def test_weak_match_refused() -> None:
    out = apply_edit(SRC, "def third(c):\n    while c:\n        c -= 1\n", "pass\n")
    assert not out.ok
    assert out.content == SRC


def test_noop_is_not_an_error() -> None:
    out = apply_edit(SRC, "return 2\n", "return 2\n")
    assert out.ok
    assert out.tier == "noop"
    assert out.content == SRC


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
    assert r.changed_paths == ("run.sh",)
    assert "+echo bye" in r.diff
    r = run_tool(ctx, "edit_file", json.dumps({"path": "latin.txt", "old_text": "= 1", "new_text": "= 2"}))
    assert r.ok
    assert latin.read_bytes() == "caf\xe9 = 2\n".encode("latin-1")
    r = run_tool(ctx, "edit_file", json.dumps({"path": "bom.py", "old_text": "x = 1", "new_text": "x = 2"}))
    assert r.ok
    assert bom.read_bytes() == b"\xef\xbb\xbfx = 2\n"


def test_edit_file_refusals_are_results(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    ctx = ToolContext(root)
    missing = run_tool(ctx, "edit_file", json.dumps({"path": "m.py", "old_text": "nothing like it", "new_text": "x"}))
    assert not missing.ok
    assert "not found" in missing.content
    absent = run_tool(ctx, "edit_file", json.dumps({"path": "nope.py", "old_text": "a", "new_text": "b"}))
    assert not absent.ok
    assert "write_file" in absent.content
    noop = run_tool(ctx, "edit_file", json.dumps({"path": "m.py", "old_text": "return 2", "new_text": "return 2"}))
    assert noop.ok
    assert noop.changed_paths == ()
    assert (root / "m.py").read_text() == SRC


def test_write_and_delete(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    ctx = ToolContext(root)
    r = run_tool(ctx, "write_file", json.dumps({"path": "pkg/new.py", "content": "y = 2\n"}))
    assert r.ok
    assert (root / "pkg/new.py").read_text() == "y = 2\n"
    assert r.changed_paths == ("pkg/new.py",)
    assert stat.S_IMODE(os.stat(root / "pkg/new.py").st_mode) == 0o644
    r = run_tool(ctx, "delete_file", json.dumps({"path": "pkg/new.py"}))
    assert r.ok
    assert not (root / "pkg/new.py").exists()
    assert not run_tool(ctx, "delete_file", json.dumps({"path": "pkg"})).ok


# --- layout: blank lines the model left out, the file's indentation characters -------------------------------

CLS = """class P:
    def __init__(self):
        self.a = 1
        self.b = 2

    def go(self):
        return self.a
"""


def test_dropped_blank_line_stays_below_lines_that_continue_the_block() -> None:
    old = "        self.b = 2\n    def go(self):\n"
    out = apply_edit(CLS, old, "        self.b = 2\n        self.c = 3\n    def go(self):\n")
    assert out.ok
    assert out.tier == "whitespace"
    assert out.content == CLS.replace("self.b = 2\n", "self.b = 2\n        self.c = 3\n")


def test_dropped_blank_line_stays_above_a_comment_that_opens_the_insertion() -> None:
    text = "def t():\n    a = 1\n    b = 2\n\n    c = 3\n    d = 4\n"
    out = apply_edit(text, "    b = 2\n    c = 3\n", "    b = 2\n    # now c\n    c = 3\n")
    assert out.ok
    assert out.content == "def t():\n    a = 1\n    b = 2\n\n    # now c\n    c = 3\n    d = 4\n"


def test_dropped_blank_line_goes_where_the_code_dedents() -> None:
    text = 'def check(v):\n    if v in table:\n        return table[v]\n\n    msg = "bad"\n    raise ValueError(msg)\n'
    old = '        return table[v]\n    msg = "bad"\n'
    new = '        return table[v]\n    fail(v)\n\ndef message(v):\n    msg = "bad"\n'
    out = apply_edit(text, old, new)
    assert out.ok
    assert out.content == (
        'def check(v):\n    if v in table:\n        return table[v]\n\n    fail(v)\n\ndef message(v):\n'
        '    msg = "bad"\n    raise ValueError(msg)\n'
    )


def test_dropped_blank_line_not_put_inside_a_wrapped_statement() -> None:
    text = "x = compute()\n\nraise RuntimeError('Click will abort because of the locale')\n"
    old = "x = compute()\nraise RuntimeError('Click will abort because of the locale')\n"
    new = "x = compute()\nraise RuntimeError(\n    'Click will abort because of the locale'\n)\n"
    out = apply_edit(text, old, new)
    assert out.ok
    assert out.content == "x = compute()\n\nraise RuntimeError(\n    'Click will abort because of the locale'\n)\n"


def test_dropped_blank_line_follows_a_changed_line_to_what_it_became() -> None:
    text = 'def t():\n    out = read()\n    assert out == " "\n\n    emulate()\n'
    old = '    out = read()\n    assert out == " "\n    emulate()\n'
    new = '    out = read()\n    assert out == ""\n    # issue 3019\n    emulate()\n'
    out = apply_edit(text, old, new)
    assert out.ok
    assert out.content == 'def t():\n    out = read()\n    assert out == ""\n\n    # issue 3019\n    emulate()\n'


def test_blank_run_between_definitions_keeps_its_length_before_the_next_one() -> None:
    text = "import os\n\n\ndef f():\n    pass\n"
    out = apply_edit(text, "import os\n\ndef f():\n", "import os\n\nX = 1\n\ndef f():\n")
    assert out.ok
    assert out.content == "import os\n\nX = 1\n\n\ndef f():\n    pass\n"


def test_dropped_blank_line_kept_when_the_text_around_it_is_deleted() -> None:
    text = "def a():\n    return 1\n\n\ndef b():\n    return 2\n\n\ndef c():\n    return 3\n"
    out = apply_edit(text, "    return 1\n\ndef b():\n    return 2\n\n\ndef c():\n", "    return 1\n\ndef c():\n")
    assert out.ok
    assert out.content == "def a():\n    return 1\n\n\ndef c():\n    return 3\n"


def test_exact_match_new_text_takes_the_files_spaces_for_tabs() -> None:
    text = "def f():\n    return 1\n\n#: marker\nUUID = 1\n"
    out = apply_edit(text, "#: marker\nUUID = 1\n", "#: marker\nUUID = 1\n\n\nclass C:\n\tx: int\n\t\t# deep\n")
    assert out.ok
    assert out.tier == "exact"
    assert out.content == text + "\n\nclass C:\n    x: int\n        # deep\n"


def test_exact_match_keeps_tabs_where_the_file_has_them_or_shows_no_style() -> None:
    make = "all:\n\techo hi\n"
    out = apply_edit(make, "all:\n", "all: build\n\techo x\n")
    assert out.ok
    assert out.content == "all: build\n\techo x\n\techo hi\n"
    flat = "A = 1\nB = 2\n"
    out = apply_edit(flat, "B = 2\n", "B = 2\nif A:\n\tB = 3\n")
    assert out.ok
    assert out.content == "A = 1\nB = 2\nif A:\n\tB = 3\n"


# --- blank lines the model added: the match never slides, the file keeps its own ------------------------------


def test_old_text_opening_with_a_blank_line_does_not_join_a_whitespace_line_to_the_next() -> None:
    # Found exactly, "\nb = 2\n" starts at the end of the whitespace-only line: replacing it there glued that
    # line's spaces to the next one ("    b = 3"). Read line by line, the blank line stands for that line.
    out = apply_edit("x = 1\n    \nb = 2\n", "\nb = 2\n", "b = 3\n")
    assert out.ok
    assert out.content == "x = 1\nb = 3\n"


def test_deleting_after_a_whitespace_line_never_edits_the_line_below() -> None:
    # The wrong place: the line after old_text ("c = 3") came out indented by the whitespace line's spaces.
    out = apply_edit("a = 1\n    \nb = 2\nc = 3\n", "\nb = 2\n", "")
    assert out.ok
    assert out.content == "a = 1\nc = 3\n"


def test_old_text_opening_with_a_blank_line_the_file_lacks_is_applied_not_refused() -> None:
    text = "a = 1\nb = 2\nc = 3\n"
    out = apply_edit(text, "\nb = 2\n", "b = 3\n")  # taken literally, this joined "a = 1" and "b = 3"
    assert out.ok
    assert out.content == "a = 1\nb = 3\nc = 3\n"
    assert out.lines == (2,)
    both = apply_edit(text, "\nb = 2\n", "\nb = 3\n")  # added to both texts
    assert both.ok
    assert both.content == "a = 1\nb = 3\nc = 3\n"


def test_blank_line_added_to_old_text_alone_leaves_the_files_blank_line() -> None:
    out = apply_edit("a = 1\n\nb = 2\n", "a = 1\n\n\nb = 2\n", "a = 1\n\nc = 3\n")
    assert out.ok
    assert out.content == "a = 1\n\nc = 3\n"


def test_blank_line_added_to_old_text_does_not_pull_lines_out_of_place() -> None:
    text = "def t():\n    pm = P()\n    class H:\n        pass\n"
    old = "def t():\n\n    pm = P()\n    class H:\n"
    out = apply_edit(text, old, "def t():\n    pm = P()\n\n    class H:\n")
    assert out.ok
    assert out.content == "def t():\n    pm = P()\n\n    class H:\n        pass\n"


def test_more_leading_blank_lines_than_the_file_has_still_match() -> None:
    out = apply_edit("a = 1\n\nx = 2\ny = 3\n", "\n\nx = 2\n", "\nx = 4\n")
    assert out.ok
    assert out.content == "a = 1\n\nx = 4\ny = 3\n"


def test_places_that_differ_only_in_blank_lines_are_refused_with_both() -> None:
    text = "a = 1\n\nb = 2\nc = 0\na = 1\nb = 2\n"
    out = apply_edit(text, "a = 1\n\nb = 2\n", "a = 1\n\nb = 5\n")  # found exactly once, but blanks prove nothing
    assert not out.ok
    assert out.content == text
    assert [c.line for c in out.candidates] == [1, 5]


def test_blank_line_closing_both_texts_pairs_with_the_last_one() -> None:
    # Appending at the end of the file: the blank line the model added after old_text's last line is the one
    # that closes new_text, not the first of the blank lines before the appended function.
    text = "def a():\n    return 1\n"
    out = apply_edit(text, "def a():\n    return 1\n\n", "def a():\n    return 1\n\n\ndef b():\n    return 2\n\n")
    assert out.ok
    assert out.content == "def a():\n    return 1\n\n\ndef b():\n    return 2\n"
