"""The mount plan: the policy's paths as they are on disk (existing, real, parents first)."""

from __future__ import annotations

from pathlib import Path

from v4agent.sandbox.mounts import resolve_mounts, under
from v4agent.sandbox.policy import SandboxPolicy, make_policy


def test_hidden_paths_split_into_directories_and_files_and_missing_ones_drop(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".netrc").write_text("machine x\n")
    (home / "dotfiles" / "aws").mkdir(parents=True)
    (home / ".aws").symlink_to(home / "dotfiles" / "aws")  # a symlinked store: its target is hidden
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    policy = make_policy(root, environ={"HOME": str(home), "PATH": ""}, hide=("~/never-made", "extra"))
    plan = resolve_mounts(policy)
    assert plan.root == root.resolve()
    assert (home / ".ssh").resolve() in plan.hidden_dirs
    assert (home / "dotfiles" / "aws").resolve() in plan.hidden_dirs
    assert plan.hidden_files == ((home / ".netrc").resolve(),)
    assert plan.read_only_in_root == ((root / ".git").resolve(),)  # .v4agent/ does not exist yet
    assert home / "extra" in policy.hide


def test_readable_paths_are_kept_only_under_scratch_and_not_nested(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    venv = scratch / "venv"
    (venv / "bin").mkdir(parents=True)
    elsewhere = tmp_path / "usr"
    elsewhere.mkdir()
    root = tmp_path / "repo"
    root.mkdir()
    policy = SandboxPolicy(root=root, home=tmp_path, readable=(venv, venv / "bin", elsewhere, scratch),
                           scratch=(scratch,))
    plan = resolve_mounts(policy)
    assert plan.scratch == (scratch,)
    assert plan.readable == (venv.resolve(),)  # bin/ is inside venv; the scratch root itself stays empty


def test_a_worktree_git_directory_is_readable(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    gitdir = scratch / "main" / ".git" / "worktrees" / "wt"
    gitdir.mkdir(parents=True)
    (gitdir / "commondir").write_text("../..\n")
    root = tmp_path / "repo"
    root.mkdir()
    (root / ".git").write_text(f"gitdir: {gitdir}\n")
    plan = resolve_mounts(SandboxPolicy(root=root, home=tmp_path, scratch=(scratch,)))
    assert plan.readable == ((scratch / "main" / ".git").resolve(),)


def test_under_is_strict() -> None:
    assert under(Path("/tmp/a"), (Path("/tmp"),))
    assert not under(Path("/tmp"), (Path("/tmp"),))
    assert not under(Path("/tmpx"), (Path("/tmp"),))
