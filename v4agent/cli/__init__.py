"""The `v4agent` command line: the typer app, one module per command group, and the exit path."""
