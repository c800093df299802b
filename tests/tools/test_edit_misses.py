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


# --- blank lines the model added: to old_text alone, or to both texts ------------------------------------------


def test_an_import_written_below_an_import_after_a_blank_line_added_to_both_texts() -> None:
    # psf/requests 561e4b6889 src/requests/auth.py, extra_blank: the commit adds ``from typing`` right below
    # ``from base64``; the model added a blank line after that line in both texts.
    text = "import warnings\nfrom base64 import b64encode\n\nfrom ._internal_utils import to_native_string\n"
    out = apply_edit(text, "from base64 import b64encode\n\n\nfrom ._internal_utils import to_native_string\n",
                     "from base64 import b64encode\n\nfrom typing import Any\n\nfrom ._internal_utils import to_native_string\n")
    assert out.ok, out.message
    assert out.content == ("import warnings\nfrom base64 import b64encode\nfrom typing import Any\n\n"
                           "from ._internal_utils import to_native_string\n")


def test_a_line_of_another_kind_keeps_the_blank_line_above_it() -> None:
    # psf/requests 2a6f290b requests/cookies.py-like, old_blank: a package import after the standard library's
    # keeps the blank line the model wrote above it (added to old_text alone).
    text = "import copy\nimport time\n\nimport calendar\n"
    out = apply_edit(text, "import time\n\n\nimport calendar\n", "import time\n\nfrom ._internal_utils import x\n")
    assert out.ok, out.message
    assert out.content == "import copy\nimport time\n\nfrom ._internal_utils import x\n"


def test_a_run_of_blank_lines_longer_than_the_file_has_at_that_indentation_was_noise() -> None:
    # python-attrs/attrs 5bab46de tests/test_validators.py, extra_blank: a method written after another, two
    # blank lines above it in new_text where the class only ever has one.
    text = ("class TestV:\n    def test_a(self):\n        v(None)\n\n\nclass TestW:\n    def test_c(self):\n"
            "        pass\n")
    out = apply_edit(text, "        v(None)\n\n\n\nclass TestW:\n",
                     "        v(None)\n\n\n    def test_b(self):\n        pass\n\n\nclass TestW:\n")
    assert out.ok, out.message
    assert out.content == ("class TestV:\n    def test_a(self):\n        v(None)\n\n    def test_b(self):\n        pass\n"
                           "\n\nclass TestW:\n    def test_c(self):\n        pass\n")


# --- blank lines the model left out ------------------------------------------------------------------------------


def test_a_dropped_blank_line_goes_back_above_an_import_of_the_group_below() -> None:
    # psf/requests 6f66281a1d src/requests/models.py, drop_blank: the commit adds ``from . import`` at the head
    # of the package's own imports; the model left out the blank line above them.
    text = ("from urllib3.util import parse_url\n\nfrom ._internal_utils import to_native_string\n"
            "from .auth import HTTPBasicAuth\n")
    out = apply_edit(text, "from urllib3.util import parse_url\nfrom ._internal_utils import to_native_string\n",
                     "from urllib3.util import parse_url\nfrom . import _types as _t\n"
                     "from ._internal_utils import to_native_string\n")
    assert out.ok, out.message
    assert out.content == ("from urllib3.util import parse_url\n\nfrom . import _types as _t\n"
                           "from ._internal_utils import to_native_string\nfrom .auth import HTTPBasicAuth\n")


def test_a_dropped_blank_line_stays_below_the_future_import() -> None:
    # encode/httpx 41597adffa httpx/_models.py, drop_blank: ``import codecs`` joins the standard library's
    # imports, not ``from __future__``.
    text = "from __future__ import annotations\n\nimport datetime\nimport json\n"
    out = apply_edit(text, "from __future__ import annotations\nimport datetime\n",
                     "from __future__ import annotations\nimport codecs\nimport datetime\n")
    assert out.ok, out.message
    assert out.content == "from __future__ import annotations\n\nimport codecs\nimport datetime\nimport json\n"


def test_a_dropped_blank_line_goes_back_above_a_field_written_among_fields() -> None:
    # psf/requests 1190afd14f src/requests/models.py, drop_blank: an annotated field added above the others,
    # below the class docstring and its blank line.
    text = 'class P:\n    """Doc."""\n\n    method: str | None\n    url: str | None\n'
    out = apply_edit(text, '    """Doc."""\n    method: str | None\n',
                     '    """Doc."""\n    hooks: dict[str, list[int]]\n    method: str | None\n')
    assert out.ok, out.message
    assert out.content == 'class P:\n    """Doc."""\n\n    hooks: dict[str, list[int]]\n    method: str | None\n    url: str | None\n'


def test_a_whitespace_only_line_copied_exactly_stands_for_the_files_beside_an_added_blank_line() -> None:
    # Textualize/rich 60e813379b rich/box.py, old_blank: the model added a blank line below the docstring's
    # whitespace-only line, which the commit empties.
    text = '    def get_top(self):\n        """Get the top.\n        \n        Args:\n        """\n'
    out = apply_edit(text, '        """Get the top.\n        \n\n        Args:\n', '        """Get the top.\n\n        Args:\n')
    assert out.ok, out.message
    assert out.content == '    def get_top(self):\n        """Get the top.\n\n        Args:\n        """\n'


def test_a_written_block_that_ends_like_the_line_above_it_is_laid_out_after_that_line() -> None:
    # Textualize/rich 59b1aca63b tests/test_text.py, extra_blank: the commit writes a test whose body ends in
    # ``    ]``, as the line above the spot does; the model added a blank line after that line in both texts.
    # The diff pairs the common head first (as git does), so the added blank line is the one after it.
    text = "def test_a():\n    x = [\n        1,\n    ]\n\n\ndef test_c():\n    pass\n"
    out = apply_edit(text, "    ]\n\n\n\ndef test_c():\n",
                     "    ]\n\n\n\ndef test_b():\n    y = [\n        2,\n    ]\n\n\ndef test_c():\n")
    assert out.ok, out.message
    assert out.content == ("def test_a():\n    x = [\n        1,\n    ]\n\n\ndef test_b():\n    y = [\n        2,\n    ]\n\n\n"
                           "def test_c():\n    pass\n")


def test_a_blank_line_closing_both_texts_at_the_end_of_the_file_is_noise_in_both() -> None:
    # encode/httpx 392dbe45 httpx/_decoders.py, blank_end: the commit appends two lines at the end of the file;
    # the model added a blank line at the end of both texts, which the file's end does not take.
    text = 'if brotli is None:\n    DECODERS.pop("br")\n'
    out = apply_edit(text, 'if brotli is None:\n    DECODERS.pop("br")\n\n',
                     'if brotli is None:\n    DECODERS.pop("br")\nif zstd is None:\n    DECODERS.pop("zstd")\n\n')
    assert out.ok, out.message
    assert out.content == 'if brotli is None:\n    DECODERS.pop("br")\nif zstd is None:\n    DECODERS.pop("zstd")\n'
