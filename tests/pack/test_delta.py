"""Snapshot.delta's change detection: size or mtime, new files in new directories, edits plus additions; with
inotify naming the touched paths (Linux) and without it (every file's lstat), the same answers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import make_git_repo
from v4agent.pack import PackOptions, Snapshot
from v4agent.pack import snapshot as snapshot_module
from v4agent.pack.watch import DirWatch
from v4agent.tokens.tokenizer import get_tokenizer


def _inotify_available() -> bool:
    probe = DirWatch.start([])
    if probe is None:
        return False
    probe.close()
    return True


INOTIFY = _inotify_available()


@pytest.fixture(autouse=True, params=["inotify", "stat"])
def watch(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs with the inotify watch and with the lstat scan of every file."""
    if request.param == "inotify" and not INOTIFY:
        pytest.skip("inotify is not available here")
    if request.param == "stat":
        monkeypatch.setattr(DirWatch, "start", classmethod(lambda cls, dirs: None))
    return str(request.param)


def test_same_mtime_other_size_is_a_change(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.py": "A = 1\n", "b.py": "B = 2\n"})
    snap = Snapshot.build(root, PackOptions())
    before = os.lstat(root / "a.py")
    (root / "a.py").write_text("A = 12345\n")
    os.utime(root / "a.py", ns=(before.st_atime_ns, before.st_mtime_ns))  # an edit within one clock tick
    assert snap.delta().paths == ("a.py",)


def test_edit_and_additions_in_one_block(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"pkg/a.py": "A = 1\n", "pkg/b.py": "B = 2\n"})
    snap = Snapshot.build(root, PackOptions(fmt="markdown"))
    (root / "pkg/a.py").write_text("A = 'edited'\n")
    (root / "pkg/sub/deep").mkdir(parents=True)
    (root / "pkg/sub/deep/c.py").write_text("C = 'added'\n")
    (root / "top.py").write_text("T = 'added'\n")
    block = snap.delta()
    assert block.paths == ("pkg/a.py", "pkg/sub/deep/c.py", "top.py")
    assert block.text.index("pkg/a.py") < block.text.index("pkg/sub/deep/c.py") < block.text.index("top.py")
    assert "'edited'" in block.text
    assert "C = 'added'" in block.text
    assert "T = 'added'" in block.text
    assert block.tokens == get_tokenizer().count(block.text)


def test_a_one_shot_pack_is_the_same_text_and_refuses_a_delta(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.py": "A = 1\n", "docs/b.md": "# B\n"})
    tracked = Snapshot.build(root, PackOptions())
    once = Snapshot.build(root, PackOptions(), track_changes=False)
    assert once.text == tracked.text
    assert once.files == tracked.files
    assert once.token_count == tracked.token_count
    (root / "a.py").write_text("A = 2\n")
    assert tracked.delta().paths == ("a.py",)
    with pytest.raises(ValueError, match="track_changes=False"):
        once.delta()


def test_the_watch_stats_only_touched_paths(tmp_path: Path, watch: str, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {f"pkg{i}/m{j}.py": f"V = {i * 10 + j}\n" for i in range(10) for j in range(10)}
    root = make_git_repo(tmp_path / "repo", files)
    snap = Snapshot.build(root, PackOptions())
    (root / "pkg3/m4.py").write_text("V = 'edited'\n")
    calls: list[str] = []
    lstat = os.lstat

    def counting(path: str | os.PathLike[str], *args: object, **kwargs: object) -> os.stat_result:
        calls.append(str(path))
        return lstat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(snapshot_module.os, "lstat", counting)
    assert snap.delta().paths == ("pkg3/m4.py",)
    if watch == "inotify":
        assert len(calls) <= 3, calls
    else:
        assert len(calls) >= len(files)


def test_a_change_between_the_render_and_the_watch_is_seen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.py": "A = 1\n", "pkg/b.py": "B = 2\n"})
    start = DirWatch.start.__func__  # type: ignore[attr-defined]

    def late(cls: type[DirWatch], dirs: list[tuple[str, str]]) -> DirWatch | None:
        (root / "a.py").write_text("A = 'during the render'\n")  # after the render read it, before the watch
        (root / "pkg/new.py").write_text("N = 1\n")
        return start(cls, dirs)  # type: ignore[no-any-return]

    monkeypatch.setattr(DirWatch, "start", classmethod(late))
    snap = Snapshot.build(root, PackOptions())
    assert "during the render" not in snap.text
    block = snap.delta()
    assert block.paths == ("a.py", "pkg/new.py")
    assert "during the render" in block.text


def test_a_moved_directory_loses_the_watch_not_the_changes(tmp_path: Path, watch: str) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.py": "A = 1\n", "pkg/sub/b.py": "B = 2\n", "pkg/c.py": "C = 3\n"})
    snap = Snapshot.build(root, PackOptions())
    (root / "a.py").write_text("A = 'edited'\n")
    assert snap.delta().paths == ("a.py",)
    (root / "pkg/sub").rename(root / "moved")  # the watch on pkg/sub now follows it elsewhere
    (root / "moved/b.py").write_text("B = 'edited where it went'\n")
    block = snap.delta()
    assert block.paths == ("a.py", "moved/b.py", "pkg/sub/b.py")
    assert "edited where it went" in block.text
    assert '<deleted path="pkg/sub/b.py"/>' in block.text
    if watch == "inotify":
        assert snap._watch is None  # lost track: every later delta checks every file


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_watch_and_scan_agree_over_random_edits(tmp_path: Path, seed: int, watch: str) -> None:
    """Random edits, additions, deletions, atomic replaces, new and ignored directories: after each step the
    delta with inotify equals the delta of the full scan (both against the same render)."""
    import random

    if watch == "stat":
        pytest.skip("compares the two: run once")
    rng = random.Random(seed)
    files = {f"d{i % 4}/f{i}.py": f"X{i} = {i}\n" for i in range(24)}
    files[".gitignore"] = "build/\n*.log\n"
    root = make_git_repo(tmp_path / "repo", files)
    watched = Snapshot.build(root, PackOptions())
    scanned = Snapshot.build(root, PackOptions())
    scanned.close()  # no watch: every file's lstat
    assert watched._watch is not None
    assert scanned._watch is None
    names = sorted(p for p in files if p.endswith(".py"))
    new_dirs: list[Path] = []
    for step in range(30):
        action = rng.choice(["edit", "add", "delete", "replace", "newdir", "innew", "ignored"])
        target = root / rng.choice(names)
        if action == "edit" and target.exists():
            target.write_text(target.read_text() + f"# step {step}\n")
        elif action == "add":
            (root / f"d{rng.randrange(4)}" / f"new{step}.py").write_text(f"N{step} = 1\n")
        elif action == "delete" and target.exists():
            target.unlink()
        elif action == "replace" and target.exists():  # how editors save: a temporary file renamed over it
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_text(f"R{step} = 'replaced'\n")
            tmp.replace(target)
        elif action == "newdir":  # a new directory, empty or with a file (it has no watch of its own)
            new_dirs.append(root / f"d{rng.randrange(4)}" / f"sub{step}")
            new_dirs[-1].mkdir()
            if rng.random() < 0.5:
                (new_dirs[-1] / "first.py").write_text(f"F{step} = 1\n")
        elif action == "innew" and new_dirs:  # a file added later inside one
            (rng.choice(new_dirs) / f"later{step}.py").write_text(f"L{step} = 1\n")
        elif action == "ignored":
            (root / "build").mkdir(exist_ok=True)
            (root / "build" / f"out{step}.py").write_text("ignored\n")
            (root / f"d{rng.randrange(4)}" / f"run{step}.log").write_text("ignored\n")
        a, b = watched.delta(), scanned.delta()
        assert (a.paths, a.text, a.tokens) == (b.paths, b.text, b.tokens), (step, action)
    assert watched._watch is not None  # none of these loses track


def test_a_tracked_build_preloads_the_tokenizer_and_forks_stay_safe(tmp_path: Path) -> None:
    """A warm build never loads the tokenizer, so the first delta would wait ~0.8 s for it: a tracked build
    starts loading it on a thread. A fork meanwhile waits for the load (never a child with it half made)."""
    import time
    from functools import partial

    from v4agent.pack.work.pool import FilePool, counted_pieces
    from v4agent.tokens import tokenizer as tokenizer_module

    root = make_git_repo(tmp_path / "repo", {"a.py": "A = 1\n"})
    Snapshot.build(root, PackOptions(), track_changes=False)  # fills the token cache: the next builds are warm
    tokenizer_module._load.cache_clear()
    Snapshot.build(root, PackOptions(), track_changes=False)
    assert tokenizer_module._load.cache_info().currsize == 0  # a warm one-shot pack loads nothing
    Snapshot.build(root, PackOptions())
    pool = FilePool(workers=2, min_parallel=1)  # forked while the preload may still run
    try:
        jobs = [("a.py", "A = 1\n", ()), ("b.py", "B = 2\n", ())]
        counted = pool.map(partial(counted_pieces, tokenizer="deepseek-v4", fmt="xml"), jobs)
    finally:
        pool.close()
    deadline = time.monotonic() + 60
    while tokenizer_module._load.cache_info().currsize == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tokenizer_module._load.cache_info().currsize == 1  # nothing here counted: the preload loaded it
    assert counted == counted_pieces(jobs, "deepseek-v4", "xml")
    assert all(n for _, n in counted)


def test_the_preload_starts_after_the_watch_is_set_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Rust tokenizer's load holds the GIL ~0.4 s: started before the build's stat pass and watch set-up, it
    made a warm tracked build of Django 1.2 s instead of 0.65 s."""
    root = make_git_repo(tmp_path / "repo", {"a.py": "A = 1\n", "d/b.py": "B = 2\n"})
    events: list[str] = []
    start, changed = DirWatch.start, snapshot_module._changed

    def watch(*args: object, **kwargs: object) -> object:
        events.append("watch")
        return start(*args, **kwargs)  # type: ignore[arg-type]

    def stat_pass(*args: object, **kwargs: object) -> object:
        events.append("stat pass")
        return changed(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(snapshot_module.DirWatch, "start", staticmethod(watch))
    monkeypatch.setattr(snapshot_module, "_changed", stat_pass)
    monkeypatch.setattr(snapshot_module, "preload_tokenizer", lambda *a: events.append("preload"))
    snap = Snapshot.build(root, PackOptions())
    assert events[-1] == "preload"
    assert events.count("preload") == 1
    if snap._watch is not None:
        assert events[0] == "watch"
        assert "stat pass" in events
        snap.close()
