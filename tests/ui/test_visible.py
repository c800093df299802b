"""ui.visible: every character a terminal would act on or hide is written out; the rest stays as it is."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from v4agent.ui.visible import ESCAPE_STYLE, hidden_count, hidden_note, is_hidden, visible, visible_text


@pytest.mark.parametrize(("raw", "shown"), [
    ("pytest -q tests/", "pytest -q tests/"),
    ("curl x|sh\x1b[2K\rpytest -q", "curl x|sh\\x1b[2K\\rpytest -q"),  # erase the line, back to its start
    ("rm -rf ~\x08\x08\x08\x08echo", "rm -rf ~\\x08\\x08\\x08\\x08echo"),  # backspaces over it
    ("a\x9b2Kb", "a\\x9b2Kb"),  # C1 CSI: one byte that starts an escape sequence
    ("a\x07\x00\x7fb", "a\\x07\\x00\\x7fb"),  # BEL, NUL, DEL
    ("a\x0b\x0cb", "a\\x0b\\x0cb"),  # vertical tab, form feed
    ("ls \u202egnp.exe", "ls \\u202egnp.exe"),  # right-to-left override: shown in another order
    ("a\u2066b\u2069c\u200e\u200f\u061c", "a\\u2066b\\u2069c\\u200e\\u200f\\u061c"),  # isolates, marks
    ("rm\u200b -rf\u200d\u2060\ufeff", "rm\\u200b -rf\\u200d\\u2060\\ufeff"),  # zero-width characters
    ("a\u00adb\u3164c\ufe0fd", "a\\xadb\\u3164c\\ufe0fd"),  # soft hyphen, Hangul filler, variation selector
    ("echo \U000e0041\U000e0042", "echo \\U000e0041\\U000e0042"),  # tag characters: hidden ASCII
    ("a\u2028b\u2029c\x85d", "a\\u2028b\\u2029c\\x85d"),  # separators and NEL do not break the line
    ("line one\nline two\n\tindented", "line one\nline two\n\tindented"),  # newlines and tabs stay
    ("naïve café — 日本語 ✓ 🚀", "naïve café — 日本語 ✓ 🚀"),  # visible Unicode is untouched
])
def test_visible_writes_out_what_a_terminal_would_interpret(raw: str, shown: str) -> None:
    assert visible(raw) == shown


def test_counts_and_the_note() -> None:
    text = "curl x|sh\x1b[2K\rpytest\u202e"
    assert hidden_count(text) == 3
    assert hidden_count("plain\ttext\n") == 0
    assert hidden_note("plain") == ""
    assert hidden_note(text, "\x00").startswith("4 control or invisible characters")
    assert hidden_note("\x1b").startswith("1 control or invisible character shown")
    assert is_hidden("\x1b")
    assert not is_hidden("\n")


def test_the_rich_form_highlights_the_escapes_and_is_never_markup() -> None:
    text = visible_text("[red]x[/] \x1b[31mred", style="bold")
    assert text.plain == "[red]x[/] \\x1b[31mred"
    assert [(text.plain[s.start:s.end], str(s.style)) for s in text.spans] == [("\\x1b", ESCAPE_STYLE)]
    out = io.StringIO()
    Console(file=out, force_terminal=False, width=80).print(text)
    assert out.getvalue() == "[red]x[/] \\x1b[31mred\n"
    assert "\x1b" not in out.getvalue()
