"""Nothing a person did is destroyed by `v4agent undo`: only what the session changed, and only if untouched since.

Each case was destructive before per-file checkpoints (undo restored the whole start tree): a file the user
created after the session was deleted, their uncommitted edit to a file the agent never touched was reverted,
and undoing an older session deleted a file committed after it.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.conftest import make_git_repo, run_cli
from v4agent.testing.standin import ScriptedReply, ScriptedToolCall, StandIn

SAMPLE = {
    "calc/__init__.py": "",
    "calc/core.py": "def add(a, b):\n    return a + b\n",
    "calc/api.py": "from calc.core import add\n\n\ndef total(values):\n    return sum(values)\n",
}
FAILED = 1


def call(name: str, **args: Any) -> ScriptedToolCall:
    """A scripted tool call with these arguments."""
    return ScriptedToolCall(name, json.dumps(args))


def _env() -> dict[str, str]:
    return {"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"}


def refactor(root: Path, *turns: list[ScriptedToolCall], task: str = "do it", extra: tuple[str, ...] = ()) -> str:
    """Run `v4agent refactor` with one scripted reply per turn, then finish; returns the session id."""
    replies = [ScriptedReply(tool_calls=calls) for calls in turns]
    replies.append(ScriptedReply(tool_calls=[call("finish", summary="done")]))
    with StandIn(replies=replies) as server:
        done = run_cli("refactor", str(root), task, "--base-url", server.base_url, "--yes", "--prime", "never",
                       "--test-cmd", "true", "--allow-dirty", *extra, env=_env())
    assert done.returncode == 0, done.stderr[-3000:]
    found = re.search(r"session (\d{8}-\d{6}-[0-9a-f]{6})[: ]", done.stderr)
    assert found, done.stderr
    time.sleep(1.05)  # session ids sort by the second they started: the next one is later
    return found.group(1)


def edit(path: str, old: str, new: str) -> ScriptedToolCall:
    """An edit_file call."""
    return call("edit_file", path=path, old_text=old, new_text=new)


def git(root: Path, *args: str) -> str:
    """Run git in ``root`` with an identity; its stdout."""
    return subprocess.run(["git", "-c", "user.name=U", "-c", "user.email=u@e", "-C", str(root), *args],
                          capture_output=True, text=True, check=True).stdout


def test_a_file_created_after_the_session_is_never_deleted(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    refactor(root, [edit("calc/core.py", "a + b", "b + a")])
    (root / "mynotes.py").write_text("my notes, never committed\n")

    done = run_cli("undo", str(root))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (root / "calc/core.py").read_text() == SAMPLE["calc/core.py"]
    assert (root / "mynotes.py").read_text() == "my notes, never committed\n"
    assert "restored 1 file(s)" in done.stdout
    assert "mynotes.py" not in done.stdout


def test_an_uncommitted_edit_to_a_file_the_agent_never_touched_stays(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    (root / "calc/api.py").write_text(SAMPLE["calc/api.py"] + "# before the session\n")
    refactor(root, [edit("calc/core.py", "a + b", "b + a")])
    (root / "calc/api.py").write_text(SAMPLE["calc/api.py"] + "# before the session\n# and after it\n")

    done = run_cli("undo", str(root))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (root / "calc/core.py").read_text() == SAMPLE["calc/core.py"]
    assert (root / "calc/api.py").read_text().endswith("# before the session\n# and after it\n")
    assert "calc/api.py" not in done.stdout


def test_undo_of_an_older_session_that_changed_nothing_keeps_a_file_committed_since(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    older = refactor(root, [call("read_file", path="calc/core.py")])
    (root / "later.py").write_text("committed after the session\n")
    git(root, "add", "later.py")
    git(root, "commit", "-qm", "later work")

    done = run_cli("undo", str(root), "--session", older)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (root / "later.py").read_text() == "committed after the session\n"
    assert git(root, "status", "--porcelain") == ""
    assert "no file changes recorded" in done.stdout


def test_a_file_changed_since_is_left_alone_and_force_saves_it_before_restoring(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    sid = refactor(root, [edit("calc/core.py", "a + b", "b + a"),
                          call("write_file", path="calc/new.py", content="made by the agent\n")])
    user_version = "def add(a, b):\n    return b + a  # the user's fix on top\n"
    (root / "calc/core.py").write_text(user_version)

    plain = run_cli("undo", str(root))
    assert plain.returncode == FAILED  # not everything undone: the rest is reported
    assert (root / "calc/core.py").read_text() == user_version
    assert not (root / "calc/new.py").exists()  # the safe part was done: created by the session, unchanged since
    assert "left alone: calc/core.py: changed since the session" in plain.stdout
    saved_new = re.search(r"under (\.v4agent/undo/[0-9-]+)/", plain.stdout)
    assert saved_new
    assert (root / saved_new.group(1) / "calc/new.py").read_text() == "made by the agent\n"

    forced = run_cli("undo", str(root), "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert (root / "calc/core.py").read_text() == SAMPLE["calc/core.py"]
    saved = re.search(r"under (\.v4agent/undo/[0-9-]+)/", forced.stdout)
    assert saved
    assert saved.group(1) != saved_new.group(1)
    assert (root / saved.group(1) / "calc/core.py").read_text() == user_version  # saved first
    assert f"cp -p {saved.group(1)}/PATH PATH" in forced.stdout
    assert "cp -p" in (root / saved.group(1) / "README.txt").read_text()
    assert git(root, "status", "--porcelain") == ""  # .v4agent/ is ignored
    again = run_cli("undo", str(root), "--session", sid)
    assert again.returncode == 2
    assert "already undone" in again.stderr


def test_a_file_the_session_created_and_the_user_then_changed_is_not_deleted(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    refactor(root, [call("write_file", path="notes.md", content="agent draft\n")])
    (root / "notes.md").write_text("agent draft\nplus the user's own lines\n")
    done = run_cli("undo", str(root))
    assert done.returncode == FAILED
    assert (root / "notes.md").read_text() == "agent draft\nplus the user's own lines\n"
    assert "left alone: notes.md" in done.stdout


def test_a_file_the_user_deleted_after_the_session_is_not_recreated_without_force(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    refactor(root, [edit("calc/core.py", "a + b", "b + a")])
    (root / "calc/core.py").unlink()
    done = run_cli("undo", str(root), "--dry-run")
    assert done.returncode == 0
    assert "left alone calc/core.py: changed since the session" in done.stdout
    assert not (root / "calc/core.py").exists()
