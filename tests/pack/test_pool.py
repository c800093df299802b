"""The cold pack's parallel and lazy work: same output whatever runs it, and secrets scanned where emitted."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TypeVar

import pytest

from tests.conftest import GIT, make_git_repo
from v4agent.pack import PackOptions, Snapshot
from v4agent.pack.builder import build_pack
from v4agent.pack.rank.symbols import language_for
from v4agent.pack.render import render_file
from v4agent.pack.select.analyze import Analysis, emitted_text
from v4agent.pack.work import packrun as packrun_module
from v4agent.pack.work import pool as pool_module
from v4agent.pack.work import schedule as schedule_module
from v4agent.pack.work.item import Item
from v4agent.pack.work.pool import (
    FilePool,
    Pending,
    WorkerLost,
    counted_pieces,
    counted_skeletons_of,
    facts_of,
    skeletons_of,
)
from v4agent.pack.work.survey import survey_of
from v4agent.secrets.scan import scan_secrets
from v4agent.tokens.tokenizer import get_tokenizer

T = TypeVar("T")
SECRET = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"


def _sources(n: int) -> dict[str, str]:
    files = {}
    for i in range(n):
        calls = "\n".join(f"    total += helper_{(i * 7 + j) % n}(x, {j})" for j in range(20 + i % 5))
        files[f"pkg/mod{i:02}.py"] = (
            f'"""Module {i}."""\nfrom pkg.core import core_fn\n\nTOKEN = "{SECRET}"\n\n\n'
            f"def helper_{i}(x, y):\n    '''Help {i}.'''\n    total = core_fn(x)\n{calls}\n    return total + y\n\n\n"
            f"class Thing{i}:\n    def method(self):\n        return helper_{i}(1, 2)\n"
        )
    files["pkg/core.py"] = "def core_fn(x):\n    '''The core.'''\n" + "    x += 1\n" * 40 + "    return x\n"
    files["web/app.js"] = "function start(a) {\n  return a.map(function (x) { return x + 1; });\n}\n"
    return files


def test_pool_gives_the_inline_results_in_order() -> None:
    jobs = sorted(_sources(70).items())  # more than one task per worker
    pool = FilePool(workers=2, min_parallel=1)
    try:
        facts = pool.map(facts_of, jobs)
        assert facts == facts_of(jobs)
        with_edits = [(path, text, edits) for (path, text), (_, edits) in zip(jobs, facts, strict=True)]
        assert pool.map(skeletons_of, with_edits) == skeletons_of(with_edits)
        counted = pool.map(partial(counted_skeletons_of, tokenizer="deepseek-v4", fmt="xml"), with_edits)
        assert [(found, text) for found, text, _ in counted] == skeletons_of(with_edits)
        assert all(n is None for _, _, n in counted_skeletons_of(with_edits, None, "xml"))
        for (path, _), (_, text, tokens) in zip(jobs, counted, strict=True):  # as the packer renders skeletons
            expected = None if text is None else get_tokenizer().count(
                render_file(path, text, "skeleton", "xml", language_for(path) or ""))
            assert tokens == expected, path
        skeleton_jobs = [(path, text, None) for path, text in jobs]
        built = pool.map(skeletons_of, skeleton_jobs)
        assert built == skeletons_of(skeleton_jobs)
        for (path, _), (found, skeleton) in zip(jobs, built, strict=True):
            assert skeleton is None or SECRET not in skeleton  # the skeleton of the redacted text
            assert bool(found) == path.startswith("pkg/mod"), path
    finally:
        pool.close()


def test_pack_is_the_same_with_and_without_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_git_repo(tmp_path / "one", _sources(80))
    copy = tmp_path / "two"
    shutil.copytree(root, copy)
    options = PackOptions(budget=2500)  # far under the whole: ranking and skeletons for every file
    monkeypatch.setattr(pool_module, "_MIN_PARALLEL", 1)
    sent: list[int] = []  # files the workers surveyed (read, analysed, parsed) while this process loaded
    guided = FilePool.send_guided

    def spy(self: FilePool, fn: Callable[[Sequence[tuple[str, bool]]], list[T]],
            jobs: Sequence[tuple[str, bool]], weights: Sequence[int]) -> Pending[T]:
        assert getattr(fn, "func", fn) is survey_of
        sent.append(len(jobs))
        return guided(self, fn, jobs, weights)

    monkeypatch.setattr(FilePool, "send_guided", spy)
    after_rank: list[str] = []  # what the fit sent: with the workers forked again, they count too
    def spying(method: Callable[..., Pending[T]]) -> Callable[..., Pending[T]]:
        def spy(self: FilePool, fn: Callable[[Sequence[tuple[str, str]]], list[T]],
                jobs: Sequence[tuple[str, str]], **size: int) -> Pending[T]:
            if isinstance(fn, partial):
                after_rank.append(f"{fn.func.__name__}:{fn.keywords['tokenizer']}")
            return method(self, fn, jobs, **size)
        return spy

    monkeypatch.setattr(FilePool, "send", spying(FilePool.send))
    monkeypatch.setattr(FilePool, "submit", spying(FilePool.submit))
    parallel = Snapshot.build(root, options)
    if FilePool().parallel:
        assert sum(sent) == 82  # every file: nothing read here
        assert {"counted_pieces:deepseek-v4", "counted_skeletons_of:deepseek-v4"} <= set(after_rank), after_rank
    monkeypatch.setattr(pool_module, "_workers", lambda: 1)  # no workers: nothing ahead, everything inline
    sent.clear()
    inline = Snapshot.build(copy, options)
    assert sent == []
    assert parallel.text == inline.text
    assert parallel.files == inline.files
    assert {f.mode for f in parallel.files} >= {"path", "skeleton"}


@pytest.mark.parametrize("budget", [1500, 4000, None])
def test_no_secret_in_full_skeleton_or_path_only_entries(tmp_path: Path, budget: int | None) -> None:
    root = make_git_repo(tmp_path / "repo", _sources(30))
    snap = Snapshot.build(root, PackOptions(budget=budget))
    assert SECRET not in snap.text
    assert snap.token_count == get_tokenizer().count(snap.text)
    by_mode = {f.mode for f in snap.files}
    for f in snap.files:
        if f.path.startswith("pkg/mod"):
            # Secrets are scanned only where content is emitted; a path-only entry replaces nothing.
            assert (f.redactions > 0) == (f.mode in ("redacted", "skeleton")), f
    if budget == 1500:
        assert "skeleton" in by_mode
        assert "path" in by_mode
    if budget is None:
        assert by_mode == {"full", "redacted"}


def test_counts_on_workers_equal_the_inline_counts() -> None:
    jobs = sorted(_sources(40).items())
    known = [(path, text, None) for path, text in jobs]
    for tokenizer in ("deepseek-v4", "o200k"):
        pool = FilePool(workers=2, min_parallel=1)
        try:
            counted = pool.map(partial(counted_pieces, tokenizer=tokenizer, fmt="xml"), known)
        finally:
            pool.close()
        tok = get_tokenizer(tokenizer)
        for (path, text), (found, tokens) in zip(jobs, counted, strict=True):
            assert found == tuple(scan_secrets(text, path))
            piece = render_file(path, emitted_text(text, Analysis(None, found)), "full", "xml",
                                language_for(path) or "")
            assert SECRET not in piece or not found
            assert tokens == tok.count(piece), path
    # Findings given are used as they are (no second scan): none given for a file with a secret, none found.
    assert counted_pieces([(jobs[0][0], jobs[0][1], ())], "o200k", "xml")[0][0] == ()


@pytest.mark.parametrize("tokenizer", ["deepseek-v4", "o200k"])
def test_whole_pack_counted_ahead_on_workers_is_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         tokenizer: str) -> None:
    root = make_git_repo(tmp_path / "one", _sources(80))
    copy = tmp_path / "two"
    shutil.copytree(root, copy)
    options = PackOptions(tokenizer=tokenizer, budget=None)
    monkeypatch.setattr(schedule_module, "COUNT_AHEAD_BYTES", 1)
    jobs: list[str] = []
    submit = FilePool.submit

    def spy(self: FilePool, fn: Callable[[Sequence[tuple[str, str]]], list[T]],
            batch: Sequence[tuple[str, str]], size: int = 0) -> Pending[T]:
        jobs.extend(getattr(fn, "func", fn).__name__ for _ in batch)
        return submit(self, fn, batch, size)

    monkeypatch.setattr(FilePool, "submit", spy)
    parallel = Snapshot.build(root, options)
    if FilePool().parallel:
        assert jobs.count("counted_pieces") == 82  # every file's scan and count went ahead, while reading
    monkeypatch.setattr(pool_module, "_workers", lambda: 1)
    jobs.clear()
    inline = Snapshot.build(copy, options)
    assert jobs == []
    assert parallel.text == inline.text
    assert parallel.files == inline.files
    assert parallel.token_count == get_tokenizer(tokenizer).count(parallel.text)
    assert SECRET not in parallel.text
    assert sum(f.redactions for f in parallel.files) == 80


def test_a_whole_tree_pack_counts_in_the_order_it_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files with a history (the most recently changed written last) and one changed now (after them): a
    whole-tree pack sends them
    to be counted in the order it writes them, so writing follows the counts; the pack, its records and its
    blobs (in discovery order) are the same as the one built without workers."""
    root = make_git_repo(tmp_path / "one", _sources(40))
    for n in (7, 23, 3):  # each commit makes its file the newest
        path = root / f"pkg/mod{n:02}.py"
        path.write_text(path.read_text() + f"# touched {n}\n")
        subprocess.run([*GIT, "-C", str(root), "commit", "-qam", f"touch {n}"], check=True)
    (root / "pkg/mod11.py").write_text("def changed():\n    return 1\n")
    copy = tmp_path / "two"
    shutil.copytree(root, copy)
    options = PackOptions(tokenizer="o200k", budget=None)
    monkeypatch.setattr(schedule_module, "COUNT_AHEAD_BYTES", 1)
    counted: list[str] = []
    submit = FilePool.submit

    def spy(self: FilePool, fn: Callable[[Sequence[tuple[str, str]]], list[T]],
            batch: Sequence[tuple[str, str]], size: int = 0) -> Pending[T]:
        if getattr(fn, "func", fn) is counted_pieces:
            counted.extend(job[0] for job in batch)
        return submit(self, fn, batch, size)

    monkeypatch.setattr(FilePool, "submit", spy)
    parallel = build_pack(root, options)
    written = [f.path for f in parallel.files]
    assert written[-4:] == ["pkg/mod07.py", "pkg/mod23.py", "pkg/mod03.py", "pkg/mod11.py"]
    if FilePool().parallel:
        assert counted == written
    monkeypatch.setattr(pool_module, "_workers", lambda: 1)
    inline = build_pack(copy, options)
    assert parallel.text == inline.text
    assert parallel.files == inline.files
    assert parallel.skipped == inline.skipped
    assert list(parallel.blobs) == list(inline.blobs) == sorted(written)


def test_workers_start_with_the_secret_scanner_ready(tmp_path: Path) -> None:
    """Workers are forked after detect-secrets is imported and the patterns compiled, so they inherit them
    (each would otherwise pay ~0.3 s at its first scan). Checked in a fresh process, where nothing ran before."""
    import subprocess
    import sys

    code = f"""
import sys
from pathlib import Path
from v4agent.pack.options import PackOptions
from v4agent.pack.work.factcache import FactCache
from v4agent.pack.work.packrun import PackRun
from v4agent.secrets.scan import _plugins, _prefilter

def state(jobs):
    return [("detect_secrets" in sys.modules, _plugins.cache_info().currsize, _prefilter.cache_info().currsize)]

assert "detect_secrets" not in sys.modules
run = PackRun(Path({str(tmp_path)!r}), PackOptions(), FactCache(None))
run.workers.pool.workers = 2
run.workers.fork()
print(run.workers.pool.submit(state, []).result())
run.close()
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[(True, 1, 2)]"


def test_guided_chunks_shrink_and_keep_the_input_order() -> None:
    jobs = list(range(400))
    weights = [1 + (i % 7) * 100 for i in jobs]
    pool = FilePool(workers=2, min_parallel=1)
    chunks: list[list[int]] = []

    def record(batch: Sequence[int]) -> list[int]:
        return [x * 2 for x in batch]

    class Recording:
        def submit(self, fn: Callable[[Sequence[int]], list[int]], batch: Sequence[int]) -> object:
            chunks.append(list(batch))
            from concurrent.futures import Future

            future: Future[list[int]] = Future()
            future.set_result(fn(batch))
            return future

    pool._executor = Recording()  # type: ignore[assignment]
    assert pool.send_guided(record, jobs, weights).result() == [x * 2 for x in jobs]
    assert [x for chunk in chunks for x in chunk] == jobs
    sizes = [sum(weights[x] for x in chunk) for chunk in chunks]
    # The first chunks take a quarter, then a share of what is left each; the last are the smallest.
    assert sizes[0] >= sum(weights) // 4
    assert sizes[0] > sizes[1] > sizes[2]
    assert max(sizes[-3:]) < sizes[0] // 8
    assert len(chunks) < 60
    pool._executor = None


def test_survey_reports_an_unreadable_file_as_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from v4agent.pack.select.analyze import ReadFailure
    from v4agent.pack.work import survey as survey_module

    if not FilePool().parallel:
        pytest.skip("the survey runs on workers: needs two cores and fork")
    root = make_git_repo(tmp_path / "repo", _sources(40))
    monkeypatch.setattr(pool_module, "_MIN_PARALLEL", 1)
    read = survey_module.read_bytes

    def flaky(path: str, max_bytes: int) -> bytes:  # inherited by the workers, forked after this
        if path.endswith("mod07.py"):
            raise ReadFailure("unreadable: Input/output error")
        return read(path, max_bytes)

    monkeypatch.setattr(survey_module, "read_bytes", flaky)
    surveyed: list[int] = []
    guided = FilePool.send_guided

    def spy(self: FilePool, fn: Callable[[Sequence[tuple[str, bool]]], list[T]],
            jobs: Sequence[tuple[str, bool]], weights: Sequence[int]) -> Pending[T]:
        surveyed.append(len(jobs))
        return guided(self, fn, jobs, weights)

    monkeypatch.setattr(FilePool, "send_guided", spy)
    snap = Snapshot.build(root, PackOptions(budget=1500))
    assert surveyed == [42]
    assert ("pkg/mod07.py", "unreadable: Input/output error") in [(s.path, s.reason) for s in snap.skipped]
    assert "pkg/mod07.py" not in {f.path for f in snap.files}
    assert snap.token_count == get_tokenizer().count(snap.text) <= 1500


def _pids(jobs: Sequence[int]) -> list[int]:
    import os

    return [os.getpid() for _ in jobs]


def test_a_small_batch_runs_inline_until_the_workers_run() -> None:
    import os

    pool = FilePool(workers=2, min_parallel=16)
    if not pool.parallel:
        pytest.skip("needs two cores and fork")
    try:
        assert pool.send(_pids, [1, 2, 3]).result() == [os.getpid()] * 3  # a fork would cost more than it saves
        pool.start()
        # Running already: no fork to pay, and the workers' memos of counted pieces are the warm ones.
        assert os.getpid() not in pool.send(_pids, [1, 2, 3]).result()
        assert pool.send(_pids, []).result() == []
    finally:
        pool.close()


def test_a_surveyed_build_leaves_a_warm_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The survey caches each file's analysis and symbols: the next build parses nothing and starts no worker."""
    if not FilePool().parallel:
        pytest.skip("the survey runs on workers: needs two cores and fork")
    root = make_git_repo(tmp_path / "repo", _sources(40))
    monkeypatch.setattr(pool_module, "_MIN_PARALLEL", 1)
    cold = Snapshot.build(root, PackOptions(budget=1500), track_changes=False)
    called: list[str] = []
    monkeypatch.setattr(pool_module, "ranking_facts", lambda *a: called.append("parse"))
    monkeypatch.setattr(FilePool, "_start", lambda self: called.append("fork"))
    warm = Snapshot.build(root, PackOptions(budget=1500), track_changes=False)
    assert called == []
    assert warm.text == cold.text


def test_far_over_the_budget_the_tree_is_counted_while_the_workers_start(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Ranked here, the header and file tree are counted after the fit's likely work went to the workers (guessed
    from their size until then), not on the path between the ranking and the fit (ranked on a worker, they are
    counted meanwhile: test_rank_on_worker)."""
    from v4agent.pack.work.ranking import Ranking

    monkeypatch.setattr(Ranking, "start", lambda self, items, idle: None)
    root = make_git_repo(tmp_path / "repo", _sources(40))
    events: list[str] = []
    count_texts, start_scans = packrun_module.PackRun.count_texts, packrun_module.PackRun.start_scans

    def counting(self: packrun_module.PackRun, texts: list[str]) -> list[int]:
        events.append("count tree")
        return count_texts(self, texts)

    def scanning(self: packrun_module.PackRun, items: Sequence[Item]) -> None:
        events.append("start scans")
        start_scans(self, items)

    monkeypatch.setattr(packrun_module.PackRun, "count_texts", counting)
    monkeypatch.setattr(packrun_module.PackRun, "start_scans", scanning)
    snap = Snapshot.build(root, PackOptions(budget=1500), track_changes=False)
    assert events == ["start scans", "count tree"]
    assert snap.token_count == get_tokenizer().count(snap.text) <= 1500


def test_the_survey_moves_the_progress_bar_as_chunks_come_back(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import contextlib
    from collections.abc import Iterator

    from v4agent.pack import builder as builder_module

    if not FilePool().parallel:
        pytest.skip("the survey runs on workers: needs two cores and fork")
    root = make_git_repo(tmp_path / "repo", _sources(60))
    monkeypatch.setattr(pool_module, "_MIN_PARALLEL", 1)
    steps: list[int] = []
    totals: list[int] = []

    @contextlib.contextmanager
    def recording(enabled: bool, total: int) -> Iterator[Callable[[int], None]]:
        totals.append(total)
        yield steps.append

    monkeypatch.setattr(builder_module, "progress_bar", recording)
    Snapshot.build(root, PackOptions(budget=1500), progress=True, track_changes=False)
    assert totals == [sum(steps)] == [62]
    assert len([n for n in steps if n]) >= 3  # chunk by chunk, not all at the end


@pytest.mark.parametrize("secrets", ["redact", "skip"])
def test_a_surveyed_pack_honours_include_and_the_secret_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               secrets: str) -> None:
    """A minified file named by --include is packed (and parsed for the ranking) and --secrets skip drops the
    files with secrets, the same with the survey on workers as inline."""
    files = _sources(40)
    files["web/lib.js"] = "function used(a){return a+1}" + ";var x=1" * 400 + "\n"  # one long line: minified
    root = make_git_repo(tmp_path / "one", files)
    copy = tmp_path / "two"
    shutil.copytree(root, copy)
    options = PackOptions(budget=3000, include=("web/lib.js",), secrets=secrets)
    monkeypatch.setattr(pool_module, "_MIN_PARALLEL", 1)
    surveyed: list[int] = []
    guided = FilePool.send_guided

    def spy(self: FilePool, fn: Callable[[Sequence[tuple[str, bool]]], list[T]],
            jobs: Sequence[tuple[str, bool]], weights: Sequence[int]) -> Pending[T]:
        surveyed.append(len(jobs))
        assert ("web/lib.js", True) in jobs
        assert ("web/app.js", False) in jobs
        return guided(self, fn, jobs, weights)

    monkeypatch.setattr(FilePool, "send_guided", spy)
    parallel = Snapshot.build(root, options, track_changes=False)
    assert surveyed == ([43] if FilePool().parallel else [])
    monkeypatch.setattr(pool_module, "_workers", lambda: 1)
    inline = Snapshot.build(copy, options, track_changes=False)
    assert parallel.text == inline.text
    assert parallel.files == inline.files
    assert parallel.skipped == inline.skipped
    assert "web/lib.js" in {f.path for f in parallel.files}
    assert ("pkg/mod03.py" in {s.path for s in parallel.skipped}) == (secrets == "skip")
    assert SECRET not in parallel.text


def _slow_lengths(jobs: Sequence[str]) -> list[int]:
    import time

    time.sleep(0.02)
    return [len(job) for job in jobs]


def test_submit_waits_while_the_workers_hold_enough_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tasks whose texts' size is given are bounded by bytes, not by count: many small ones may be in flight
    (the main process reads on ahead), never more than the bound's worth of text."""
    pool = FilePool(workers=2)
    if not pool.parallel:
        pytest.skip("needs fork and two workers")
    monkeypatch.setattr(pool_module, "_IN_FLIGHT_BYTES", 1000)
    try:
        sent, most = [], 0
        for i in range(40):
            sent.append(pool.submit(_slow_lengths, ["x" * 48, str(i)], size=50))
            held = sum(n for _, n in pool._in_flight)
            assert held <= 1000
            most = max(most, len(pool._in_flight))
        assert most > pool_module._IN_FLIGHT * pool.workers  # more tasks than the count bound allows
        assert [p.result() for p in sent] == [[48, len(str(i))] for i in range(40)]
    finally:
        pool.close()


def test_submit_waits_while_the_workers_hold_enough_work() -> None:
    """A producer faster than the workers (a whole-tree pack's reads) waits: the executor never holds more than a
    few tasks, each with its texts, per worker."""
    pool = FilePool(workers=2)
    if not pool.parallel:
        pytest.skip("needs fork and two workers")
    try:
        sent = []
        for i in range(40):
            sent.append(pool.submit(_slow_lengths, ["x" * i, "y"]))
            assert len(pool._in_flight) <= pool_module._IN_FLIGHT * pool.workers
        assert [p.result() for p in sent] == [[i, 1] for i in range(40)]
    finally:
        pool.close()


def _die_in_a_worker(jobs: Sequence[object], **_: object) -> list[object]:
    """A worker killed mid-task (as the system's out-of-memory killer does)."""
    import multiprocessing
    import os
    import signal

    if multiprocessing.parent_process() is not None:
        os.kill(os.getpid(), signal.SIGKILL)
    return [None for _ in jobs]


def test_a_worker_killed_mid_task_is_a_clear_error() -> None:
    pool = FilePool(workers=2)
    if not pool.parallel:
        pytest.skip("needs fork and two workers")
    try:
        with pytest.raises(WorkerLost, match="ended while it worked") as lost:
            pool.send(_die_in_a_worker, list(range(40))).result()
        assert "--exclude" in lost.value.hint
        with pytest.raises(WorkerLost):  # the pool is broken: the next task says so too
            pool.submit(_slow_lengths, ["x"]).result()
    finally:
        pool.close()
    pool.start()  # a new pool starts after close
    try:
        assert pool.send(_slow_lengths, ["ab"] * 20).result() == [2] * 20
    finally:
        pool.close()


def test_a_pack_whose_worker_is_killed_stops_with_a_clear_error(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    if not FilePool().parallel:
        pytest.skip("needs fork and two workers")
    root = make_git_repo(tmp_path / "one", _sources(40))
    monkeypatch.setattr(schedule_module, "COUNT_AHEAD_BYTES", 1)
    monkeypatch.setattr(pool_module, "counted_pieces", _die_in_a_worker)
    with pytest.raises(WorkerLost, match="worker process of the pack ended"):
        Snapshot.build(root, PackOptions(tokenizer="o200k", budget=None), track_changes=False)
    monkeypatch.undo()
    assert Snapshot.build(root, PackOptions(tokenizer="o200k", budget=None), track_changes=False).files
