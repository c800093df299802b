"""grep's parsing of ripgrep's output, and names that are not text."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_git_repo
from v4agent.tools.search import grep, parse_rg


def test_records_are_read_from_their_nul_not_split_on_newlines() -> None:
    out = (b"./a\n/etc/passwd:1: root\x003:[Omitted long matching line]\n"
           b"bin.dat: binary file matches (found \"\\0\" byte around offset 4)\n"
           b"src/x.py\x0012:x = 1\n"
           b"caf\xff.txt\x001:y\n"
           b"no separator here\n")
    assert parse_rg(out) == [("a\n/etc/passwd:1: root", 3), ("src/x.py", 12), ("caf\udcff.txt", 1)]


@pytest.mark.parametrize("use_rg", [True, False])
def test_a_name_that_is_not_utf8_is_found_and_shown_escaped(tmp_path: Path, use_rg: bool) -> None:
    root = make_git_repo(tmp_path / "repo", {"README.md": "# r\n"})
    (root / "caf\udcff.txt").write_text("needle\n")  # the byte 0xff, through surrogateescape
    assert grep(root, "needle", use_rg=use_rg) == "caf\\xff.txt:1: needle"
