"""Issue #22's edit rules: blank lines added to old_text alone, trailing blanks removed on purpose, places that
need a line's tail, blank lines restored outside statements, and refusals that say how to disambiguate."""

from __future__ import annotations

import pytest

from v4agent.tools.editmatch import apply_edit
from v4agent.tools.editmatch_blanks import drop_added_blanks

# --- a blank line added to old_text alone (editmatch_blanks) -------------------------------------------------


def test_blank_line_added_to_old_text_alone_beside_an_insertion_keeps_new_texts_blank_lines() -> None:
    text = '"""doc"""\n\nimport os\n'
    out = apply_edit(text, '"""doc"""\n\n\nimport os\n', '"""doc"""\n\nfrom x import y\n\nimport os\n')
    assert out.ok, out.message
    assert out.content == '"""doc"""\n\nfrom x import y\n\nimport os\n'


def test_blank_line_added_to_both_texts_after_the_same_line_is_noise_in_both() -> None:
    out = apply_edit("a = 1\n\nb = 2\n", "a = 1\n\n\nb = 2\n", "a = 1\n\n\nc = 3\n\nb = 2\n")
    assert out.ok, out.message
    assert out.content == "a = 1\n\nc = 3\n\nb = 2\n"


def test_blank_line_opening_old_text_alone_at_the_start_of_the_file() -> None:
    text = "import os\nimport sys\n"
    out = apply_edit(text, "\nimport os\n", "from __future__ import annotations\n\nimport os\n")
    assert out.ok, out.message
    assert out.content == "from __future__ import annotations\n\nimport os\nimport sys\n"


def test_drop_added_blanks_leaves_a_gap_of_blank_lines_to_the_counting_rule() -> None:
    old = ["a = 1", "", "", "b = 2"]
    mapping = ((0, 0), None, (1, 1), (2, 2))
    kept_mapping, kept = drop_added_blanks(mapping, old, ["a = 1", "", "b = 2"])
    assert kept == old  # blank lines only between two unchanged lines: editlayout counts them
    assert kept_mapping == mapping


def test_drop_added_blanks_takes_out_the_surplus_line_next_to_a_change() -> None:
    old = ["a = 1", "", "", "b = 2"]
    mapping = ((0, 0), None, (1, 1), (2, 2))
    kept_mapping, kept = drop_added_blanks(mapping, old, ["a = 1", "", "def c():", "", "b = 2"])
    assert kept == ["a = 1", "", "b = 2"]
    assert kept_mapping == ((0, 0), (1, 1), (2, 2))
    # A written line of the same kind as the one above goes right below it: that blank line was noise too.
    assert drop_added_blanks(mapping, old, ["a = 1", "", "c = 3", "", "b = 2"]) == (mapping, old)


# --- trailing blanks -----------------------------------------------------------------------------------------


def test_trailing_blanks_the_model_copied_and_removed_are_removed_in_the_whitespace_tier() -> None:
    text = "def f():\n    x = 1   \n    return x\n"
    out = apply_edit(text, "def f():  \n    x = 1   \n", "def f():  \n    x = 1\n")
    assert out.tier == "whitespace"
    assert out.content == "def f():\n    x = 1\n    return x\n"


def test_a_whitespace_only_line_emptied_on_purpose_is_emptied() -> None:
    out = apply_edit("a\n    \nb\n", "a \n    \nb\n", "a \n\nb\n")
    assert out.tier == "whitespace"
    assert out.content == "a\n\nb\n"


def test_trailing_blanks_added_outside_the_exact_tier_stay_noise() -> None:
    out = apply_edit("def f():\n    x = 1\n", "def f():  \n    x = 1\n", "def f():  \n    x = 1  \n")
    assert out.ok
    assert out.content == "def f():\n    x = 1\n"


def test_the_exact_tier_still_keeps_new_texts_trailing_blanks_byte_for_byte() -> None:
    out = apply_edit("x = 1\ny = 2\n", "y = 2\n", "y = 3  \n")
    assert out.tier == "exact"
    assert out.content == "x = 1\ny = 3  \n"


# --- blank lines the model dropped go back outside statements --------------------------------------------------


def test_a_dropped_blank_line_is_not_put_inside_a_call_that_opens_a_bracket() -> None:
    text = "import os\n\n\ndef merge(a, b):\n    return a\n"
    out = apply_edit(text, "import os\n\ndef merge(a, b):\n    return a\n",
                     "import os\n\ndef merge(\n    a, b\n):\n    return a\n")
    assert out.ok, out.message
    assert out.content == "import os\n\n\ndef merge(\n    a, b\n):\n    return a\n"


# --- places that need a line's tail ------------------------------------------------------------------------------

TWINS = "class A:\n    def request(\n        self,\n    ):\n        pass\n\n    async def request(\n        self,\n    ):\n        pass\n"


def test_an_indented_whole_line_copy_is_no_twin_of_a_lines_tail() -> None:
    out = apply_edit(TWINS, "    def request(\n        self,\n", "    def request(\n        this,\n")
    assert out.tier == "exact"
    assert out.lines == (2,)
    assert "async def request(\n        self," in out.content


def test_an_indented_copy_with_whitespace_noise_is_no_twin_of_a_lines_tail() -> None:
    out = apply_edit(TWINS, "    def request(  \n        self,\n", "    def request(\n        this,\n")
    assert out.tier == "whitespace"
    assert out.lines == (2,)
    assert "async def request(\n        self," in out.content


def test_a_copy_from_the_middle_of_a_line_still_reaches_the_tail() -> None:
    out = apply_edit(TWINS, "async def request(\n        self,\n", "async def request(\n        other,\n")
    assert out.ok, out.message
    assert out.lines == (7,)
    assert "    def request(\n        self," in out.content


# --- adversarial: an edit that fits two places never lands in either --------------------------------------------


@pytest.mark.parametrize(
    ("old", "how"),
    [
        ("def f(\n    a,\n", "exactly"),  # the same text is the tail of 'async def f(' too
        ("def f(\n\n    a,\n", "ignoring whitespace"),  # and with a blank line the model added
    ],
)
def test_an_unindented_copy_that_fits_a_whole_line_and_a_tail_is_refused_with_both(old: str, how: str) -> None:
    text = "def f(\n    a,\n):\n    pass\n\n\nasync def f(\n    a,\n):\n    pass\n"
    out = apply_edit(text, old, old.replace("a,", "b,"))
    assert not out.ok
    assert out.content == text
    assert how in out.message
    assert "lines 1, 7" in out.message
    assert "line above it: start of file" in out.message
    assert "line above it: 'pass'" in out.message


def test_a_blank_line_added_to_a_block_that_sits_twice_at_two_indentations_is_refused() -> None:
    text = "if a:\n    x = 1\n    y = 2\n\n\ndef g():\n    if a:\n        x = 1\n        y = 2\n"
    out = apply_edit(text, "if a:\n\n    x = 1\n    y = 2\n", "if a:\n    x = 3\n    y = 2\n")
    assert not out.ok
    assert out.content == text
    assert "lines 1, 7" in out.message
    assert [c.line for c in out.candidates] == [1, 7]


# --- places that give the very same file are one answer ------------------------------------------------------


def test_places_whose_replacement_gives_the_same_file_are_not_ambiguous() -> None:
    out = apply_edit("x\nx\nx\n", "x\nx\n", "x\nx\nx\n")
    assert out.ok, out.message
    assert out.content == "x\nx\nx\nx\n"


def test_places_whose_replacement_differs_stay_ambiguous() -> None:
    text = "a\nx\nx\nb\n"
    out = apply_edit(text, "x\n", "x\n# c\n")
    assert not out.ok
    assert out.content == text
    assert "lines 2, 3" in out.message
