"""Instruction files: discovery, reading, framing by trust, byte-stable rendering (the pure parts and the reads)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_git_repo
from v4agent.extend.instructions import (
    InstructionFile,
    Instructions,
    find_instruction_paths,
    instruction_rows,
    load_instructions,
    recorded_instructions,
    render_block,
    with_instructions,
)


def test_agents_md_wins_per_directory_and_nested_files_carry_their_scope(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "r", {
        "CLAUDE.md": "c", "AGENTS.md": "a", "src/CLAUDE.md": "sc", "src/api/AGENTS.md": "sa",
        "docs/README.md": "x", ".v4agent/AGENTS.md": "state dir: never", "b/AGENTS.md.bak": "no",
    })
    assert find_instruction_paths(root) == ["AGENTS.md", "src/CLAUDE.md", "src/api/AGENTS.md"]
    loaded = load_instructions(root, trusted=True, config_dir=tmp_path / "cfg")
    assert [(f.path, f.scope) for f in loaded.files] == [("AGENTS.md", ""), ("src/CLAUDE.md", "src/"),
                                                         ("src/api/AGENTS.md", "src/api/")]
    assert "the files under src/api/" in loaded.block


def test_untracked_but_not_ignored_files_count_and_ignored_ones_do_not(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "r", {".gitignore": "build/\n", "x.py": ""})
    (root / "AGENTS.md").write_text("new, not committed yet")
    (root / "build").mkdir()
    (root / "build" / "AGENTS.md").write_text("generated")
    assert find_instruction_paths(root) == ["AGENTS.md"]


def test_the_user_file_comes_first_and_is_always_instructions(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "r", {"AGENTS.md": "REPO-RULE"})
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "AGENTS.md").write_text("MINE-RULE")
    loaded = load_instructions(root, trusted=False, config_dir=cfg)
    assert [f.source for f in loaded.files] == ["user", "project"]
    block = loaded.block
    assert block.index("MINE-RULE") < block.index("REPO-RULE")
    assert "the user's own instructions" in block
    assert "not trusted by the user" in block


def test_rendering_is_pure_and_byte_stable() -> None:
    files = (InstructionFile("AGENTS.md", "project", "", "text\n", 5),)
    once = render_block(files, trusted=True)
    assert once == render_block(files, trusted=True)
    assert render_block((), trusted=True) == ""
    assert with_instructions("prompt", Instructions()) == "prompt"  # no files: the system prompt unchanged
    assert with_instructions("prompt\n", Instructions(files, True)) == "prompt\n\n" + once


def test_recorded_instructions_are_read_back_from_the_system_message() -> None:
    files = (InstructionFile("AGENTS.md", "project", "", "one\ntwo", 7),
             InstructionFile("a/CLAUDE.md", "project", "a/", "three", 5))
    system = with_instructions("prompt", Instructions(files, False))
    assert recorded_instructions(system) == [("AGENTS.md", "one\ntwo"), ("a/CLAUDE.md", "three")]
    rows = instruction_rows(None, system, len)
    assert [(r["path"], r["tokens"]) for r in rows] == [("AGENTS.md", 7), ("a/CLAUDE.md", 5)]


def test_a_large_file_is_cut_with_a_note(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "r", {"AGENTS.md": "x" * 70_000})
    loaded = load_instructions(root, trusted=True, config_dir=tmp_path / "cfg")
    assert loaded.files[0].size == 70_000
    assert len(loaded.files[0].text) == 64 * 1024
    assert loaded.files[0].note == "cut at 64 KiB"


def test_the_files_together_stay_under_the_total_cap(tmp_path: Path) -> None:
    files = {f"d{i}/AGENTS.md": "y" * 60_000 for i in range(6)}
    root = make_git_repo(tmp_path / "r", files)
    loaded = load_instructions(root, trusted=True, config_dir=tmp_path / "cfg")
    assert len(loaded.files) == 4  # 4 x 60,000 bytes fit in 256 KiB; the fifth would not
    assert sum("passed 256 KiB" in line for line in loaded.skipped) == 2
