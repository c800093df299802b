"""An applied attempt's diff is a session change: `v4agent undo` takes it back under undo's own rules.

The real CLI, real worktrees, the sandboxed tests and the stand-in: a best-of-2 run applies attempt 1's diff;
a person's edit made after the apply is never reverted; once the file is again what the apply left, undo puts
the start state back. `attempts apply` of the other attempt is recorded and undoable the same way.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import make_git_repo, run_cli
from tests.refactor.test_attempts_cli import GOOD, OTHER, SAMPLE, TEST_CMD, Model
from v4agent.testing.standin import StandIn

ENV = {"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"}
CORE = "calc/core.py"


def _status(root: Path) -> str:
    return subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=all"],
                          capture_output=True, text=True, check=True).stdout


def test_an_applied_attempt_is_undone_and_a_persons_later_edit_is_never_reverted(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", SAMPLE)
    with StandIn(handler=Model(judge_pick=1)) as server:
        done = run_cli("refactor", str(root), "improve add_numbers", "--attempts", "2", "--strategies", "doc;types",
                       "--base-url", server.base_url, "--yes", "--json", "--test-cmd", TEST_CMD, "--prime", "always",
                       env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    group = report["group"]
    assert report["selection"]["chosen"] == 1
    assert f"v4agent undo --session {group}-apply" in report["selection"]["apply_note"]
    applied = SAMPLE[CORE].replace(*GOOD)
    assert (root / CORE).read_text() == applied

    # A person edits the applied file: undo leaves it alone.
    mine = applied + "# my own line\n"
    (root / CORE).write_text(mine)
    kept = run_cli("undo", str(root), "--yes", env=ENV)
    assert "Traceback" not in kept.stderr
    assert (root / CORE).read_text() == mine
    assert "changed since" in (kept.stdout + kept.stderr)

    # The person takes their line out again: the file is what the apply left, and undo restores the start.
    (root / CORE).write_text(applied)
    undone = run_cli("undo", str(root), "--yes", "--session", f"{group}-apply", env=ENV)
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert (root / CORE).read_text() == SAMPLE[CORE]
    assert _status(root) == ""

    # `attempts apply` of the other attempt: recorded as its own session, undone the same way.
    again = run_cli("attempts", "apply", group, "2", "--path", str(root), env=ENV)
    assert again.returncode == 0, again.stderr
    assert f"{group}-apply2" in again.stdout
    assert (root / CORE).read_text() == SAMPLE[CORE].replace(*OTHER)
    back = run_cli("undo", str(root), "--yes", env=ENV)  # the latest session: that apply
    assert back.returncode == 0, back.stdout + back.stderr
    assert (root / CORE).read_text() == SAMPLE[CORE]
    assert _status(root) == ""
