"""A pack streamed to a sink piece by piece is byte-identical to the one built as a string, and a streamed
whole-tree pack's memory does not grow with the tree (the CLI's ``-o FILE`` and stdout stream)."""

from __future__ import annotations

import shutil
import tracemalloc
from pathlib import Path

import pytest

from tests.conftest import make_git_repo, run_cli
from v4agent.pack import PackError, PackOptions, Snapshot
from v4agent.pack.work import pool as pool_module
from v4agent.pack.work import schedule as schedule_module
from v4agent.tokens import tiktoken_offline
from v4agent.tokens import tokenizer as tokenizer_module

_LINE = "value = compute(alpha, beta, gamma)  # a plain line of code\n"
_KEY = "AKIA" + "Z7QX3PLM2R8TWN4B"  # an AWS access key id: redacted in the text


def _repo(root: Path, copies: int, lines: int) -> Path:
    files = {f"pkg{i % 4}/m{i}.py": f"def f{i}(x):\n" + ("    " + _LINE) * lines + f"    return helper{i % 7}(x)\n"
             for i in range(copies)}
    files["pkg0/keys.py"] = f'AWS_KEY = "{_KEY}"\n'
    files["README.md"] = "# demo\n" + "words and more words\n" * 50
    repo = make_git_repo(root, files)
    (repo / "link.py").symlink_to("pkg0/m0.py")
    return repo


def _cold(repo: Path, options: PackOptions, sink: list[str] | None) -> Snapshot:
    shutil.rmtree(repo / ".v4agent", ignore_errors=True)
    return Snapshot.build(repo, options, track_changes=False, sink=None if sink is None else sink.append)


@pytest.mark.parametrize(("fmt", "budget"), [("xml", None), ("markdown", None), ("xml", 6_000)])
def test_a_streamed_pack_is_the_built_text(tmp_path: Path, fmt: str, budget: int | None) -> None:
    repo = _repo(tmp_path / "repo", 60, 700)  # ~2.5 MB: the workers scan and count ahead (texts read twice)
    options = PackOptions(tokenizer="o200k", budget=budget, fmt=fmt)
    built = _cold(repo, options, None)
    pieces: list[str] = []
    streamed = _cold(repo, options, pieces)
    assert streamed.text == ""
    assert "".join(pieces) == built.text
    assert _KEY not in built.text
    assert "pkg0/keys.py" in built.text
    assert streamed.token_count == built.token_count
    assert streamed.files == built.files
    if budget is not None:
        assert {f.mode for f in built.files} >= {"full", "skeleton"}
    warm: list[str] = []  # the same from the cache
    Snapshot.build(repo, options, track_changes=False, sink=warm.append)
    assert "".join(warm) == built.text


def test_nothing_is_streamed_when_nothing_is_packed(tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path / "repo", {"blob.bin": "\0\1\2" * 100})
    pieces: list[str] = []
    snap = Snapshot.build(repo, PackOptions(tokenizer="o200k", budget=None), track_changes=False,
                          sink=pieces.append)
    assert not snap.files
    assert not pieces


def test_a_streamed_pack_is_one_shot(tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    with pytest.raises(ValueError, match="one-shot"):
        Snapshot.build(repo, PackOptions(tokenizer="o200k"), sink=print)


def test_a_streamed_whole_tree_pack_holds_a_few_files_not_the_tree(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """What the pack holds is bounded by the texts the workers may hold ahead (tens of MB in use), not by the
    tree: with that bound far below this tree's size, the peak is too."""
    monkeypatch.setattr(pool_module, "_IN_FLIGHT_BYTES", 1 << 20)
    repo = _repo(tmp_path / "repo", 120, 1400)  # ~10 MB
    options = PackOptions(tokenizer="o200k", budget=None)
    Snapshot.build(repo, options, track_changes=False, sink=lambda _t: None)  # warm imports (not the counts)
    shutil.rmtree(repo / ".v4agent")
    size = 0

    def sink(text: str) -> None:
        nonlocal size
        size += len(text)

    tracemalloc.start()
    try:
        Snapshot.build(repo, options, track_changes=False, sink=sink)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size > 10_000_000
    assert peak < 0.3 * size, f"peak {peak:,} bytes for a {size:,}-byte pack"


def test_the_cli_streams_the_same_bytes_to_a_file_and_to_stdout(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo", 60, 700)
    expected = _cold(repo, PackOptions(tokenizer="o200k", budget=None), None).text
    out = tmp_path / "out" / "pack.xml"
    out.parent.mkdir()
    out.write_text("old\n")
    shutil.rmtree(repo / ".v4agent")
    done = run_cli("pack", str(repo), "--budget", "none", "--tokenizer", "o200k", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8") == expected
    assert sorted(p.name for p in out.parent.iterdir()) == ["pack.xml"]  # no temp file left beside it
    piped = run_cli("pack", str(repo), "--budget", "none", "--tokenizer", "o200k")
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == expected


def test_an_unwritable_output_is_a_clear_error_and_an_empty_pack_keeps_the_old_file(tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    blocker = tmp_path / "file"
    blocker.write_text("not a directory\n")
    done = run_cli("pack", str(repo), "--tokenizer", "o200k", "-o", str(blocker / "pack.xml"))
    assert done.returncode != 0
    assert "cannot write" in done.stderr
    assert "Traceback" not in done.stderr
    assert blocker.read_text() == "not a directory\n"
    empty = make_git_repo(tmp_path / "empty", {"blob.bin": "\0\1\2" * 100})
    old = tmp_path / "old.xml"
    old.write_text("old pack\n")
    done = run_cli("pack", str(empty), "--tokenizer", "o200k", "-o", str(old))
    assert done.returncode != 0
    assert "nothing to pack" in done.stderr
    assert old.read_text() == "old pack\n"


def test_a_tokenizer_that_cannot_load_stops_a_cold_whole_tree_pack_with_a_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cold whole-tree pack loads its tokenizer while it discovers the files: a failure there is reported by the
    build, as the error it would be without that head start."""
    repo = make_git_repo(tmp_path / "repo", {"a.py": "x = 1\n"})

    def missing(name: str) -> Path:
        raise tiktoken_offline.TiktokenDataError("the rank file is gone")

    monkeypatch.setattr(tiktoken_offline, "rank_file_path", missing)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "no-cache"))
    tokenizer_module._load.cache_clear()
    try:
        with pytest.raises(PackError, match="cannot load the cl100k tokenizer: the rank file is gone"):
            Snapshot.build(repo, PackOptions(tokenizer="cl100k", budget=None), track_changes=False, sink=print)
    finally:
        tokenizer_module._load.cache_clear()


def test_a_file_edited_while_a_whole_tree_pack_is_written_stops_it(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The writing now overlaps the counting: a file edited after it was read and counted, before it is written,
    is still caught (its content is checked against the blob it was counted as), never written stale or mixed."""
    monkeypatch.setattr(schedule_module, "COUNT_AHEAD_BYTES", 1)  # the workers count, as in a large tree
    repo = _repo(tmp_path / "repo", 60, 200)
    last = repo / "pkg3/m59.py"  # written among the last (one commit: the files are written in path order)
    written: list[str] = []

    def sink(text: str) -> None:
        if not written:
            last.write_text(last.read_text() + "# edited meanwhile\n")
        written.append(text)

    with pytest.raises(PackError, match=r"pkg3/m59\.py changed while it was being packed"):
        Snapshot.build(repo, PackOptions(tokenizer="o200k", budget=None), track_changes=False, sink=sink)
    assert not any("edited meanwhile" in piece for piece in written)
