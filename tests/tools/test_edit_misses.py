"""Edits the bench (bench/bench_edits.py) used to get wrong, cut down from the real upstream hunks it found them in
(issue #22): each names its project, commit and noise kind."""

from __future__ import annotations

from v4agent.tools.editmatch import apply_edit

# --- trailing blanks ------------------------------------------------------------------------------------------


def test_trailing_blanks_on_written_lines_stand_when_the_copied_lines_have_none() -> None:
    # pallets/flask 0a1090890f flask/wrappers.py, tabs: the commit's added line ends in a blank; the model
    # sent tabs, so the match is whitespace-tolerant, but it added no trailing blanks to what it copied.
    text = "class R:\n    #: a before/after handler etc.\n    #:\n    url_rule = None\n"
    out = apply_edit(text, "\t#: a before/after handler etc.\n\t#:\n", "\t#: a before/after handler etc.\n\t#: because. \n\t#:\n")
    assert out.tier == "whitespace", out.message
    assert out.content == "class R:\n    #: a before/after handler etc.\n    #: because. \n    #:\n    url_rule = None\n"


def test_a_whitespace_only_line_written_with_tabs_takes_the_files_spaces() -> None:
    # Textualize/rich b391635ee4 rich/console.py, tabs: the commit adds a docstring and a line of four spaces.
    text = "def render_group(fit):\n    def decorator(method):\n        pass\n"
    out = apply_edit(text, "def render_group(fit):\n\tdef decorator(method):\n",
                     'def render_group(fit):\n\t"""A decorator."""\n\t\n\tdef decorator(method):\n')
    assert out.ok, out.message
    assert out.content == 'def render_group(fit):\n    """A decorator."""\n    \n    def decorator(method):\n        pass\n'


def test_trailing_blanks_still_noise_when_the_copied_lines_have_them_too() -> None:
    out = apply_edit("def f():\n    x = 1\n", "def f():  \n    x = 1\n", "def f():  \n    x = 1\n    y = 2 \n")
    assert out.content == "def f():\n    x = 1\n    y = 2\n"


def test_trailing_blanks_copied_exactly_and_changed_to_others_are_removed() -> None:
    # Textualize/rich 60e813379b rich/_pick.py, trailing_ws: the commit strips a line's eight trailing spaces;
    # the model copied them exactly and its new_text has a tab there instead (noise, never a request).
    text = '    """Pick.  \n\n    Args:\n        *values (bool): Any.        \n\n    Returns:\n'
    out = apply_edit(text, '    """Pick.  \n\n    Args:\n        *values (bool): Any.        \n\n    Returns: \n',
                     '    """Pick.  \n\n    Args:\n        *values (bool): Any.\t\n\n    Returns: \n')
    assert out.tier == "whitespace", out.message
    assert out.content == '    """Pick.  \n\n    Args:\n        *values (bool): Any.\n\n    Returns:\n'


# --- blank lines ------------------------------------------------------------------------------------------------


def test_a_whitespace_only_line_emptied_beside_a_blank_line_the_model_added() -> None:
    # Textualize/rich 60e813379b rich/box.py, old_blank: the commit empties a docstring's whitespace-only line;
    # the model added a blank line above it in old_text alone.
    text = '    ) -> str:\n        """Get the top.\n        \n        Args:\n            width.\n        """\n'
    out = apply_edit(text, '    ) -> str:\n        """Get the top.\n\n        \n        Args:\n',
                     '    ) -> str:\n        """Get the top.\n\n        Args:\n')
    assert out.ok, out.message
    assert out.content == '    ) -> str:\n        """Get the top.\n\n        Args:\n            width.\n        """\n'


# --- places -----------------------------------------------------------------------------------------------------

_CLIENTS = (
    "class Client:\n    def get(\n        self,\n        url: str,\n    ) -> None:\n        pass\n\n\n"
    "class AsyncClient:\n    async def get(\n        self,\n        url: str,\n    ) -> None:\n        pass\n"
)


def test_a_shifted_copy_is_no_twin_of_a_line_tail_that_would_need_the_shift_too() -> None:
    # encode/httpx 359f77d4f6 httpx/_client.py, shift_indent: old_text dedented to column 0. It fits
    # ``def get(`` whole, shifted, or ``async def get(``'s tail, shifted too: two slips where one will do.
    out = apply_edit(_CLIENTS, "def get(\n    self,\n    url: str,\n", "def get(\n    self,\n    url: int,\n")
    assert out.ok, out.message
    assert out.lines == (2,)
    assert out.content == _CLIENTS.replace("url: str", "url: int", 1)


def test_a_line_tail_copied_with_the_files_indentation_is_still_two_readings() -> None:
    # Copied with the file's indentation, ``def get(`` is the whole line of one and the tail of the other.
    out = apply_edit(_CLIENTS, "def get(\n        self,\n        url: str,\n", "def get(\n        self,\n        url: int,\n")
    assert not out.ok
    assert [c.line for c in out.candidates] == [2, 10]
