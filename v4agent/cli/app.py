"""The `v4agent` command line. Each command group lives in ``v4agent.cli.commands``."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from v4agent import __version__
from v4agent.cli import examples, quickexit, shorthand, stdio
from v4agent.cli.commands import (
    attempts_cmd,
    chat_cmd,
    config_cmd,
    cost_cmd,
    demo_cmd,
    engine_check_cmd,
    engine_cmd,
    engine_plan_cmd,
    init_cmd,
    mcp_cmd,
    pack_cmd,
    queue_cmd,
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
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"v4agent {__version__}")
        raise typer.Exit()


@app.callback(epilog=examples.epilog(""))
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Pack a repository into one cache-friendly context and let DeepSeek V4 work on it.

    Run bare `v4agent` inside a repository to chat about it; `v4agent "TASK"` is `v4agent refactor . "TASK"`.
    """


# Listed in `--help` in this order: the main jobs first. engine_plan_cmd adds to the group engine_cmd creates.
for _module in (refactor_cmd, chat_cmd, review_cmd, pack_cmd, demo_cmd, cost_cmd, undo_cmd, sessions_cmd,
                engine_cmd, engine_plan_cmd, engine_check_cmd, config_cmd, trust_cmd, sandbox_cmd, init_cmd, mcp_cmd,
                queue_cmd):
    _module.register(app)
attempts_cmd.register(app)  # best-of-N runs of `refactor --attempts N`
examples.attach(app)


def command_names() -> list[str]:
    """The top-level command and group names."""
    names = [c.name or "" for c in app.registered_commands] + [g.name or "" for g in app.registered_groups]
    return [n for n in names if n]


def _base(name: str) -> type[Exception]:
    """click's exception class ``name``, from wherever this typer takes click (0.28 vendors its own copy)."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == name)


_CLICK_ERROR = _base("ClickException")
_USAGE_ERROR = _base("UsageError")
_NO_ARGS: type[Exception] | None = getattr(sys.modules[_USAGE_ERROR.__module__], "NoArgsIsHelpError", None)


def _click_error(exc: Exception) -> int:
    """A parse error in the one error format: `error: ...` and a `hint:` naming the help to read."""
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "v4agent"
    if _NO_ARGS is not None and isinstance(exc, _NO_ARGS):  # a group given no command: typer printed its help
        return int(ExitCode.USAGE)
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    error(escape(f"{message}\nhint: `{where} --help` lists the arguments and options"))
    return int(ExitCode.USAGE) if isinstance(exc, _USAGE_ERROR) else int(ExitCode.FAILED)


def _run(args: list[str]) -> int:
    try:
        status = app(args=args, prog_name="v4agent", standalone_mode=False)
    except V4AgentError as exc:
        error(escape(describe(exc)))  # messages quote paths and TOML keys: "[...]" is text, not rich markup
        return int(exc.exit_code)
    except _CLICK_ERROR as exc:
        return _click_error(exc)
    except typer.Abort:  # EOF at a prompt
        error("aborted")
        return int(ExitCode.FAILED)
    except OSError as exc:  # a full disk or a vanished directory under a command: a message, not a traceback
        where = f": {exc.filename}" if exc.filename else ""
        error(escape(f"{exc.strerror or exc}{where}"))
        return int(ExitCode.FAILED)
    return status if isinstance(status, int) else 0


def main() -> None:
    """The entry point: run the command; errors become one message (and a hint) on stderr and an exit status."""
    stdio.guard()
    try:
        args = shorthand.expand(sys.argv[1:], command_names())
    except V4AgentError as exc:
        error(escape(describe(exc)))
        raise SystemExit(int(exc.exit_code)) from None
    try:
        status = _run(args)
    except SystemExit as exc:
        if quickexit.requested():
            quickexit.leave(exc.code)
        raise
    if quickexit.requested():
        quickexit.leave(status)
    raise SystemExit(status)
