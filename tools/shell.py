"""shell(command, timeout_s?): a command in the repository, gated by the approval policy, run in the sandbox."""

from __future__ import annotations

import os
from pathlib import Path

from v4agent.sandbox import SandboxPolicy
from v4agent.tools.proc import ProcResult, clip_output, run_command

__all__ = ["format_shell", "run_shell", "shell_env"]

MAX_TIMEOUT_S = 3600.0
_SECRET_ENV = ("API_KEY", "TOKEN", "SECRET", "PASSWORD")


def shell_env() -> dict[str, str]:
    """The environment for model-run commands: without API keys and other secrets of the user's."""
    return {k: v for k, v in os.environ.items() if not any(s in k.upper() for s in _SECRET_ENV)}


def run_shell(repo_root: Path, command: str, timeout_s: float, sandbox: SandboxPolicy | None = None) -> ProcResult:
    """Run ``command`` in the repository: under ``sandbox`` when given, else with the secrets taken out of its
    environment."""
    if sandbox is not None:
        return run_command(command, Path(repo_root), timeout_s=timeout_s, sandbox=sandbox)
    return run_command(command, Path(repo_root), timeout_s=timeout_s, env=shell_env())


def format_shell(result: ProcResult, timeout_s: float) -> str:
    """The result as the model reads it: the command, its exit status and time, then its clipped output."""
    if result.timed_out:
        status = f"timed out after {timeout_s:g}s; the whole process group was killed"
    else:
        status = f"exit status {result.returncode}"
    if result.note:
        status += f"; {result.note}"
    body = clip_output(result.output).rstrip()
    return f"$ {result.command}\n[{status}, {result.duration_s:.1f}s]\n{body}".rstrip()
