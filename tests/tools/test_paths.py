"""Path guard: everything a tool touches resolves inside the repository."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import make_git_repo
from v4agent.tools.paths import PathRefused, resolve_repo_path
from v4agent.tools.registry import ToolContext, run_tool


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = make_git_repo(tmp_path / "repo", {"src/a.py": "x = 1\n", ".env": "KEY=1\n", "README.md": "hi\n"})
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside data\n")
    os.symlink(outside / "secret.txt", root / "link_file.txt")
    os.symlink(outside, root / "link_dir")
    os.symlink(root / "src" / "a.py", root / "inner_link.py")
    return root


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("../x", "outside"),
        ("a/../../x", "outside"),
        ("/etc/passwd", "absolute path outside"),
        ("link_file.txt", "symlink"),
        ("link_dir/secret.txt", "symlink"),
        ("link_dir", "symlink"),
        (".git/config", ".git"),
        ("src/../.git/HEAD", ".git"),
        (".env", "secret"),
        ("id_rsa", "secret"),
        ("", "empty"),
    ],
)
def test_refused(repo: Path, raw: str, why: str) -> None:
    with pytest.raises(PathRefused, match=why):
        resolve_repo_path(repo, raw)


def test_allowed_paths_resolve_inside(repo: Path) -> None:
    assert resolve_repo_path(repo, "src/a.py").rel == "src/a.py"
    assert resolve_repo_path(repo, "src/../README.md").rel == "README.md"
    assert resolve_repo_path(repo, str(repo / "src" / "a.py")).rel == "src/a.py"
    assert resolve_repo_path(repo, "src/new_file.py").rel == "src/new_file.py"
    assert resolve_repo_path(repo, ".", allow_root=True).rel == "."


def test_a_link_that_stays_inside_is_refused_with_its_target(repo: Path) -> None:
    # Links are never followed, even inside: one that stays inside can be swapped for one that leaves.
    with pytest.raises(PathRefused, match=r"symlink to 'src/a\.py' inside the repository"):
        resolve_repo_path(repo, "inner_link.py")
    result = run_tool(ToolContext(repo), "read_file", json.dumps({"path": "inner_link.py"}))
    assert not result.ok
    assert "use that path" in result.content


@pytest.mark.parametrize("tool", ["read_file", "edit_file", "write_file", "delete_file"])
@pytest.mark.parametrize("raw", ["../outside/secret.txt", "link_file.txt", "link_dir/secret.txt", ".git/config", ".env"])
def test_tools_refuse_escapes(repo: Path, tool: str, raw: str) -> None:
    args = {"path": raw}
    if tool == "edit_file":
        args |= {"old_text": "outside data", "new_text": "pwned"}
    if tool == "write_file":
        args |= {"content": "pwned"}
    result = run_tool(ToolContext(repo, approve="yes"), tool, json.dumps(args))
    assert not result.ok
    assert "refused" in result.content
    assert (repo.parent / "outside" / "secret.txt").read_text() == "outside data\n"
    assert (repo / ".env").read_text() == "KEY=1\n"


def test_grep_and_list_skip_secrets_and_escapes(repo: Path) -> None:
    ctx = ToolContext(repo)
    found = run_tool(ctx, "grep", json.dumps({"pattern": "KEY|outside data|x = 1"}))
    assert found.ok
    assert "src/a.py:1: x = 1" in found.content
    assert ".env" not in found.content
    assert "outside data" not in found.content
    assert not run_tool(ctx, "grep", json.dumps({"pattern": "x", "path": "../outside"})).ok
    listing = run_tool(ctx, "list_files", "{}").content
    assert "src/a.py" in listing
    assert ".env" not in listing
