"""The error root: every user-facing error has an exit status, and the entry point turns one into a message."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import v4agent
from tests.conftest import make_git_repo, run_cli
from v4agent.core.errors import ExitCode, Interrupted, UsageError, V4AgentError, describe

# Modules that run something when imported, or need what only a GPU machine has.
_SKIP = {"v4agent.__main__"}


def _all_error_classes() -> set[type[V4AgentError]]:
    for module in pkgutil.walk_packages(v4agent.__path__, "v4agent."):
        if module.name not in _SKIP:
            importlib.import_module(module.name)
    found: set[type[V4AgentError]] = set()
    todo: list[type[V4AgentError]] = [V4AgentError]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return found


def test_every_error_of_the_package_has_an_exit_code() -> None:
    classes = _all_error_classes()
    names = {cls.__name__ for cls in classes}
    assert {"ConfigError", "PackError", "SessionError", "EngineError", "EngineUnreachable", "BudgetExceeded",
            "PlanError", "ReviewError", "GitHubError", "ToolFailure"} <= names
    for cls in classes:
        assert isinstance(cls.exit_code, ExitCode), cls
        assert cls.exit_code != ExitCode.OK, cls


def test_exit_codes_match_the_readme_table() -> None:
    from v4agent.accounting.budget import BudgetExceeded
    from v4agent.accounting.prices import PriceTableError
    from v4agent.agent.sessions.store import SessionError
    from v4agent.core.config import ConfigError
    from v4agent.engine.local.planner import PlanError
    from v4agent.engine.types import EngineBudgetError, EngineError, EngineUnreachable
    from v4agent.pack.options import PackError
    from v4agent.review.github import GitHubError
    from v4agent.review.hunks import DiffError

    for cls in (ConfigError, PackError, SessionError, PriceTableError, PlanError, DiffError, UsageError):
        assert cls.exit_code == ExitCode.USAGE, cls
    for cls in (EngineError, EngineBudgetError, GitHubError):
        assert cls.exit_code == ExitCode.FAILED, cls
    assert EngineUnreachable.exit_code == ExitCode.ENGINE_UNREACHABLE
    assert BudgetExceeded.exit_code == ExitCode.LIMIT_REACHED
    assert not issubclass(BudgetExceeded, EngineError)
    assert Interrupted.exit_code == ExitCode.INTERRUPTED
    # code that catches these by their old bases still does
    assert issubclass(PlanError, ValueError)
    assert issubclass(DiffError, ValueError)


def test_describe_puts_the_hint_on_its_own_line() -> None:
    from v4agent.engine.types import EngineUnreachable

    assert describe(V4AgentError("plain")) == "plain"
    assert describe(UsageError("bad flag", hint="see --help")) == "bad flag\nhint: see --help"
    unreachable = EngineUnreachable("no API key", hint="export DEEPSEEK_API_KEY=<your key>")
    assert describe(unreachable) == "no API key\nhint: export DEEPSEEK_API_KEY=<your key>"
    assert unreachable.retryable is False
    assert unreachable.hint.startswith("export")


def _error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr
    return [line for line in stderr.splitlines() if line.strip()]


def test_a_config_error_under_a_command_is_one_line_and_exit_2(tmp_path: Path) -> None:
    project = tmp_path / "proj[bold]"  # the message quotes the path: printed as text, not as rich markup
    project.mkdir()
    (project / ".v4agent.toml").write_text("model = \n")
    done = run_cli("config", "show", str(project))
    assert done.returncode == ExitCode.USAGE
    lines = _error_lines(done.stderr)
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert f"{project / '.v4agent.toml'}: invalid TOML" in lines[0]


def test_a_pack_error_under_a_command_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("def main():\n    return 1\n")
    done = run_cli("pack", str(tmp_path), "--budget", "3")
    assert done.returncode == ExitCode.USAGE
    lines = [line for line in _error_lines(done.stderr) if line.startswith("error: ")]
    assert len(lines) == 1
    assert "budget" in lines[0]


def test_an_engine_error_prints_its_hint_and_exit_6(tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path / "repo", {"app.py": "x = 1\n"})
    done = run_cli("chat", str(repo), input_text="hello\n")
    assert done.returncode == ExitCode.ENGINE_UNREACHABLE
    lines = _error_lines(done.stderr)
    assert lines[-2].startswith("error: ")
    assert "no API key" in lines[-2]
    assert lines[-1].startswith("hint: ")
    assert "DEEPSEEK_API_KEY" in lines[-1]


def test_a_usage_error_names_the_flag_and_exit_2() -> None:
    done = run_cli("engine", "plan", "--kv-dtype", "fp4")
    assert done.returncode == ExitCode.USAGE
    lines = _error_lines(done.stderr)
    assert lines == ["error: --kv-dtype must be fp8 or bf16, got 'fp4'"]
