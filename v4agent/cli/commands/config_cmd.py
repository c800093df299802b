"""`v4agent config show`: the merged configuration and where each value came from."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from v4agent.core.config import Config, load_config
from v4agent.ui.console import stdout

config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)


def _ignored_note(config: Config, key: str) -> str | None:
    """Why the project file's value of ``key`` is not the one shown, or None when it was not ignored."""
    value = config.ignored(key)
    if value is None or config.untrusted is None:
        return None
    why = "changed since trusted" if config.untrusted.status == "changed" else "not trusted"
    return f"project value {value} ignored ({why}: `v4agent trust`)"


@config_app.command("show")
def show(
    path: Path = typer.Argument(Path("."), help="Project directory whose .v4agent.toml is merged."),
    fmt: str | None = typer.Option(None, "--format", help="text (default) or json."),
    as_json: bool = typer.Option(False, "--json", help="Short for --format json."),
) -> None:
    """Print every setting, its value (secrets masked) and where it came from."""
    from rich.markup import escape
    from rich.table import Table  # here: every command imports this module to register `config`

    from v4agent.core.errors import UsageError

    if not path.is_dir():
        raise UsageError(f"no such directory: {path}" if not path.exists() else f"not a directory: {path}",
                         hint="give the project directory whose .v4agent.toml to merge (default: .)")
    config = load_config(path.resolve())
    rows = config.rows()
    from v4agent.cli.options import output_format

    if output_format(fmt, as_json, ("text", "json"), "text") == "json":
        out = []
        for key, value, source in rows:
            row = {"key": key, "value": value, "source": source}
            if (note := _ignored_note(config, key)) is not None:
                row["ignored"] = note
            out.append(row)
        print(json.dumps(out, indent=2))
        return
    table = Table(title="v4agent configuration (defaults < user file < project file < env < flags)")
    table.add_column("key", style="cyan")
    table.add_column("value")
    table.add_column("source", style="dim")
    for key, value, source in rows:
        note = _ignored_note(config, key)
        table.add_row(escape(key), escape(value), escape(source if note is None else f"{source}; {note}"))
    stdout.print(table)
    if config.untrusted is not None:
        stdout.print(escape(config.untrusted.warning()), markup=True, highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``config`` group (``config show``) to ``app``."""
    app.add_typer(config_app, name="config")
