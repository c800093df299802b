"""Commands run under a policy: confined where bubblewrap works, and never left running after they end."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.conftest import make_git_repo
from tests.sandbox.helpers import needs_bwrap, processes_with
from v4agent.sandbox import make_policy
from v4agent.tools.proc import run_command
from v4agent.tools.registry import ToolContext, run_tool


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_git_repo(tmp_path / "repo", {"README.md": "hi\n"})


@needs_bwrap
def test_the_repository_and_tmpdir_are_writable_git_is_not(repo: Path, tmp_path: Path) -> None:
    (repo / ".v4agent").mkdir()
    script = ("echo made > made.txt && echo tmp > \"$TMPDIR/t\" && cat \"$TMPDIR/t\" && echo \"tmpdir=$TMPDIR\"; "
              "touch .git/planted-hook 2>&1; touch .v4agent/forged 2>&1; touch ../beside 2>&1; true")
    result = run_command(script, repo, timeout_s=30, sandbox=make_policy(repo))
    assert result.returncode == 0, result.output
    assert result.note == ""
    assert (repo / "made.txt").read_text() == "made\n"
    assert "tmpdir=/tmp" in result.output
    assert result.output.count("Read-only file system") == 2
    assert not (repo / ".git" / "planted-hook").exists()
    assert not (repo / ".v4agent" / "forged").exists()
    assert not (tmp_path / "beside").exists()  # beside the repository: in the command's own /tmp at most
    assert not list(Path(os.environ.get("TMPDIR", "/tmp")).glob("v4agent-cmd-*/t"))  # its TMPDIR is gone


@needs_bwrap
def test_a_timeout_kills_the_sandbox_and_every_process_in_it(repo: Path) -> None:
    marker = f"v4agent-test-timeout-{os.getpid()}"
    started = time.monotonic()
    result = run_command(f"setsid sh -c 'sleep 300; : {marker}' & sleep 300", repo, timeout_s=0.5,
                         sandbox=make_policy(repo))
    assert result.timed_out
    assert result.returncode == 124
    assert time.monotonic() - started < 10
    assert processes_with(marker) == []


@needs_bwrap
def test_a_daemon_does_not_outlive_its_command(repo: Path) -> None:
    marker = f"v4agent-test-daemon-{os.getpid()}"
    for _ in range(5):  # the sandbox's end is waited for, not raced
        result = run_command(f"setsid sh -c 'sleep 300; : {marker}' > /dev/null 2>&1 & echo left", repo,
                             timeout_s=30, sandbox=make_policy(repo))
        assert "left" in result.output
        assert processes_with(marker) == []


@needs_bwrap
def test_file_size_is_limited(repo: Path) -> None:
    policy = make_policy(repo)
    small = type(policy)(**{**policy.__dict__, "file_bytes": 64 * 1024})
    result = run_command("head -c 200000 /dev/zero > big.bin; echo status=$?", repo, timeout_s=30, sandbox=small)
    assert (repo / "big.bin").stat().st_size <= 64 * 1024
    assert "status=0" not in result.output


@needs_bwrap
def test_the_shell_tool_runs_in_the_sandbox_by_default(repo: Path, tmp_path: Path) -> None:
    ctx = ToolContext(repo, approve="yes")
    outside = tmp_path / "outside.txt"
    result = run_tool(ctx, "shell", json.dumps({"command": f"echo x > {outside}; echo $$"}))
    assert result.ok
    assert not outside.exists()
    assert "without a sandbox" not in result.content


def test_without_a_mechanism_the_output_says_so_and_env_is_still_filtered(repo: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_KEY", "canary-stripe")
    policy = make_policy(repo, bwrap=str(repo / "missing-bwrap"))
    result = run_command("env; echo tmp=$TMPDIR", repo, timeout_s=30, sandbox=policy)
    assert result.note.startswith("ran without a sandbox (bubblewrap is not installed")
    assert "canary-stripe" not in result.output
    assert "tmp=" in result.output
    ctx = ToolContext(repo, approve="yes", sandbox=policy)
    shown = run_tool(ctx, "shell", json.dumps({"command": "true"})).content
    assert "ran without a sandbox" in shown
