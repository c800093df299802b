"""`v4agent sessions prune` removes what a session owns with it: its subagents' files, and for a best-of-N run
every attempt's session, the run's manifest and diffs and any worktree left; nothing of a kept session goes.

The sessions are made by the real CLI against the stand-in (real subagents, real attempts with
``--keep-worktrees``, real git worktrees), then aged, then pruned by the real CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from tests.agent.test_subagents import SAMPLE as SUB_SAMPLE
from tests.agent.test_subagents import Model as SubModel
from tests.conftest import make_git_repo, run_cli
from tests.refactor.test_attempts_cli import TEST_CMD
from tests.refactor.test_attempts_cli import Model as AttemptModel
from v4agent.testing.standin import StandIn

DAY = 86_400.0
ENV = {"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"}


def _age(paths: list[Path], days: float) -> None:
    stamp = time.time() - days * DAY
    for path in paths:
        os.utime(path, (stamp, stamp), follow_symlinks=False)


def _files(directory: Path) -> set[Path]:
    return {p for p in directory.rglob("*") if p.is_file()} if directory.is_dir() else set()


def _refactor(root: Path, url: str) -> str:
    done = run_cli("refactor", str(root), "explain totals", "--base-url", url, "--yes", "--json", "--prime", "always",
                   "--allow-dirty", env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return str(json.loads(done.stdout)["session_id"])


def test_prune_takes_subagents_and_attempts_with_their_parent_and_keeps_the_rest(tmp_path: Path) -> None:
    files = {**SUB_SAMPLE, "tests/test_calc.py": "from calc.core import add_numbers\n\n\ndef test_add():\n"
                                                 "    assert add_numbers(2, 3) == 5\n", "conftest.py": ""}
    root = make_git_repo(tmp_path / "repo", files)
    sessions = root / ".v4agent" / "sessions"
    with StandIn(handler=SubModel(delay=0.05)) as server:
        old = _refactor(root, server.base_url)
    subprocess.run(["git", "-C", str(root), "checkout", "--", "."], check=True)
    with StandIn(handler=AttemptModel(judge_pick=2)) as server:
        done = run_cli("refactor", str(root), "improve add_numbers", "--attempts", "2", "--strategies", "doc;types",
                       "--base-url", server.base_url, "--yes", "--json", "--test-cmd", TEST_CMD, "--prime", "always",
                       "--select", "tests", "--keep-worktrees", env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    run = json.loads(done.stdout)
    run_dir = root / ".v4agent" / "attempts" / run["group"]
    assert (run_dir / "1" / ".git").is_file()  # a worktree kept on disk and in git's list
    old_files = {sessions / f"{old}.jsonl", *sessions.glob(f"subagents/{old}.sub-*.jsonl"),
                 *(sessions / f"{a['session_id']}.jsonl" for a in run["attempts"]), *_files(run_dir),
                 *sessions.glob(f"{run['group']}-apply*.jsonl")}  # the chosen diff's apply, undoable until pruned
    assert len(list(sessions.glob(f"subagents/{old}.sub-*.jsonl"))) == 2
    assert len(list(sessions.glob(f"{run['group']}-apply*.jsonl"))) == 1
    _age(sorted(old_files), 60)
    subprocess.run(["git", "-C", str(root), "checkout", "--", "."], check=True)
    with StandIn(handler=SubModel(delay=0.05)) as server:
        kept = _refactor(root, server.base_url)
    kept_files = {sessions / f"{kept}.jsonl", *sessions.glob(f"subagents/{kept}.sub-*.jsonl")}
    assert len(kept_files) == 3
    ledger = (root / ".v4agent" / "ledger.jsonl").read_bytes() if (root / ".v4agent" / "ledger.jsonl").exists() \
        else None

    pruned = run_cli("sessions", "prune", str(root), "--older-than", "30", env=ENV)
    assert pruned.returncode == 0, pruned.stderr
    assert "deleted 4 session(s)" in pruned.stdout  # the old one, two attempts, the apply
    assert "with them 2 subagent file(s) and 1 attempts run(s)" in pruned.stdout

    # Nothing of the pruned ones is left: sessions, subagent files, the run's directory and git's worktrees.
    left = _files(root / ".v4agent")
    assert not (old_files & left)
    assert not run_dir.exists()
    listed = subprocess.run(["git", "-C", str(root), "worktree", "list", "--porcelain"], capture_output=True,
                            text=True, check=True).stdout
    assert listed.count("worktree ") == 1
    assert not any(old in p.name or run["group"] in p.name for p in left)
    # Nothing of the kept one is removed, and it still reads whole (its blobs kept).
    assert kept_files <= left
    shown = run_cli("sessions", "show", kept, "-C", str(root), env=ENV)
    assert shown.returncode == 0, shown.stderr
    if ledger is not None:
        assert (root / ".v4agent" / "ledger.jsonl").read_bytes() == ledger
