"""``OutputStream``: a file written in pieces replaces the old one only when complete, as ``write_output``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from v4agent.core import tempfiles
from v4agent.core.fsutil import OutputStream


def test_pieces_replace_the_file_once_committed_keeping_its_mode(tmp_path: Path) -> None:
    out = tmp_path / "pack.xml"
    out.write_text("old\n")
    out.chmod(0o640)
    stream = OutputStream(out)
    stream.write("<a>")
    stream.write("é" * (1 << 20))  # past the buffer: written before the end
    assert out.read_text() == "old\n"  # not replaced before the commit
    stream.write("</a>\n")
    stream.commit()
    assert out.read_text(encoding="utf-8") == "<a>" + "é" * (1 << 20) + "</a>\n"
    assert out.stat().st_mode & 0o777 == 0o640
    assert os.listdir(tmp_path) == ["pack.xml"]


def test_an_error_in_the_block_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    out = tmp_path / "pack.xml"
    out.write_text("old\n")
    def fail() -> None:
        with OutputStream(out) as stream:
            stream.write("x" * (2 << 20))
            raise RuntimeError("build failed")

    with pytest.raises(RuntimeError):
        fail()
    assert out.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["pack.xml"]


def test_a_named_temp_file_where_unnamed_ones_cannot_be_linked(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfiles, "_link", lambda *_a: False)  # no /proc: the bytes are copied to a named file
    out = tmp_path / "new" / "pack.xml"
    with OutputStream(out) as stream:
        stream.write("a" * (3 << 20))
        stream.write("b")
    assert out.read_text() == "a" * (3 << 20) + "b"
    assert os.listdir(out.parent) == ["pack.xml"]
    monkeypatch.setattr(tempfiles, "_link_works", False)  # named from the start; discarded: removed
    stream = OutputStream(out)
    stream.write("c" * (2 << 20))
    stream.discard()
    assert os.listdir(out.parent) == ["pack.xml"]
    assert out.stat().st_size == (3 << 20) + 1


def test_a_symlink_is_followed_and_a_device_written_in_place(tmp_path: Path) -> None:
    target = tmp_path / "real.xml"
    target.write_text("old\n")
    link = tmp_path / "link.xml"
    link.symlink_to(target)
    with OutputStream(link) as stream:
        stream.write("new\n")
    assert link.is_symlink()
    assert target.read_text() == "new\n"
    with OutputStream(Path("/dev/null")) as stream:
        stream.write("gone\n")
    assert Path("/dev/null").is_char_device()


def test_nothing_is_opened_before_the_first_write(tmp_path: Path) -> None:
    out = tmp_path / "missing" / "pack.xml"
    OutputStream(out).discard()
    assert not out.parent.exists()
