"""`v4agent refactor` records a checkpoint per turn; `undo` (with --to, --dry-run) and `--commit` work from them.

Every run is the real CLI against the loopback stand-in, on a real repository.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pexpect

from tests.conftest import make_git_repo, run_cli
from tests.security.test_undo_safety import SAMPLE, call, edit, git, refactor
from v4agent.agent.sessions.store import find_session

CORE = SAMPLE["calc/core.py"]
API = SAMPLE["calc/api.py"]


def test_sessions_one_after_another_undo_to_the_earlier_ones_result(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    first = refactor(root, [edit("calc/core.py", "a + b", "b + a")], task="first")
    second = refactor(root, [edit("calc/core.py", "b + a", "a + b + 0")], task="second")

    later = run_cli("undo", str(root))  # the latest: the second session
    assert later.returncode == 0, later.stdout + later.stderr
    assert (root / "calc/core.py").read_text() == CORE.replace("a + b", "b + a")  # the first one's work stays
    assert find_session(root, second).undone
    assert not find_session(root, first).undone

    earlier = run_cli("undo", str(root), "--session", first)
    assert earlier.returncode == 0, earlier.stdout + earlier.stderr
    assert (root / "calc/core.py").read_text() == CORE
    assert git(root, "status", "--porcelain") == ""


def test_undo_of_the_later_session_keeps_the_earlier_sessions_work_done_after_it(tmp_path: Path) -> None:
    # The earlier session goes on (resumed) after the later one started: restoring the later one's start tree
    # used to throw that work away.
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    first = refactor(root, [edit("calc/core.py", "a + b", "b + a")], task="first")
    refactor(root, [edit("calc/api.py", "sum(values)", "sum(values, 0)")], task="second")
    assert refactor(root, [call("write_file", path="calc/more.py", content="MORE = 1\n")], task="go on",
                    extra=("--resume", first)) == first

    done = run_cli("undo", str(root))  # the latest session: the second
    assert done.returncode == 0, done.stdout + done.stderr
    assert (root / "calc/api.py").read_text() == API
    assert (root / "calc/core.py").read_text() == CORE.replace("a + b", "b + a")
    assert (root / "calc/more.py").read_text() == "MORE = 1\n"

    whole_first = run_cli("undo", str(root), "--session", first)
    assert whole_first.returncode == 0, whole_first.stdout + whole_first.stderr
    assert (root / "calc/core.py").read_text() == CORE
    assert not (root / "calc/more.py").exists()
    assert git(root, "status", "--porcelain") == ""


def test_dry_run_shows_exactly_what_would_happen_and_changes_nothing(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    sid = refactor(root, [edit("calc/core.py", "a + b", "b + a"),
                          call("write_file", path="calc/new.py", content="x = 1\n"),
                          call("delete_file", path="calc/api.py")])
    (root / "calc/core.py").write_text(CORE + "# the user's line\n")
    (root / "mine.txt").write_text("not the session's\n")
    before = {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".git" not in p.parts}

    dry = run_cli("undo", str(root), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        f"session {sid}: undo turn(s) 1 (the whole session):",
        "  delete     calc/new.py (created by the session, unchanged since)",
        "  recreate   calc/api.py (deleted by the session)",
        "  left alone calc/core.py: changed since the session; --force saves it first, then restores it",
        "dry run: nothing was changed",
    ]
    forced = run_cli("undo", str(root), "--dry-run", "--force")
    assert "  restore    calc/core.py (changed since the session: saved first, then restored)" in forced.stdout
    after = {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".git" not in p.parts}
    assert after == before
    assert not (root / ".v4agent" / "undo").exists()
    assert not find_session(root, sid).undos


def test_undo_to_a_turn_keeps_that_turns_work(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    refactor(root, [edit("calc/core.py", "a + b", "b + a")],
             [edit("calc/core.py", "b + a", "b + a + 0"), edit("calc/api.py", "sum(values)", "sum(values, 0)")],
             [call("shell", command="echo made > by_shell.txt")])
    assert (root / "by_shell.txt").read_text() == "made\n"

    back = run_cli("undo", str(root), "--to", "1")
    assert back.returncode == 0, back.stdout + back.stderr
    assert (root / "calc/core.py").read_text() == CORE.replace("a + b", "b + a")
    assert (root / "calc/api.py").read_text() == API
    assert not (root / "by_shell.txt").exists()  # a command's file, found by diffing the tree around it

    rest = run_cli("undo", str(root))
    assert rest.returncode == 0, rest.stdout + rest.stderr
    assert "restored 1 file(s):\n  calc/core.py\n" in rest.stdout
    assert (root / "calc/core.py").read_text() == CORE
    assert git(root, "status", "--porcelain") == ""


def test_commit_per_turn_then_undo_reverts_and_keeps_a_commit_made_on_top(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    (root / "scratch.txt").write_text("the user's, uncommitted\n")
    sid = refactor(root, [edit("calc/core.py", "a + b", "b + a")],
                   [call("read_file", path="calc/api.py")],
                   [edit("calc/api.py", "sum(values)", "sum(values, 0)"),
                    call("write_file", path="calc/extra.py", content="EXTRA = 1\n")],
                   task="reorder the sum\nsecond line of the task", extra=("--commit",))
    log = git(root, "log", "--format=%s", "-3").splitlines()
    assert log == ["v4agent turn 3: edit_file calc/api.py; write_file calc/extra.py",
                   "v4agent turn 1: edit_file calc/core.py", "initial"]
    body = git(root, "log", "-1", "--format=%B")
    assert "Task: reorder the sum\n" in body
    assert f"V4agent-Session: {sid}\nV4agent-Turn: 3" in body
    assert git(root, "status", "--porcelain") == "?? scratch.txt\n"  # only the turns' files were committed
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == ["calc/api.py", "calc/extra.py"]
    (root / "theirs.txt").write_text("a teammate's commit on top\n")
    git(root, "add", "theirs.txt")
    git(root, "commit", "-qm", "on top")

    done = run_cli("undo", str(root))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reverted 2 commit(s)" in done.stdout
    assert (root / "calc/core.py").read_text() == CORE
    assert (root / "calc/api.py").read_text() == API
    assert not (root / "calc/extra.py").exists()
    assert (root / "theirs.txt").exists()
    assert (root / "scratch.txt").read_text() == "the user's, uncommitted\n"
    assert git(root, "log", "--format=%s", "-3").splitlines() == [
        'Revert "v4agent turn 1: edit_file calc/core.py"',
        'Revert "v4agent turn 3: edit_file calc/api.py; write_file calc/extra.py"', "on top"]


def test_commit_at_the_end_makes_one_commit(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    refactor(root, [edit("calc/core.py", "a + b", "b + a")], [edit("calc/api.py", "sum(values)", "sum(values, 0)")],
             task="tidy", extra=("--commit-end",))
    assert git(root, "log", "--format=%s").splitlines() == ["v4agent: tidy", "initial"]
    body = git(root, "log", "-1", "--format=%B")
    assert "- turn 1: edit_file calc/core.py\n- turn 2: edit_file calc/api.py" in body
    assert "done" in body  # the model's closing summary
    assert git(root, "status", "--porcelain") == ""
    partial = run_cli("undo", str(root), "--to", "1")
    assert partial.returncode == 1
    assert "turns 1-2 were committed together" in partial.stdout
    assert run_cli("undo", str(root)).returncode == 0
    assert (root / "calc/api.py").read_text() == API
    both = subprocess.run(["git", "-C", str(root), "log", "--format=%s"], capture_output=True, text=True).stdout
    assert both.splitlines()[0] == 'Revert "v4agent: tidy"'
    assert json.loads(run_cli("sessions", "-C", str(root), "--json").stdout)[0]["undone"]


def test_on_a_terminal_undo_shows_the_plan_and_asks_first(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    refactor(root, [edit("calc/core.py", "a + b", "b + a")])
    env = {**os.environ, "COLUMNS": "160"}

    declined = pexpect.spawn(sys.executable, ["-m", "v4agent", "undo", str(root)], env=env, encoding="utf-8",
                             timeout=60, dimensions=(40, 160))
    declined.expect(r"restore    calc/core\.py")
    declined.expect(r"undo these\?")
    declined.sendline("n")
    declined.expect("nothing was changed")
    declined.expect(pexpect.EOF)
    declined.close()
    assert declined.exitstatus == 1
    assert (root / "calc/core.py").read_text() == CORE.replace("a + b", "b + a")

    accepted = pexpect.spawn(sys.executable, ["-m", "v4agent", "undo", str(root)], env=env, encoding="utf-8",
                             timeout=60, dimensions=(40, 160))
    accepted.expect(r"undo these\?")
    accepted.sendline("y")
    accepted.expect(r"restored 1 file\(s\)")
    accepted.expect(pexpect.EOF)
    accepted.close()
    assert accepted.exitstatus == 0
    assert (root / "calc/core.py").read_text() == CORE
