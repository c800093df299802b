"""A session file is data: a crafted or damaged one cannot make `v4agent undo` write outside the repository,
inside .git or .v4agent, or through a linked directory, whatever states it records."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import make_git_repo, run_cli
from v4agent.agent.sessions.records import CheckpointRecord, StartRecord
from v4agent.agent.sessions.store import SessionWriter
from v4agent.core.checkpoints import FileChange, FileState


def _blob(root: Path, text: str) -> FileState:
    sha = subprocess.run(["git", "-C", str(root), "hash-object", "-w", "--stdin"], input=text, text=True,
                         capture_output=True, check=True).stdout.strip()
    return FileState(sha, "100644")


def test_recorded_paths_outside_the_repository_or_in_git_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("precious\n")
    root = make_git_repo(tmp_path / "repo", {"a.txt": "one\n"})
    (root / "sub").symlink_to(outside)
    config = (root / ".git" / "config").read_text()
    evil = _blob(root, "written by an attacker\n")
    precious = _blob(root, "precious\n")  # "left" = what is there now, so only the path checks can refuse
    config_state = _blob(root, config)
    writer = SessionWriter.create(root, StartRecord(task="crafted", undo="checkpoints"), "20990101-000000-aaaaaa")
    writer.write(CheckpointRecord(1, (
        FileChange("../outside/victim.txt", evil, precious),
        FileChange("sub/victim.txt", evil, precious),
        FileChange(str(victim), evil, precious),
        FileChange(".git/config", evil, config_state),
        FileChange(".v4agent/sessions/x.jsonl", evil, precious),
    )))

    done = run_cli("undo", str(root), "--force")
    assert done.returncode == 1
    assert victim.read_text() == "precious\n"
    assert (root / ".git" / "config").read_text() == config
    assert not (root / ".v4agent" / "sessions" / "x.jsonl").exists()
    out = done.stdout
    assert out.count("refused") >= 4
    assert "sub/victim.txt: refused: a directory on its way is a link" in out
    assert "restored 0 file(s)" in out or "nothing restored" in out
    assert "Traceback" not in out + done.stderr


def test_a_recorded_state_that_is_not_a_blob_is_never_written(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.txt": "one\n"})
    current = _blob(root, "one\n")
    writer = SessionWriter.create(root, StartRecord(task="crafted", undo="checkpoints"), "20990101-000000-bbbbbb")
    writer.write(CheckpointRecord(1, (FileChange("a.txt", FileState("f" * 40, "100644"), current),)))
    done = run_cli("undo", str(root))
    assert done.returncode == 1  # the blob does not exist: nothing is removed before the content is in hand
    assert (root / "a.txt").read_text() == "one\n"
    assert "not undone: a.txt" in done.stdout
