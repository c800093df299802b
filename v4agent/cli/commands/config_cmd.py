"""`v4agent config show`: the merged configuration and where each value came from."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from v4agent.core.config import load_config
from v4agent.ui.console import stdout

config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)


@config_app.command("show")
def show(
    path: Path = typer.Argument(Path("."), help="Project directory whose .v4agent.toml is merged."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Print every setting, its value (secrets masked) and where it came from."""
    from rich.table import Table  # here: every command imports this module to register `config`

    config = load_config(path.resolve())
    rows = config.rows()
    if as_json:
        print(json.dumps([{"key": k, "value": v, "source": s} for k, v, s in rows], indent=2))
        return
    table = Table(title="v4agent configuration (defaults < user file < project file < env < flags)")
    table.add_column("key", style="cyan")
    table.add_column("value")
    table.add_column("source", style="dim")
    for key, value, source in rows:
        table.add_row(key, value, source)
    stdout.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``config`` group (``config show``) to ``app``."""
    app.add_typer(config_app, name="config")
