"""The shared option parsers and the shorthand expansion, as pure functions."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from v4agent.cli.options import LATEST, output_format, parse_budget, parse_max_cost, resume_id
from v4agent.cli.shorthand import expand
from v4agent.core.errors import UsageError

COMMANDS = ["refactor", "chat", "pack", "sessions", "review"]


def test_budget_spellings() -> None:
    assert parse_budget(None).given is False
    assert parse_budget("none").unlimited
    assert parse_budget("600k").tokens == 600_000
    assert parse_budget("1m").tokens == 1_000_000
    assert parse_budget("600_000").tokens == 600_000
    for bad in ("lots", "-5", "1.5m", ""):
        with pytest.raises(UsageError, match="--budget"):
            parse_budget(bad)


def test_max_cost_spellings() -> None:
    assert parse_max_cost(None) is None
    assert parse_max_cost("none") == math.inf
    assert parse_max_cost("$2") == 2.0
    assert parse_max_cost("0.5") == 0.5
    for bad in ("cheap", "-1", "nan"):
        with pytest.raises(UsageError, match="--max-cost"):
            parse_max_cost(bad)


def test_one_output_switch_with_json_as_its_alias() -> None:
    assert output_format(None, False, ("text", "json"), "text") == "text"
    assert output_format(None, True, ("text", "json"), "text") == "json"
    assert output_format("JSON", False, ("text", "json"), "text") == "json"
    with pytest.raises(UsageError, match="pick one"):
        output_format("text", True, ("text", "json"), "text")
    with pytest.raises(UsageError, match="--format must be text or json, not 'yaml'"):
        output_format("yaml", False, ("text", "json"), "text")


def test_resume_ids() -> None:
    assert resume_id(None) is None
    assert resume_id(LATEST) == ""
    assert resume_id(" 2026 ") == "2026"


def _dirs(*names: str):  # type: ignore[no-untyped-def]
    return lambda p: p in names


def test_expand(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    plain = tmp_path / "plain"
    plain.mkdir()
    assert expand([], COMMANDS, cwd=repo) == ["chat", "."]
    assert expand([], COMMANDS, cwd=plain) == ["--help"]
    assert expand(["fix the bug", "--yes"], COMMANDS, cwd=repo) == ["refactor", ".", "fix the bug", "--yes"]
    assert expand(["--version"], COMMANDS, cwd=repo) == ["--version"]
    no_dirs = _dirs()
    assert expand(["chat", "--resume"], COMMANDS, is_dir=no_dirs) == ["chat", f"--resume={LATEST}"]
    assert expand(["chat", "--resume", "--yes"], COMMANDS, is_dir=no_dirs) == ["chat", f"--resume={LATEST}", "--yes"]
    assert expand(["chat", "--resume", "."], COMMANDS, is_dir=_dirs(".")) == ["chat", f"--resume={LATEST}", "."]
    assert expand(["refactor", ".", "--resume", "abc"], COMMANDS, is_dir=_dirs(".")) == [
        "refactor", ".", "--resume", "abc"]
    assert expand(["pack", "--resume"], COMMANDS, is_dir=no_dirs) == ["pack", "--resume"]  # not its option
    assert expand(["sessions", "repo", "show", "x"], COMMANDS, is_dir=no_dirs) == [
        "sessions", "--path", "repo", "show", "x"]
    assert expand(["sessions", "show", "x"], COMMANDS, is_dir=no_dirs) == ["sessions", "show", "x"]
    with pytest.raises(UsageError, match="no command 'pakc'") as typo:
        expand(["pakc"], COMMANDS, is_dir=no_dirs)
    assert "did you mean `v4agent pack`" in typo.value.hint
    with pytest.raises(UsageError, match="is a directory") as directory:
        expand(["src"], COMMANDS, is_dir=_dirs("src"))
    assert "v4agent chat src" in directory.value.hint
