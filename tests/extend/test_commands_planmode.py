"""Custom command files (parsing, expansion, precedence) and the plan-mode gate (pure parts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_git_repo
from v4agent.core.errors import UsageError
from v4agent.extend.commands import expand, load_commands, parse_command_file
from v4agent.extend.planmode import PLAN_OFF_NOTE, PLAN_ON_NOTE, ModeGate, plan_mode_in
from v4agent.tools.tool import ToolResult


def test_front_matter_description_and_arguments() -> None:
    cmd = parse_command_file("fix", "user", "fix.md", "---\ndescription: 'Fix it'\nmodel: x\n---\nFix $ARGUMENTS.\n")
    assert cmd.description == "Fix it"
    assert cmd.prompt == "Fix $ARGUMENTS."
    assert expand(cmd, " the bug ") == "Fix the bug."
    plain = parse_command_file("rev", "user", "rev.md", "# Review\nLook for bugs.")
    assert plain.description == "Review"
    assert expand(plain, "") == "# Review\nLook for bugs."
    assert expand(plain, "in a.py") == "# Review\nLook for bugs.\n\nin a.py"


def test_project_commands_replace_user_commands_and_bad_names_are_skipped(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg"
    (cfg / "commands").mkdir(parents=True)
    (cfg / "commands" / "go.md").write_text("user go")
    (cfg / "commands" / "mine.md").write_text("user only")
    (cfg / "commands" / "9bad.md").write_text("x")
    (cfg / "commands" / "notes.txt").write_text("x")
    root = make_git_repo(tmp_path / "r", {".v4agent/commands/go.md": "project go"})
    loaded = load_commands(root, trusted=True, config_dir=cfg)
    assert [(c.name, c.source) for c in loaded.commands] == [("go", "project"), ("mine", "user")]
    assert loaded.require("/go").prompt == "project go"
    assert any("9bad.md" in n for n in loaded.notes)
    with pytest.raises(UsageError, match="no custom command 'nope'"):
        loaded.require("nope")


def test_the_gate_refuses_writes_and_commands_only_in_plan_mode() -> None:
    ran: list[str] = []

    def runner(name: str, arguments: str) -> ToolResult:
        ran.append(name)
        return ToolResult("ok", True)

    gate = ModeGate(runner, plan=True, also_read_only={"mcp__docs__search"})
    for name in ("read_file", "list_files", "grep", "git_diff", "finish", "mcp__docs__search"):
        assert gate(name, "{}").ok
    for name in ("write_file", "edit_file", "delete_file", "shell", "run_tests", "mcp__x__write"):
        result = gate(name, "{}")
        assert not result.ok
        assert "plan mode is on" in result.content
    assert gate.refused == 6
    gate.plan = False
    assert gate("shell", "{}").ok
    assert ran[-1] == "shell"


def test_a_resumed_conversation_knows_its_mode() -> None:
    assert not plan_mode_in([])
    on = [{"role": "user", "content": PLAN_ON_NOTE + "\n\nplan it"}]
    assert plan_mode_in(on)
    assert not plan_mode_in([*on, {"role": "assistant", "content": "x"}, {"role": "user", "content": PLAN_OFF_NOTE}])


def test_the_completer_offers_custom_commands_after_the_builtins() -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from v4agent.chat.completer import ChatCompleter

    completer = ChatCompleter(list, [("/explain", "Explain it"), ("/plan", "a custom one shadowed by the built-in")])
    found = [c.text for c in completer.get_completions(Document("/"), CompleteEvent())]
    assert "/explain" in found
    assert found.count("/plan") == 1
    assert [c.text for c in completer.get_completions(Document("/exp"), CompleteEvent())] == ["/explain"]
