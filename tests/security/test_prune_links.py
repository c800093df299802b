"""`sessions prune` never deletes through a link: a repository that ships ``.v4agent/attempts`` (or one run's
directory) as a symbolic link to elsewhere, with an old attempt session naming that run, loses nothing outside.

The real CLI; the attempt session files are written as the attempts code writes them (``undo: "attempt"``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.conftest import make_git_repo, run_cli
from v4agent.agent.sessions.records import StartRecord
from v4agent.agent.sessions.store import SessionWriter

DAY = 86_400.0
RUN = "20260101-000000-abcdef"


def _session(root: Path, sid: str, age_days: float, undo: str | None = None) -> Path:
    writer = SessionWriter.create(root, StartRecord(task="t", undo=undo), sid)
    stamp = time.time() - age_days * DAY
    os.utime(writer.path, (stamp, stamp))
    return writer.path


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    (victim / RUN / "1").mkdir(parents=True)
    (victim / RUN / "keep.txt").write_text("mine\n")
    (victim / RUN / "1" / ".git").write_text("gitdir: /nowhere\n")
    (victim / RUN / "1" / "work.py").write_text("precious = 1\n")
    return victim


def test_prune_never_follows_a_linked_attempts_directory(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    victim = _victim(tmp_path)
    old = _session(root, f"{RUN}-1", 60, undo="attempt")
    _session(root, "20261206-000000-ffffff", 0)
    (root / ".v4agent" / "attempts").symlink_to(victim, target_is_directory=True)
    done = run_cli("sessions", "prune", str(root), "--older-than", "30")
    assert done.returncode == 2  # the state directory refuses a link in it, before anything is deleted
    assert "is a symbolic link" in done.stderr
    assert "Traceback" not in done.stderr
    assert old.exists()
    assert (victim / RUN / "keep.txt").read_text() == "mine\n"
    assert (victim / RUN / "1" / "work.py").read_text() == "precious = 1\n"


def test_prune_removes_a_linked_run_directory_as_a_link(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    victim = _victim(tmp_path)
    _session(root, f"{RUN}-1", 60, undo="attempt")
    _session(root, "20261206-000000-ffffff", 0)
    attempts = root / ".v4agent" / "attempts"
    attempts.mkdir()
    (attempts / RUN).symlink_to(victim / RUN, target_is_directory=True)
    done = run_cli("sessions", "prune", str(root), "--older-than", "30")
    assert done.returncode == 0, done.stderr
    assert not (attempts / RUN).is_symlink()
    assert (victim / RUN / "keep.txt").read_text() == "mine\n"
    assert (victim / RUN / "1" / "work.py").read_text() == "precious = 1\n"
