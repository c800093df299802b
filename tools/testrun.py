"""Detect and run the project's test command (pytest, a runtests.py, npm test, go test, cargo test, make test)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from v4agent.sandbox import SandboxPolicy
from v4agent.tools.proc import ProcResult, clip_output, run_command
from v4agent.tools.shell import shell_env

__all__ = ["TestRun", "detect_test_command", "format_test_run", "run_test_command"]

DEFAULT_TIMEOUT_S = 600.0
_NPM_PLACEHOLDER = "no test specified"


@dataclass(frozen=True)
class TestRun:
    """One run of the test command: exit status, pass or fail, and the clipped output."""

    __test__ = False  # not a pytest class

    command: str
    returncode: int
    passed: bool
    timed_out: bool
    duration_s: float
    output: str  # clipped: head, failure section, tail
    note: str = ""  # "ran without a sandbox (REASON)" when a policy had no mechanism to confine it


def _configures_pytest(root: Path) -> bool:
    if any((root / name).is_file() for name in ("pytest.ini", "conftest.py")):
        return True
    for name in ("pyproject.toml", "setup.cfg", "tox.ini"):  # tox.ini alone may drive any runner
        path = root / name
        if path.is_file() and re.search(r"pytest", path.read_text(encoding="utf-8", errors="replace")):
            return True
    return False


def _has_test_files(root: Path) -> bool:
    for folder in ("tests", "test"):
        if (root / folder).is_dir() and any((root / folder).rglob("test_*.py")):
            return True
    return any(root.glob("test_*.py"))


def _runtests_script(root: Path) -> str | None:
    """A project's own Python test runner (Django and projects like it: ``tests/runtests.py``)."""
    for rel in ("runtests.py", "tests/runtests.py"):
        if (root / rel).is_file():
            python = "python3" if shutil.which("python3") else "python"
            return f"{python} {rel}"
    return None


def _pytest_command() -> str:
    if shutil.which("pytest"):
        return "pytest -q"
    return f"{shlex.quote(sys.executable)} -m pytest -q"


def _npm_test(root: Path) -> bool:
    path = root / "package.json"
    if not path.is_file():
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return False
    script = data.get("scripts", {}).get("test") if isinstance(data, dict) else None
    return isinstance(script, str) and _NPM_PLACEHOLDER not in script


def _make_test(root: Path) -> bool:
    for name in ("Makefile", "makefile", "GNUmakefile"):
        path = root / name
        if path.is_file() and re.search(r"^test\s*:", path.read_text(encoding="utf-8", errors="replace"), re.M):
            return True
    return False


def detect_test_command(repo_root: Path) -> str | None:
    """The project's test command, or None when nothing recognizable is there."""
    root = Path(repo_root)
    if _configures_pytest(root):
        return _pytest_command()
    runner = _runtests_script(root)
    if runner is not None:
        return runner
    if _has_test_files(root):
        return _pytest_command()
    if _npm_test(root):
        return "npm test"
    if (root / "go.mod").is_file():
        return "go test ./..."
    if (root / "Cargo.toml").is_file():
        return "cargo test"
    if _make_test(root):
        return "make test"
    return None


def run_test_command(repo_root: Path, command: str, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                     sandbox: SandboxPolicy | None = None) -> TestRun:
    """Run the test command in the repository: under ``sandbox`` when given, else with the secrets taken out of
    its environment."""
    if sandbox is not None:
        result: ProcResult = run_command(command, Path(repo_root), timeout_s=timeout_s, sandbox=sandbox)
    else:
        result = run_command(command, Path(repo_root), timeout_s=timeout_s, env=shell_env())
    return TestRun(
        command=command, returncode=result.returncode, passed=result.returncode == 0 and not result.timed_out,
        timed_out=result.timed_out, duration_s=result.duration_s, output=clip_output(result.output), note=result.note,
    )


def format_test_run(run: TestRun, timeout_s: float) -> str:
    """The run as the model reads it: the command, PASSED, FAILED or TIMED OUT, then the output."""
    if run.timed_out:
        status = f"TIMED OUT after {timeout_s:g}s (the whole process group was killed)"
    elif run.passed:
        status = "PASSED (exit status 0)"
    else:
        status = f"FAILED (exit status {run.returncode})"
    note = f" ({run.note})" if run.note else ""
    return f"$ {run.command}\n{status} in {run.duration_s:.1f}s{note}\n{run.output}".rstrip()
