"""core.checkpoints and core.gitcommits against real repositories: file states, checkpoint refs, commits, reverts."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import make_git_repo
from v4agent.core.checkpoints import (
    ABSENT,
    UNKNOWN,
    FileChange,
    FileState,
    UnsafePath,
    checkpoint_ref,
    current_states,
    restore_state,
    safe_parent,
    tree_states,
    unsafe_reason,
    write_checkpoint,
)
from v4agent.core.gitcommits import commit_changes, is_ancestor, revert_commit
from v4agent.core.gitstart import worktree_tree


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    return make_git_repo(tmp_path / "repo", {"a.txt": "one\n", "pkg/b.py": "x = 1\n"})


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout


def test_states_of_files_links_and_absence_match_what_git_add_stores(repo: Path) -> None:
    os.chmod(repo / "pkg" / "b.py", 0o755)
    (repo / "link").symlink_to("a.txt")
    (repo / "dir").mkdir()
    states = current_states(repo, ["a.txt", "pkg/b.py", "link", "missing.txt", "dir"], write=True)
    tree = worktree_tree(repo)
    assert tree_states(repo, tree, ["a.txt", "pkg/b.py", "link", "missing.txt"]) == {
        p: states[p] for p in ("a.txt", "pkg/b.py", "link", "missing.txt")}
    assert states["pkg/b.py"].mode == "100755"
    assert states["link"].mode == "120000"
    assert states["missing.txt"] == ABSENT
    assert states["dir"] == FileState("", "other")
    assert not states["dir"].restorable
    for state in states.values():
        assert FileState.from_json(state.to_json()) == state
    assert FileState.from_json("100644 nothex") == UNKNOWN


def test_restore_puts_back_content_mode_links_and_absence(repo: Path) -> None:
    found = current_states(repo, ["a.txt", "pkg/b.py"], write=True)
    (repo / "a.txt").unlink()
    (repo / "a.txt").symlink_to("/etc/passwd")  # a link where the file was is replaced, never written through
    (repo / "pkg" / "b.py").write_text("changed\n")
    restore_state(repo, "a.txt", found["a.txt"])
    restore_state(repo, "pkg/b.py", found["pkg/b.py"])
    assert not (repo / "a.txt").is_symlink()
    assert (repo / "a.txt").read_text() == "one\n"
    assert (repo / "pkg" / "b.py").read_text() == "x = 1\n"
    (repo / "link").symlink_to("pkg/b.py")
    link = current_states(repo, ["link"], write=True)["link"]
    (repo / "link").unlink()
    (repo / "link").write_text("a file now\n")
    restore_state(repo, "link", link)
    assert os.readlink(repo / "link") == "pkg/b.py"
    (repo / "new.txt").write_text("made\n")
    restore_state(repo, "new.txt", ABSENT)
    assert not (repo / "new.txt").exists()
    with pytest.raises(UnsafePath):
        restore_state(repo, "x.txt", UNKNOWN)


@pytest.mark.parametrize("rel", ["../outside", "/etc/passwd", ".git/config", "a/.GIT/hooks/x", "a//b", "./a",
                                 ".v4agent/ledger.jsonl", "", "a\\b"])
def test_paths_outside_or_inside_git_are_refused(rel: str) -> None:
    assert unsafe_reason(rel)


def test_a_path_through_a_linked_directory_is_refused(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / "sub").symlink_to(outside)
    with pytest.raises(UnsafePath, match="link"):
        safe_parent(repo, "sub/evil.txt")
    with pytest.raises(UnsafePath):
        restore_state(repo, "sub/evil.txt", ABSENT)
    assert unsafe_reason("sub/evil.txt") == ""  # the path itself is fine: the link is what refuses it


def test_a_checkpoint_ref_names_a_tree_gc_keeps_and_git_log_all_does_not_show(repo: Path) -> None:
    found = current_states(repo, ["a.txt"], write=True)["a.txt"]
    (repo / "a.txt").write_text("two\n")
    (repo / "c.txt").write_text("new\n")
    left = current_states(repo, ["a.txt", "c.txt"], write=True)
    ref = checkpoint_ref("s1", 3)
    assert ref == "refs/v4agent/checkpoints/s1/turn-3"
    tree = write_checkpoint(repo, ref, [FileChange("a.txt", found, left["a.txt"]),
                                        FileChange("c.txt", ABSENT, left["c.txt"])])
    assert _git(repo, "cat-file", "-t", ref).strip() == "tree"
    assert _git(repo, "rev-parse", ref).strip() == tree
    assert sorted(_git(repo, "ls-tree", "-r", "--name-only", ref).split()) == ["found/a.txt", "left/a.txt",
                                                                               "left/c.txt"]
    assert _git(repo, "log", "--all", "--format=%s").split("\n")[0] == "initial"
    assert len(_git(repo, "rev-list", "--all").split()) == 1
    subprocess.run(["git", "-C", str(repo), "gc", "-q", "--prune=now"], check=True)
    for state in (found, left["a.txt"], left["c.txt"]):
        assert _git(repo, "cat-file", "-t", state.sha).strip() == "blob"


def test_commit_changes_commits_only_those_files_and_revert_undoes_it(repo: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")  # no identity configured: v4agent's own is used
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(name, raising=False)
    head = _git(repo, "rev-parse", "HEAD").strip()
    found = current_states(repo, ["a.txt", "pkg/b.py"], write=True)
    (repo / "a.txt").write_text("agent\n")
    (repo / "pkg" / "b.py").unlink()
    (repo / "mine.txt").write_text("the user's, never committed\n")
    left = current_states(repo, ["a.txt", "pkg/b.py"], write=True)
    commit = commit_changes(repo, [FileChange("a.txt", found["a.txt"], left["a.txt"]),
                                   FileChange("pkg/b.py", found["pkg/b.py"], ABSENT)], "v4agent turn 1: edit\n")
    assert _git(repo, "rev-parse", "HEAD").strip() == commit
    assert _git(repo, "show", "--name-status", "--format=%an %s", commit).split() == [
        "v4agent", "v4agent", "turn", "1:", "edit", "M", "a.txt", "D", "pkg/b.py"]
    assert _git(repo, "status", "--porcelain") == "?? mine.txt\n"
    assert is_ancestor(repo, head)
    assert is_ancestor(repo, commit)
    assert not is_ancestor(repo, "0" * 40)
    assert commit_changes(repo, [FileChange("a.txt", found["a.txt"], left["a.txt"])], "again") == ""
    (repo / "later.txt").write_text("someone's later commit\n")
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=U", "-c", "user.email=u@e", "add", "later.txt"],
                   check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=U", "-c", "user.email=u@e", "commit", "-qm", "later"],
                   check=True)
    revert_commit(repo, commit)
    assert (repo / "a.txt").read_text() == "one\n"
    assert (repo / "pkg" / "b.py").read_text() == "x = 1\n"
    assert (repo / "later.txt").exists()  # a revert, not a reset: the commit on top stays
    assert _git(repo, "log", "--format=%s").split("\n")[:3] == ['Revert "v4agent turn 1: edit"', "later",
                                                                  "v4agent turn 1: edit"]
