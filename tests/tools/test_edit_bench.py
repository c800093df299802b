"""The edits bench's judging rules: literal requests, places once whitespace is set aside, other readings."""

from __future__ import annotations

from bench.bench_edits import Edit, _holds, literal_request, other_reading, places_ignoring_whitespace

FILE = "import os\n\nx = 1\ny = 2\n"


def _edit(text: str, start: int, body: tuple[tuple[str, str], ...]) -> Edit:
    return Edit("p", "c" * 40, "f.py", text, start, body)


def test_noise_that_leaves_old_text_exact_is_judged_literally() -> None:
    edit = _edit(FILE, 2, ((" ", "x = 1"), ("-", "y = 2"), ("+", "y = 3")))
    clean = ("x = 1\ny = 2\n", "x = 1\ny = 3\n")
    # Trailing blanks on the added line only: old_text is still exact, the blanks are a real request.
    assert literal_request(edit, "x = 1\ny = 2\n", "x = 1\ny = 3  \n", clean) == "import os\n\nx = 1\ny = 3  \n"
    # Noise on old_text: not exact any more, judged against the real commit.
    assert literal_request(edit, "x = 1 \ny = 2\n", "x = 1 \ny = 3\n", clean) is None
    # Tabs: the exact tier gives new_text the file's spaces, so the commit stays the judge.
    assert literal_request(edit, "x = 1\ny = 2\n", "x = 1\n\ty = 3\n", clean) is None


def test_places_ignoring_whitespace_counts_shifted_copies_and_line_tails() -> None:
    text = "def f(\n    a,\n):\n    pass\n\n\nclass A:\n    async def f(\n        a,\n    ):\n        pass\n"
    edit = _edit(text, 0, ((" ", "def f("), ("-", "    a,"), ("+", "    b,")))
    assert places_ignoring_whitespace(edit, "def f(\n    a,\n") == 2  # a shifted copy, or a line's tail
    assert places_ignoring_whitespace(edit, "    async def f(\n        a,\n") == 1


def test_other_reading_is_a_result_another_real_edit_would_ask_for_with_the_same_texts() -> None:
    text = 'x = 1\n\ny = 2\n'
    edit = _edit(text, 0, ((" ", "x = 1"), ("+", "z = 0"), (" ", ""), (" ", "y = 2")))
    # The model sent old_text with a blank line the file lacks, and new_text with one more blank line too.
    old, new = "x = 1\n\n\ny = 2\n", "x = 1\n\n\nz = 0\n\ny = 2\n"
    # Read as a blank line added to old_text alone, the real edit adds a blank line and z = 0 ...
    assert other_reading(edit, old, new, "x = 1\n\n\nz = 0\n\ny = 2\n")
    # ... read as one added to both texts, it adds z = 0 after the blank line; a third result is no reading.
    assert other_reading(edit, old, new, "x = 1\n\nz = 0\n\ny = 2\n")
    assert not other_reading(edit, old, new, "x = 1\nz = 0\ny = 2\n")


def test_a_blank_line_added_to_old_text_alone_at_its_end_is_no_reading_where_the_file_has_one_there() -> None:
    # old_blank_edge adds a blank line below old_text only where the file has none: here it has one, so the
    # only reading of the texts is a blank line added to both (blank_end).
    text = "x = 1\ny = 2\n\nz = 3\n"
    edit = _edit(text, 0, ((" ", "x = 1"), ("-", "y = 2"), ("+", "y = 3")))
    old, new = "x = 1\ny = 2\n\n", "x = 1\ny = 3\n\n"
    assert other_reading(edit, old, new, "x = 1\ny = 3\n\nz = 3\n")
    assert not other_reading(edit, old, new, "x = 1\ny = 3\n\n\nz = 3\n")


def test_a_blank_line_put_back_is_a_reading_only_where_it_can_be_a_context_line() -> None:
    text = "a\nb\n\nc\n"
    # Put back at old line 2 and new line 0, the blank line cannot be a context line of a shortest diff.
    assert not _holds(text, 0, text, ["a", "b", "", "c", ""], ["", "a", "b", "c", ""], "2,0")
    assert _holds(text, 0, text, ["a", "b", "", "c", ""], ["a", "b", "", "x", "c", ""], "2,2")


def test_the_end_of_the_file_counts_as_a_blank_line_below_old_text_as_the_noise_reads_it() -> None:
    text = "x = 1\ny = 2\n"
    assert not _holds(text, 0, text, ["x = 1", "y = 2", ""], ["x = 1", "y = 3", "", ""], "bottom")
    assert _holds(text, 0, "x = 1\n", ["x = 1", ""], ["x = 0", ""], "bottom")
