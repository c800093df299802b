"""`v4agent sandbox check`: which mechanism confines commands here, and proof by probes that it does.

Exit status: 0 when every probe finds its property enforced; 9 (``NOT_ENFORCED``) when one does not, or
when no mechanism is available (then commands need approval, and --yes runs them unsandboxed).
"""

from __future__ import annotations

from pathlib import Path

import typer

from v4agent.core.errors import ExitCode

NOT_ENFORCED = ExitCode.SANDBOX_NOT_ENFORCED

sandbox_app = typer.Typer(help="The sandbox commands run in.", no_args_is_help=True)


@sandbox_app.command("check")
def check() -> None:
    """Print the mechanism and, by running escapes inside it, what it enforces (exit 9 when not enforced)."""
    from v4agent.agent.setup import sandbox_policy
    from v4agent.core.config import load_config
    from v4agent.sandbox import containment
    from v4agent.sandbox.probes import run_probes
    from v4agent.ui.console import stdout

    # The user's configuration only: a repository's own settings have no say over its sandbox.
    policy = sandbox_policy(Path.cwd(), load_config(None), warn_missing=False)
    found = containment(policy)
    stdout.print(f"mechanism: {found.describe() if found.available else 'none'}", markup=False, highlight=False)
    if not found.available:
        stdout.print(f"not enforced: {found.reason}", markup=False, highlight=False)
        stdout.print("every command, tests included, needs approval; --yes runs them unsandboxed", markup=False)
        raise typer.Exit(NOT_ENFORCED)
    probes = run_probes(policy)
    for probe in probes:
        mark = "ok  " if probe.enforced else "FAIL"
        stdout.print(f"  {mark} {probe.name}: {probe.detail}", markup=False, highlight=False, soft_wrap=True)
    if all(p.enforced for p in probes):
        stdout.print("sandbox enforced", markup=False)
        return
    stdout.print("sandbox NOT enforced", markup=False)
    raise typer.Exit(NOT_ENFORCED)


def register(app: typer.Typer) -> None:
    """Add the ``sandbox`` command group to ``app``."""
    app.add_typer(sandbox_app, name="sandbox")
