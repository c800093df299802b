"""core.git and core.gitstart against real repositories in tmp_path."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import make_git_repo
from v4agent.core.git import (
    EMPTY_TREE,
    GitError,
    file_at_commit,
    git_command,
    popen_git,
    repo_root,
    resolve_commit,
    run_git,
)
from v4agent.core.gitstart import (
    GitStart,
    capture_start,
    changed_since,
    diff_since,
    dirty_paths,
    leave_created_branch,
    worktree_tree,
)

_AUTHOR = ["-c", "user.email=t@example.com", "-c", "user.name=Test", "-c", "commit.gpgsign=false"]


def _commit(root: Path, message: str) -> None:
    subprocess.run(["git", *_AUTHOR, "-C", str(root), "commit", "-qam", message], check=True)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # tmp_path itself is never inside a repo
    return make_git_repo(tmp_path / "repo", {"a.txt": "one\n", "pkg/b.py": "x = 1\n"})


def test_a_failing_command_carries_git_stderr_and_the_arguments(repo: Path) -> None:
    with pytest.raises(GitError) as caught:
        run_git(repo, "rev-parse", "--verify", "no-such-branch")
    exc = caught.value
    assert str(exc).startswith("git rev-parse --verify failed: ")
    assert exc.stderr
    assert exc.stderr.strip() in str(exc)
    assert exc.command == ("rev-parse", "--verify", "no-such-branch")
    assert exc.reason == exc.stderr.strip().splitlines()[-1]


def test_outside_a_repository_the_error_has_a_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    with pytest.raises(GitError) as caught:
        run_git(tmp_path, "status")
    assert "not a git repository" in caught.value.stderr
    assert caught.value.hint
    assert "git init" in caught.value.hint


def test_without_git_on_path_the_error_says_so(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo / "no-bin"))
    with pytest.raises(GitError) as caught:
        run_git(repo, "status")
    assert caught.value.hint
    assert "PATH" in caught.value.hint
    assert repo_root(repo) is None  # "no git" reads as "not a repository" there


def test_text_bytes_allowed_exit_codes_and_env(repo: Path) -> None:
    assert run_git(repo, "cat-file", "-t", "HEAD") == b"commit\n"
    assert run_git(repo, "cat-file", "-t", "HEAD", text=True) == "commit\n"
    (repo / "new.txt").write_text("new\n")
    # `diff --no-index` exits 1 when the files differ: a difference, not a failure
    diff = run_git(repo, "diff", "--no-index", "--", "/dev/null", "new.txt", text=True, ok=(0, 1))
    assert "+new" in diff
    with pytest.raises(GitError):
        run_git(repo, "diff", "--no-index", "--", "/dev/null", "new.txt")
    assert run_git(repo, "rev-parse", "--verify", "nope", ok=None) == b""
    env = {"GIT_AUTHOR_NAME": "Someone Else", "GIT_AUTHOR_EMAIL": "s@e", "GIT_COMMITTER_NAME": "C",
           "GIT_COMMITTER_EMAIL": "c@e"}
    tree = run_git(repo, "write-tree", text=True).strip()
    commit = run_git(repo, "commit-tree", tree, "-m", "m", env=env, text=True).strip()
    assert run_git(repo, "log", "-1", "--format=%an", commit, text=True).strip() == "Someone Else"


def test_paths_are_not_quoted_and_diffs_keep_their_prefixes(repo: Path) -> None:
    run_git(repo, "config", "diff.noprefix", "true")
    (repo / "café.txt").write_text("x\n")
    assert "café.txt" in run_git(repo, "ls-files", "--others", text=True)
    (repo / "a.txt").write_text("two\n")
    assert "--- a/a.txt" in run_git(repo, "diff", text=True)
    assert git_command(repo, "status")[-2:] == [str(repo), "status"]


def test_repo_root_of_a_subdirectory_and_of_a_plain_directory(repo: Path, tmp_path: Path) -> None:
    assert repo_root(repo / "pkg") == repo.resolve()
    assert repo_root(repo) == repo.resolve()
    plain = tmp_path / "plain"
    plain.mkdir()
    assert repo_root(plain) is None
    assert repo_root(repo / ".git") is None  # inside .git there is no work tree


def test_resolve_commit(repo: Path, tmp_path: Path) -> None:
    head = resolve_commit(repo, "HEAD")
    assert head is not None
    assert len(head) == 40
    assert resolve_commit(repo, "main") == head
    assert resolve_commit(repo, "no-such-ref") is None
    assert resolve_commit(repo, EMPTY_TREE) is None  # a tree, not a commit
    empty = tmp_path / "empty"
    subprocess.run(["git", "init", "-q", str(empty)], check=True)
    assert resolve_commit(empty, "HEAD") is None


def test_file_at_commit(repo: Path) -> None:
    head = resolve_commit(repo, "HEAD")
    assert head is not None
    (repo / "a.txt").write_text("changed later\n")
    assert file_at_commit(repo, head, "a.txt") == b"one\n"
    assert file_at_commit(repo, head, "pkg/b.py", max_bytes=100) == b"x = 1\n"
    assert file_at_commit(repo, head, "pkg/b.py", max_bytes=3) is None
    assert file_at_commit(repo, head, "missing.txt") is None
    assert file_at_commit(repo, head, "missing.txt", max_bytes=100) is None


def test_popen_git_streams_stdout(repo: Path) -> None:
    with popen_git(repo, "ls-files", "-z") as proc:
        out, err = proc.communicate()
    assert proc.returncode == 0
    assert err == b""
    assert out.split(b"\0")[:2] == [b"a.txt", b"pkg/b.py"]


def test_capture_records_the_start_and_diffs_against_it(repo: Path) -> None:
    # Restoring the whole start tree (which reverted everyone's changes since) is gone: undo restores only the
    # files a session's checkpoints name (tests/core/test_checkpoints.py, tests/security/test_undo_*.py).
    os.chmod(repo / "pkg" / "b.py", 0o755)
    _commit(repo, "exec")
    (repo / "untracked.txt").write_text("before\n")
    start = capture_start(repo, "s1", new_branch="agent-work")
    assert GitStart.from_json(start.to_json()) == start
    assert start.head == resolve_commit(repo, "HEAD")
    assert start.branch == "main"
    assert run_git(repo, "rev-parse", start.ref, text=True).strip() == start.commit
    assert run_git(repo, "branch", "--show-current", text=True).strip() == "agent-work"
    assert dirty_paths(repo) == ["untracked.txt"]
    assert worktree_tree(repo) == start.tree

    (repo / "a.txt").write_text("changed\n")
    (repo / "pkg" / "b.py").unlink()
    (repo / "new").mkdir()
    (repo / "new" / "c.py").write_text("y = 2\n")
    diff = diff_since(repo, start.tree)
    assert "new/c.py" in diff
    assert "+changed" in diff
    assert "pkg/b.py" in diff
    assert sorted(changed_since(repo, start.tree)) == [("A", "new/c.py"), ("D", "pkg/b.py"), ("M", "a.txt")]

    assert leave_created_branch(repo, start)  # no commits on it: back to main, the branch deleted
    assert run_git(repo, "branch", "--show-current", text=True).strip() == "main"
    assert "agent-work" not in run_git(repo, "branch", text=True)
    assert (repo / "a.txt").read_text() == "changed\n"  # the switch carries the working tree as it is


def test_a_created_branch_with_new_commits_is_left_with_a_warning(repo: Path) -> None:
    start = capture_start(repo, "s2", new_branch="agent-work")
    (repo / "a.txt").write_text("committed by the session\n")
    _commit(repo, "session work")
    warnings: list[str] = []
    assert not leave_created_branch(repo, start, warn=warnings.append)
    assert warnings == ["branch agent-work has new commits; left in place"]
    assert run_git(repo, "branch", "--show-current", text=True).strip() == "agent-work"
