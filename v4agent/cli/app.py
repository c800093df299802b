"""The `v4agent` command line. Each command group lives in ``v4agent.cli.commands``."""

from __future__ import annotations

import typer
from rich.markup import escape

from v4agent import __version__
from v4agent.cli import quickexit
from v4agent.cli.commands import (
    chat_cmd,
    config_cmd,
    cost_cmd,
    engine_check_cmd,
    engine_cmd,
    engine_plan_cmd,
    init_cmd,
    mcp_cmd,
    pack_cmd,
    refactor_cmd,
    review_cmd,
    sandbox_cmd,
    sessions_cmd,
    trust_cmd,
    undo_cmd,
)
from v4agent.core.errors import ExitCode, V4AgentError, describe
from v4agent.ui.console import error

app = typer.Typer(
    name="v4agent",
    help="A coding agent built around DeepSeek V4's 1M-token context window.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"v4agent {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Pack a repository into one cache-friendly context and let DeepSeek V4 work on it."""


# Listed in `--help` in this order: the main jobs first. engine_plan_cmd adds to the group engine_cmd creates.
for _module in (refactor_cmd, chat_cmd, review_cmd, pack_cmd, cost_cmd, undo_cmd, sessions_cmd, engine_cmd,
                engine_plan_cmd, engine_check_cmd, config_cmd, trust_cmd, sandbox_cmd, init_cmd, mcp_cmd):
    _module.register(app)


def main() -> None:
    """The entry point: run the command; errors become one message (and a hint) on stderr and an exit status."""
    try:
        app()
    except SystemExit as exc:
        if quickexit.requested():
            quickexit.leave(exc.code)
        raise
    except V4AgentError as exc:
        error(escape(describe(exc)))  # messages quote paths and TOML keys: "[...]" is text, not rich markup
        if quickexit.requested():
            quickexit.leave(int(exc.exit_code))
        raise SystemExit(int(exc.exit_code)) from None
    except OSError as exc:  # a full disk or a vanished directory under a command: a message, not a traceback
        where = f": {exc.filename}" if exc.filename else ""
        error(f"{exc.strerror or exc}{where}")
        raise SystemExit(ExitCode.FAILED) from None
