"""`v4agent undo` and `v4agent sessions` through the real CLI, on sessions recorded by the real loop."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.agent.test_session import FILES, _agent
from tests.conftest import make_git_repo, run_cli
from v4agent.agent.sessions.records import CheckpointRecord, EndRecord, StartRecord, ToolRecord
from v4agent.agent.sessions.store import SessionWriter
from v4agent.core.checkpoints import FileChange, current_states
from v4agent.core.gitstart import capture_start, diff_since, dirty_paths
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn


def test_undo_restores_files_created_changed_and_deleted_and_the_branch(tmp_path: Path) -> None:
    # This test used to change files by hand with no record of the session doing it, and expected undo to revert
    # them all, untracked.txt included: that whole-tree restore was the bug (it reverted edits that were not the
    # session's). Now the session's checkpoint says what it changed, and only that is put back.
    root = make_git_repo(tmp_path / "repo", {"a.txt": "one\n", "b.sh": "#!/bin/sh\necho b\n", "c.txt": "gone?\n"})
    os.chmod(root / "b.sh", 0o755)
    subprocess.run(["git", "-C", str(root), "-c", "user.email=t@e", "-c", "user.name=T", "commit", "-qam", "x"],
                   check=True)
    (root / "untracked.txt").write_text("was here before\n")  # a dirty start (as with --allow-dirty)
    start = capture_start(root, "s1", new_branch="agent-work")
    paths = ["a.txt", "b.sh", "c.txt", "new/file.py", "link"]
    found = current_states(root, paths, write=True)
    (root / "a.txt").write_text("changed\n")
    (root / "b.sh").write_text("#!/bin/sh\necho changed\n")
    (root / "c.txt").unlink()
    (root / "new" / "file.py").parent.mkdir()
    (root / "new" / "file.py").write_text("x = 1\n")
    (root / "link").symlink_to("a.txt")
    left = current_states(root, paths, write=True)
    writer = SessionWriter.create(root, StartRecord(task="t", git=start.to_json(), undo="checkpoints"), "s1")
    writer.write(CheckpointRecord(1, tuple(FileChange(p, found[p], left[p]) for p in paths)))
    writer.write(EndRecord("finished", summary=""))
    (root / "untracked.txt").write_text("edited by the user after the session\n")
    assert "new/file.py" in diff_since(root, start.tree)

    done = run_cli("undo", str(root))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (root / "a.txt").read_text() == "one\n"
    assert (root / "c.txt").read_text() == "gone?\n"
    assert (root / "b.sh").read_text() == "#!/bin/sh\necho b\n"
    assert os.stat(root / "b.sh").st_mode & 0o111
    assert not (root / "new" / "file.py").exists()
    assert not (root / "link").is_symlink()
    assert (root / "untracked.txt").read_text() == "edited by the user after the session\n"
    assert dirty_paths(root) == ["untracked.txt"]
    assert "restored 5 file(s)" in done.stdout
    branch = subprocess.run(["git", "-C", str(root), "branch", "--show-current"], capture_output=True, text=True)
    assert branch.stdout.strip() == "main"
    again = run_cli("undo", str(root))
    assert again.returncode == 2
    assert "already undone" in again.stderr


def test_undo_outside_git_and_without_sessions_is_a_usage_error(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert run_cli("undo", str(plain)).returncode == 2
    repo = make_git_repo(tmp_path / "repo", {"a": "b"})
    result = run_cli("undo", str(repo))
    assert result.returncode == 2
    assert "no sessions" in result.stderr
    assert "Traceback" not in result.stderr


def test_sessions_list_and_show_per_call_cache_table(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", FILES)
    replies = [ScriptedReply(content="ready"),
               ScriptedReply(tool_calls=[ScriptedToolCall("read_file", '{"path": "pkg/mod1.py"}')]),
               ScriptedReply(tool_calls=[ScriptedToolCall("finish", '{"summary": "all read"}')])]
    with StandIn(replies=replies) as server:
        agent, writer = _agent(root, server, task="read module one", session_id="20260101-000000-abc123")
        agent.prime()
        agent.run()
        billed = [c.cache_hit for c in server.calls]
    listed = run_cli("sessions", "-C", str(root), "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["id"] == "20260101-000000-abc123"
    assert row["task"] == "read module one"
    assert row["status"] == "finished"
    assert row["turns"] == 2
    assert row["cost_usd"] > 0
    assert row["hit_ratio"] > 0.5
    shown = run_cli("sessions", "show", "20260101", "-C", str(root), "--json")
    assert shown.returncode == 0, shown.stderr
    calls = json.loads(shown.stdout)["calls"]
    assert [c["kind"] for c in calls] == ["prime", "turn", "turn"]
    assert billed[1:] == [c["billed_hit"] for c in calls[1:]]
    # Expected (the client's mirror of the encoder and the unit rules) is the billed hit, to the token, for
    # every turn after the priming call (whose stream is cut, so nothing is billed to compare with).
    for call, hit in zip(calls[1:], billed[1:], strict=True):
        assert call["expected_hit"] == hit
    table = run_cli("sessions", "show", "20260101-000000-abc123", "-C", str(root))
    assert table.returncode == 0
    assert "expected hit" in table.stdout
    assert "read module one" in table.stdout
    text = run_cli("sessions", "-C", str(root))
    assert "read module one" in text.stdout
    assert "finished" in text.stdout
    missing = run_cli("sessions", "show", "nope", "-C", str(root))
    assert missing.returncode == 2
    assert "no session" in missing.stderr
    assert writer.path.exists()


def test_a_session_recorded_before_checkpoints_is_undone_only_with_force(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"a.txt": "one\n", "b.txt": "two\n"})
    start = capture_start(root, "20250101-000000-abcdef")
    writer = SessionWriter.create(root, StartRecord(task="old", git=start.to_json()), "20250101-000000-abcdef")
    writer.write(ToolRecord(1, "edit_file", "{}", True, ("a.txt",)))
    (root / "a.txt").write_text("edited by that session\n")
    (root / "b.txt").write_text("edited by the user, never by the session\n")

    plain = run_cli("undo", str(root))
    assert plain.returncode == 1
    assert "left alone: a.txt: recorded before per-file checkpoints" in plain.stdout
    assert (root / "a.txt").read_text() == "edited by that session\n"
    forced = run_cli("undo", str(root), "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert (root / "a.txt").read_text() == "one\n"
    assert (root / "b.txt").read_text() == "edited by the user, never by the session\n"
