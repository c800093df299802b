"""Applying an attempt's diff to the user's tree with real git: never over a person's change (undo's rule)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import make_git_repo
from v4agent.core.gitstart import worktree_tree
from v4agent.refactor.attempts.applydiff import apply_diff


def _diff(root: Path, tree: str, edit: dict[str, str | None]) -> str:
    """The diff ``edit`` makes from ``tree`` (taken in the tree, which is then put back)."""
    for rel, text in edit.items():
        if text is None:
            (root / rel).unlink()
        else:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
    out = subprocess.run(["git", "-C", str(root), "diff", "--binary", tree, worktree_tree(root)], check=True,
                         capture_output=True, text=True).stdout
    subprocess.run(["git", "-C", str(root), "checkout", "--", "."], check=True)
    subprocess.run(["git", "-C", str(root), "clean", "-fdq"], check=True)
    return out


def test_a_clean_tree_gets_exactly_the_diff(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "r", {"a.py": "a = 1\n", "b.py": "b = 1\n"})
    tree = worktree_tree(root)
    diff = tmp_path / "1.diff"
    diff.write_text(_diff(root, tree, {"a.py": "a = 2\n", "new/c.py": "c = 1\n", "b.py": None}))
    result = apply_diff(root, tree, diff)
    assert result.applied, result.note
    assert (root / "a.py").read_text() == "a = 2\n"
    assert (root / "new/c.py").read_text() == "c = 1\n"
    assert not (root / "b.py").exists()


def test_a_file_a_person_created_or_edited_meanwhile_is_left_alone(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "r", {"a.py": "a = 1\n", "b.py": "b = 1\n"})
    tree = worktree_tree(root)
    diff = tmp_path / "1.diff"
    diff.write_text(_diff(root, tree, {"a.py": "a = 2\n", "c.py": "c = 1\n"}))
    (root / "c.py").write_text("mine\n")  # a person made the same new file meanwhile
    result = apply_diff(root, tree, diff)
    assert not result.applied
    assert result.conflicts == ("c.py",)
    assert (root / "c.py").read_text() == "mine\n"
    assert (root / "a.py").read_text() == "a = 1\n"  # nothing half applied
    assert diff.is_file()
    assert str(diff) in result.note
    # An edit elsewhere in the tree does not block it.
    (root / "c.py").unlink()
    (root / "b.py").write_text("b = 'mine'\n")
    assert apply_diff(root, tree, diff).applied
    assert (root / "b.py").read_text() == "b = 'mine'\n"


def test_a_missing_or_empty_diff(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "r", {"a.py": "a = 1\n"})
    tree = worktree_tree(root)
    assert not apply_diff(root, tree, tmp_path / "gone.diff").applied
    empty = tmp_path / "e.diff"
    empty.write_text("")
    assert apply_diff(root, tree, empty).applied
